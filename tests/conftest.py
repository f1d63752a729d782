from __future__ import annotations

import os
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
import respx
import sqlitetemplate
import tlscontext
from fakeissuer import GITHUB, GITLAB, Clock, FakeIssuer
from starlette.applications import Starlette
from testredis import REDIS_URL

from service.app import Overrides, create_app
from service.settings import Settings

DATA = Path(__file__).parent / "data"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def github() -> FakeIssuer:
    return FakeIssuer(GITHUB)


@pytest.fixture
def gitlab() -> FakeIssuer:
    return FakeIssuer(GITLAB)


@pytest.fixture
def issuers_mock(github: FakeIssuer, gitlab: FakeIssuer) -> Any:
    """Every outgoing request is mocked; one not routed here fails the test."""
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        github.mock(router)
        gitlab.mock(router)
        yield router


def pytest_sessionstart(session: pytest.Session) -> None:
    sqlitetemplate.build()
    tlscontext.share()


def pytest_unconfigure(config: pytest.Config) -> None:
    sqlitetemplate.remove()


def fresh_database_url() -> str:
    """A database of its own for one app: the trust source is the database by default."""
    return sqlitetemplate.fresh_url()


def settings(**changes: Any) -> Settings:
    # Rate limits off unless a test turns them on (tests/observability does): the load-shaped
    # tests mint many times from one address for one publisher.
    base = Settings(
        issuers_file=DATA / "issuers.toml",
        publishers_file=DATA / "publishers.toml",
        rate_limit_mint_ip=None,
        rate_limit_mint_publisher=None,
        database_url=changes.pop("database_url", None) or fresh_database_url(),
    )
    fields = {name: getattr(base, name) for name in base.__slots__}  # type: ignore[attr-defined]
    return Settings(**{**fields, **changes})


AppFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def make_client(clock: Clock) -> AppFactory:
    """Build an app, run its lifespan, and drive it in process."""

    @asynccontextmanager
    async def factory(
        redis: aioredis.Redis | None = None, **changes: Any
    ) -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(settings(**changes), Overrides(redis=redis, clock=clock))
        async with lifespan(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                yield client

    return factory


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    async with app.router.lifespan_context(app):
        yield


@pytest.fixture
async def redis() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(REDIS_URL)
    await client.ping()  # Redis runs on every machine and in CI: fail, never skip.
    # JWKS shared by an earlier run were signed by keys this process never made.
    async for key in client.scan_iter(match="mintgate:jwks:*"):
        await client.delete(key)
    # An earlier test's mint records, left when its database was down: not this test's.
    async for key in client.scan_iter(match="mintgate:mint-journal:*"):
        await client.delete(key)
    yield client
    await client.aclose()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        # schemathesis names each operation's test "name[METHOD /path]", but pytest 9.2
        # builds an item's id from its `originalname` and parameters, and schemathesis gives
        # it neither: every operation's test had the same id, and the test workers
        # (pytest-xdist), which schedule by id, ran only one of them.
        label = getattr(item, "operation_label", None)
        if label is not None and item._id.params is None:  # type: ignore[attr-defined]
            item._id = item._id.with_params(label)  # type: ignore[attr-defined]
    # A repeated id is a test that silently does not run under the workers.
    counted = Counter(item.nodeid for item in items)
    repeated = [nodeid for nodeid, count in counted.items() if count > 1]
    if repeated:
        raise pytest.UsageError(f"{len(repeated)} test id(s) collected twice: {repeated[:5]}")


_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # Under CI every test runs: Redis and PostgreSQL are there, so a skip hides a failure.
    if os.environ.get("CI") == "true" and _skipped:
        print(f"\nCI=true and {len(_skipped)} test(s) skipped: {_skipped[:5]}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
