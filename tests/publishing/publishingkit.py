"""Shared by the publishing tests: users in roles, publisher tables, an app over a store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aioredis
from accounts.accounts_helpers import ctx_for, new_user
from fakeissuer import Clock

from service.accounts.accounts import Accounts, Context
from service.accounts.projects import create_project
from service.app import Overrides, create_app
from service.issuers import Issuers
from service.settings import Settings
from service.store import SqlStore, UserRecord
from service.trust.tables import publisher_spec

DATA = Path(__file__).resolve().parent.parent / "data"
MINUTE = 60
# When `trust` writes its rows.
TRUSTED_AT = datetime(2027, 1, 15, tzinfo=UTC)

# The TOML-equivalent table, as an owner would send it through the API.
GITHUB_TABLE: dict[str, Any] = {
    "provider": "github",
    "repository": "octo-org/sampleproject",
    "repository_owner_id": "1234567",
    "workflow": "release.yml",
    "environment": "pypi",
}


def table(**changes: Any) -> dict[str, Any]:
    return {**GITHUB_TABLE, **changes}


async def owner_of(accounts: Accounts, project: str, name: str = "alice") -> UserRecord:
    """A user with fresh 2FA who created `project` (so owns it)."""
    user = await new_user(accounts, name, two_factor=True)
    created = await create_project(accounts.deps, ctx_for(user), project)
    assert not hasattr(created, "code"), created
    return user


async def add_role(store: SqlStore, project: str, user: UserRecord, role: str, now: Any) -> None:
    async with store.transaction() as tx:
        found = await tx.project_by_name(project)
        assert found is not None
        await tx.add_project_role(found.id, user.id, role, now)


def settings(**changes: Any) -> Settings:
    base = Settings(
        issuers_file=DATA / "issuers.toml",
        publishers_file=None,  # what the test writes to the store is all that is trusted
        rate_limit_mint_ip=None,
        rate_limit_mint_publisher=None,
    )
    fields = {name: getattr(base, name) for name in base.__slots__}  # type: ignore[attr-defined]
    return Settings(**{**fields, **changes})


@asynccontextmanager
async def app_over(
    store: SqlStore, clock: Clock, redis: aioredis.Redis | None = None, **changes: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """The real app reading publishers from `store` (either database); with `redis`, its
    replay claims and mint journal there."""
    app = create_app(settings(**changes), Overrides(store=store, clock=clock, redis=redis))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def trust(store: SqlStore, issuers: Issuers, project: str, **changes: Any) -> int:
    """A project trusting one publisher, written straight to the store."""
    _, spec = publisher_spec(table(**changes), issuers)
    async with store.transaction() as tx:
        found = await tx.project_by_name(project)
        if found is None:
            found = await tx.add_project(project, project, TRUSTED_AT)
        added = await tx.add_publisher(
            found.id, spec, source="api", created_by=None, now=TRUSTED_AT
        )
    return added.id


async def caught_up(client: httpx.AsyncClient) -> None:
    """Wait until the app's trust index reflects what was committed before this call.

    A change reaches the index through the database's change feed within a second
    (tests/publishing/test_trust_replicas.py holds that bound); a test that changes
    trust and mints at once waits for the poll instead of guessing a time.
    """
    app = client._transport.app  # type: ignore[attr-defined]
    await app.state.trust_index.caught_up()


async def mint(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/_/oidc/mint-token", json={"token": token})


def codes(response: httpx.Response) -> list[str]:
    return [e["code"] for e in response.json()["errors"]]


__all__ = ["Context", "ctx_for", "new_user"]
