"""PostgreSQL connections dropped, then PostgreSQL refusing connections, while requests keep coming.

The service reads its trusted publishers from the database (MINTGATE_TRUST_SOURCE=
database) and serves the account API from it, through MINTGATE_DATABASE_URL as in
production (a database of this test's own). Three kinds of request run side by
side: the exchange, `POST /api/v1/tokens` (a row and its audit event in one
transaction) and `POST /api/v1/login` (a session row and its audit event).

- Every connection is killed with `pg_terminate_backend` while the database stays
  up: requests sent afterwards do not notice (the pool tests a connection before
  handing it out), and the ones in flight at that moment end in 200/201 or a clean
  503, never a 500.
- The database then refuses connections and every existing one is killed: every
  request sent during the outage is a 503 `service-unavailable` in the API's error
  format with Retry-After, and no token is minted.
- Connections are allowed again: the service recovers by itself, without a
  restart, within a second, and every request sent after that succeeds.
- Nothing is half-written: each API token row has its `token:created` audit event
  and each session its `login:password-ok` event, every 201 has its row, and an
  exchange refused with 503 did not burn its OIDC token (it mints afterwards).

Connections killed while idle go unnoticed (the pool pings before it lends). A service
pointed at a closed port, or at a server that accepts and never answers, answers 503 on
the same routes, the latter within the connect timeout instead of asyncpg's 60 s.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from api.api_helpers import Api, User, api_settings, cheap_passwords
from fakeissuer import Clock
from pgkit import Postgres, postgres_database
from relkit import EcIssuer, jwks_server, write_config
from servers import free_port

from service.accounts.core import Context, Deps
from service.accounts.publisher_sync import sync_publishers
from service.app import Overrides, create_app
from service.issuers import load_issuers
from service.store import engine, open_store

pytestmark = pytest.mark.anyio

MINT = "/_/oidc/mint-token"
KINDS = ("mint", "token", "login")
WORKERS_PER_KIND = 2
WARM = 60  # answers before anything is cut: every one a success
AFTER_TERMINATE = 60
WHILE_DOWN = 10  # answers per kind to requests sent during the outage, all 503
AFTER_RETURN = 60
RECOVERY = 1.0  # seconds from connections allowed again to the first success of each kind
TIMEOUT = 0.5  # the connect timeout of the silent-server test
SUCCESS = {"mint": 200, "token": 201, "login": 200}


@dataclass(frozen=True, slots=True)
class Call:
    kind: str
    key: str  # the OIDC token's jti, the API token's name, or the login's number
    token: str  # the OIDC token sent (mint only)
    sent: float
    done: float
    status: int
    body: Any
    headers: httpx.Headers

    def ok(self) -> bool:
        return self.status == SUCCESS[self.kind]

    def code(self) -> str | None:
        errors = self.body.get("errors") if isinstance(self.body, dict) else None
        return errors[0]["code"] if errors else None


def summary(calls: list[Call]) -> dict[tuple[str, int, str | None], int]:
    counts: dict[tuple[str, int, str | None], int] = {}
    for call in calls:
        key = (call.kind, call.status, call.code())
        counts[key] = counts.get(key, 0) + 1
    return counts


class Load:
    """Workers of each kind sending one request after another until stopped; woken on answers."""

    def __init__(self, api: Api, issuer: EcIssuer, clock: Clock, owner: User) -> None:
        self.api = api
        self.issuer = issuer
        self.clock = clock
        self.owner = owner
        self.calls: list[Call] = []
        self.stopped = asyncio.Event()
        self._changed = asyncio.Condition()
        self._numbers = itertools.count()

    async def send(self, kind: str) -> Call:
        number = next(self._numbers)
        token, key = "", str(number)
        sent = time.monotonic()
        if kind == "mint":
            token, claims = self.issuer.token(self.clock.now)
            key = claims["jti"]
            response = await self.api.http.post(MINT, json={"token": token})
        elif kind == "token":
            key = f"rel-{number}"
            response = await self.api.http.post(
                "/api/v1/tokens", json={"name": key}, headers=self.owner.auth
            )
        else:
            response = await self.api.login("bob")
        return Call(
            kind, key, token, sent, time.monotonic(), response.status_code, response.json(),
            response.headers,
        )  # fmt: skip

    async def worker(self, kind: str) -> None:
        while not self.stopped.is_set():
            call = await self.send(kind)
            async with self._changed:
                self.calls.append(call)
                self._changed.notify_all()

    async def until(self, ready: Callable[[list[Call]], bool], what: str, within: float) -> float:
        try:
            async with asyncio.timeout(within), self._changed:
                await self._changed.wait_for(lambda: ready(self.calls))
        except TimeoutError:
            raise AssertionError(f"not {what} after {within:g}s: {summary(self.calls)}") from None
        return time.monotonic()

    def since(self, moment: float) -> list[Call]:
        return [c for c in self.calls if c.sent >= moment]


def each_kind(count: int, moment: float) -> Callable[[list[Call]], bool]:
    def ready(calls: list[Call]) -> bool:
        return all(sum(c.kind == k and c.sent >= moment for c in calls) >= count for k in KINDS)

    return ready


def assert_clean_503(call: Call) -> None:
    assert call.status == 503, (call.kind, call.status, call.body)
    assert call.code() == "service-unavailable", call.body
    assert isinstance(call.body.get("message"), str), call.body
    assert call.headers.get("retry-after"), call.headers
    assert "token" not in call.body, call.body
    assert "session_id" not in call.body, call.body


@asynccontextmanager
async def service(
    tmp_path: Path, database_url: str, clock: Clock, issuer: EcIssuer, jwks_url: str
) -> AsyncIterator[Api]:
    files = write_config(tmp_path, jwks_url)
    settings = api_settings(
        tmp_path,
        issuers_file=files["issuers_file"],
        publishers_file=files["publishers_file"],
        jwks_allow_loopback_http=True,
        database_url=database_url,
        trust_source="database",
    )
    # No store override: the app opens MINTGATE_DATABASE_URL itself, as in production.
    app = create_app(settings, Overrides(clock=clock, passwords=cheap_passwords()))
    async with app.router.lifespan_context(app), Api.over(app, clock) as api:
        yield api


async def seed_publishers(database: Postgres, tmp_path: Path, jwks_url: str) -> None:
    files = write_config(tmp_path, jwks_url)
    issuers = load_issuers(files["issuers_file"], audience="mintgate", leeway=30)
    store = await open_store(database.url)
    try:
        await sync_publishers(
            Deps(store=store), Context(actor="test"), issuers, files["publishers_file"]
        )
    finally:
        await store.close()


async def test_postgres_connections_dropped_mid_load(tmp_path: Path) -> None:
    clock = Clock()
    issuer = EcIssuer()
    async with postgres_database() as database:
        with jwks_server(issuer) as jwks:
            await seed_publishers(database, tmp_path, jwks.url)
            async with service(tmp_path, database.url, clock, issuer, jwks.url) as api:
                owner = await api.user("alice", two_factor=True)
                assert (await api.register("bob")).status_code == 201
                load = Load(api, issuer, clock, owner)
                async with asyncio.TaskGroup() as group:
                    for kind in KINDS:
                        for _ in range(WORKERS_PER_KIND):
                            group.create_task(load.worker(kind))
                    try:
                        moments = await drive(load, database)
                    finally:
                        load.stopped.set()
                check_answers(load, moments)
                await check_nothing_half_written(load, database, moments)
                # A 503 burned nothing: each refused OIDC token mints now, once.
                refused = [c for c in load.calls if c.kind == "mint" and not c.ok()]
                assert refused
                for call in refused:
                    retried = await api.http.post(MINT, json={"token": call.token})
                    assert retried.status_code == 200, retried.text


async def drive(load: Load, database: Postgres) -> dict[str, float]:
    await load.until(lambda c: len(c) >= WARM, "warm", within=60)
    assert all(c.ok() for c in load.calls), summary(load.calls)
    assert await database.backends() > 0
    terminating = time.monotonic()
    assert await database.terminate() > 0
    terminated = time.monotonic()
    await load.until(
        lambda c: sum(x.sent >= terminated for x in c) >= AFTER_TERMINATE, "after", within=60
    )

    refusing = time.monotonic()
    await database.refuse_connections()
    await database.terminate()
    down = time.monotonic()
    await load.until(each_kind(WHILE_DOWN, down), "answering during the outage", within=60)

    allowing = time.monotonic()
    await database.allow_connections()
    up = time.monotonic()

    def recovered(calls: list[Call]) -> bool:
        return all(any(c.kind == k and c.ok() and c.sent >= up for c in calls) for k in KINDS)

    await load.until(recovered, "recovered", within=10)
    await load.until(
        lambda c: sum(x.sent >= up for x in c) >= AFTER_RETURN, "after the return", within=60
    )
    return {
        "terminating": terminating,
        "terminated": terminated,
        "refusing": refusing,
        "down": down,
        "allowing": allowing,
        "up": up,
    }


def check_answers(load: Load, t: dict[str, float]) -> None:
    calls = load.calls
    for call in calls:
        if not call.ok():
            assert_clean_503(call)
    # The pool hands out only live connections: a kill while the database is up goes unseen.
    after_kill = [c for c in calls if t["terminated"] <= c.sent and c.done < t["refusing"]]
    assert len(after_kill) >= AFTER_TERMINATE - 6 * WORKERS_PER_KIND
    assert all(c.ok() for c in after_kill), summary(after_kill)
    during = [c for c in calls if t["down"] <= c.sent and c.done < t["allowing"]]
    assert {c.kind for c in during} == set(KINDS)
    assert not [c for c in during if c.ok()], summary(during)
    after = load.since(t["up"])
    assert all(c.ok() for c in after), summary(after)
    for kind in KINDS:
        first = min(c.done for c in after if c.kind == kind)
        assert first - t["up"] < RECOVERY, f"{kind}: first success {first - t['up']:.3f}s late"


async def check_nothing_half_written(load: Load, database: Postgres, t: dict[str, float]) -> None:
    created = {c.key for c in load.calls if c.kind == "token" and c.ok()}
    rows = set(map(str, await database.rows("SELECT name FROM api_tokens")))
    audited = await database.rows(
        "SELECT details->>'name' FROM audit_events WHERE event = 'token:created'"
    )
    assert rows == set(map(str, audited)), "an API token row without its audit event, or back"
    assert created <= rows, f"answered 201 but not stored: {sorted(created - rows)[:3]}"
    # A connection cut between COMMIT and its reply leaves a row whose request saw a 503:
    # only requests in flight at a cut can be such.
    in_flight = [
        c
        for c in load.calls
        if c.kind == "token" and not c.ok() and c.sent < t["down"] and c.done >= t["terminating"]
    ]
    assert len(rows - created) <= len(in_flight), sorted(rows - created)
    sessions = await database.rows("SELECT count(*) FROM sessions")
    logins = await database.rows(
        "SELECT count(*) FROM audit_events WHERE event = 'login:password-ok'"
    )
    assert sessions == logins, "a session without its audit event, or back"


async def test_idle_connections_killed_go_unnoticed(tmp_path: Path) -> None:
    """A failover or an idle timeout kills pooled connections while nothing runs: the next
    request of each kind gets a live connection, not a 503."""
    clock = Clock()
    issuer = EcIssuer()
    async with postgres_database() as database:
        with jwks_server(issuer) as jwks:
            await seed_publishers(database, tmp_path, jwks.url)
            async with service(tmp_path, database.url, clock, issuer, jwks.url) as api:
                owner = await api.user("alice", two_factor=True)
                assert (await api.register("bob")).status_code == 201
                load = Load(api, issuer, clock, owner)
                # Several connections in the pool, all idle afterwards.
                await asyncio.gather(*(load.send(kind) for kind in KINDS * 3))
                assert await database.terminate() > 0
                calls = [await load.send(kind) for kind in KINDS * 2]
                assert all(c.ok() for c in calls), summary(calls)


async def test_postgres_unreachable_answers_503(tmp_path: Path) -> None:
    clock = Clock()
    issuer = EcIssuer()
    closed = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/test"
    with jwks_server(issuer) as jwks:
        async with service(tmp_path, closed, clock, issuer, jwks.url) as api:
            owner = User("alice", "a-session-id-no-database-can-confirm")
            load = Load(api, issuer, clock, owner)
            for kind in KINDS:
                call = await load.send(kind)
                assert_clean_503(call)
            register = await api.register("carol")
            assert register.status_code == 503, register.text
            # The exchange needs no database when publishers come from TOML.
            assert (await api.http.get("/healthz")).status_code == 200


@contextmanager
def silent_server() -> Iterator[int]:
    """A loopback port that accepts connections and never says a word (a hung primary)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


async def test_postgres_that_never_answers_gives_503_within_the_connect_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Production waits engine.CONNECT_TIMEOUT (5 s); a shorter one keeps the test short.
    monkeypatch.setattr(engine, "CONNECT_TIMEOUT", TIMEOUT)
    clock = Clock()
    issuer = EcIssuer()
    with jwks_server(issuer) as jwks, silent_server() as port:
        silent = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/test"
        async with service(tmp_path, silent, clock, issuer, jwks.url) as api:
            load = Load(api, issuer, clock, User("alice", "no-database-can-confirm-this"))
            for kind in KINDS:
                call = await load.send(kind)
                assert_clean_503(call)
                # Without the bound, asyncpg's own 60 s: the request would hang that long.
                assert call.done - call.sent < TIMEOUT + 2, f"{kind}: {call.done - call.sent}s"
