"""One SQLite database migrated per session; apps and stores get copies of it.

Migrating a fresh file costs about 0.2 s. The template is migrated by Alembic
once (tests/conftest.py builds it at session start), so a copy is a migrated
database, not an imitation of one; tests/store/test_store_migrations.py still
migrates fresh files from nothing.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
from pathlib import Path

from service.store import migrate
from service.store.engine import create_engine

DATABASES = Path(tempfile.mkdtemp(prefix="mintgate-tests-"))
TEMPLATE = DATABASES / "template.sqlite3"


def build() -> None:
    async def upgrade() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{TEMPLATE}")
        try:
            await migrate.upgrade(engine)
        finally:
            await engine.dispose()

    asyncio.run(upgrade())


def copy_to(path: Path) -> str:
    """A migrated database at `path`; its URL."""
    shutil.copyfile(TEMPLATE, path)
    return f"sqlite+aiosqlite:///{path}"


def fresh_url() -> str:
    """A migrated database of its own, among the session's."""
    return copy_to(DATABASES / f"{uuid.uuid4().hex}.sqlite3")


def remove() -> None:
    shutil.rmtree(DATABASES, ignore_errors=True)
