from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from api_helpers import Api, ApiFactory, app_for
from fakeissuer import Clock
from store.store_fixtures import database, pg_store, postgres, store

from service.store import SqlStore

__all__ = ["database", "pg_store", "postgres", "store"]


@pytest.fixture
def make_api(store: SqlStore, clock: Clock, tmp_path: Path) -> ApiFactory:
    """An app over the test's store (SQLite or PostgreSQL) with its lifespan running."""

    @asynccontextmanager
    async def factory(**changes: Any) -> AsyncIterator[Api]:
        app = app_for(store, clock, tmp_path, **changes)
        async with app.router.lifespan_context(app), Api.over(app, clock) as api:
            yield api

    return factory


@pytest.fixture
async def api(make_api: ApiFactory) -> AsyncIterator[Api]:
    async with make_api() as opened:
        yield opened
