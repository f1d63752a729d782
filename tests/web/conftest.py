from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from api.api_helpers import app_for
from fakeissuer import Clock
from store.store_fixtures import migrated_database
from web_helpers import Page, PageFactory

from service.store import SqlStore


@pytest.fixture
async def store(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[SqlStore]:
    # SQLite only: the pages add no query of their own; the account calls they make
    # run on PostgreSQL in tests/api and tests/accounts.
    async with migrated_database("sqlite", tmp_path, request.config) as database:
        opened = await database.migrated_store()
        yield opened
        await opened.close()


@pytest.fixture
def make_page(store: SqlStore, clock: Clock, tmp_path: Path) -> PageFactory:
    @asynccontextmanager
    async def factory(**changes: Any) -> AsyncIterator[Page]:
        app = app_for(store, clock, tmp_path, **changes)
        async with app.router.lifespan_context(app), Page.over(app, clock) as opened:
            yield opened

    return factory


@pytest.fixture
async def browser(make_page: PageFactory) -> AsyncIterator[Page]:
    async with make_page() as opened:
        yield opened
