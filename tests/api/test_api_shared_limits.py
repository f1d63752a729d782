"""Login and second-factor budgets are shared by replicas through Redis when configured."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from api_helpers import Api, api_settings, cheap_passwords, codes
from fakeissuer import Clock

from service.app import Overrides, create_app
from service.ratelimit import Rate
from service.store import SqlStore

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def _replica(
    store: SqlStore, clock: Clock, tmp_path: Path, redis: aioredis.Redis, *, shared: bool
) -> AsyncIterator[Api]:
    settings = api_settings(
        tmp_path, rate_limit_login_account=Rate(3, 60), rate_limit_shared=shared
    )
    app = create_app(
        settings, Overrides(clock=clock, store=store, passwords=cheap_passwords(), redis=redis)
    )
    async with app.router.lifespan_context(app), Api.over(app, clock) as api:
        yield api


@pytest.mark.parametrize("shared", [True, False], ids=["shared", "per-replica"])
async def test_password_guesses_count_across_replicas_only_when_shared(
    store: SqlStore, clock: Clock, tmp_path: Path, redis: aioredis.Redis, shared: bool
) -> None:
    name = f"u{uuid.uuid4().hex[:12]}"  # fresh Redis keys whatever ran before
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(_replica(store, clock, tmp_path, redis, shared=shared))
        b = await stack.enter_async_context(_replica(store, clock, tmp_path, redis, shared=shared))
        assert (await a.register(name)).status_code == 201
        for replica in (a, b, a):
            assert (await replica.login(name, "guess guess guess")).status_code == 401
        fourth = await b.login(name)
        if shared:
            assert (fourth.status_code, codes(fourth)) == (429, ["rate-limited"])
            assert 1 <= int(fourth.headers["Retry-After"]) <= 60
        else:  # b counted only its own single guess
            assert fourth.status_code == 200, fourth.text
