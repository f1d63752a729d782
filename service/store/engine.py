"""Async engines for SQLite (the embedded default) and PostgreSQL.

Settings already turned MINTGATE_DATABASE_URL into a URL naming the async driver.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

CONNECT_TIMEOUT = 5.0  # seconds for asyncpg to connect and authenticate


def display_url(raw: str) -> str:
    """For logs and messages: the URL with any password masked."""
    return make_url(raw).render_as_string(hide_password=True)


def is_sqlite(url: str | URL) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    # Bound parameters include password hashes and sealed TOTP secrets: keep
    # them out of SQLAlchemy's statement logging and out of error messages.
    kwargs.setdefault("hide_parameters", True)
    if not is_sqlite(url):
        # A pooled connection can die while idle (a failover, pg_terminate_backend, an
        # idle timeout in a proxy): test it at checkout, one round trip, so the request
        # gets a live one instead of a 503. A disconnect seen mid-request still
        # invalidates the whole pool (SQLAlchemy's default), so recovery needs no restart.
        kwargs.setdefault("pool_pre_ping", True)
        # asyncpg waits 60 s by default for a server that accepts and never answers (a
        # hung primary, a black-holed route): every request would hang that long before
        # its 503. A healthy server on a LAN answers in milliseconds.
        kwargs["connect_args"] = {"timeout": CONNECT_TIMEOUT, **kwargs.get("connect_args", {})}
    engine = create_async_engine(url, **kwargs)
    if is_sqlite(url):
        # aiosqlite logs every call with its parameters at DEBUG, so a debug
        # log level would write those same secrets to the log.
        quiet = logging.getLogger("aiosqlite")
        if quiet.level < logging.INFO:  # NOTSET included: it would inherit DEBUG
            quiet.setLevel(logging.INFO)
        _sqlite_transactions(engine)
    return engine


def _sqlite_transactions(engine: AsyncEngine) -> None:
    """Make SQLite transactions real and serial.

    The sqlite3 module opens transactions lazily, only before a write, so a
    read followed by a write is not atomic. We take over: BEGIN IMMEDIATE
    takes the write lock up front, so two transactions never both read a
    row and then both update it (the TOTP and recovery-code races), and the
    busy timeout makes the second one wait instead of failing.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")  # off by default in SQLite
        cursor.execute("PRAGMA busy_timeout = 10000")
        cursor.execute("PRAGMA journal_mode = WAL")  # readers do not block the writer
        # The embedded default's durability, SQLite's own advice for WAL: a commit survives
        # mintgate crashing, and the file is never corrupted; only a power loss or OS crash
        # may lose the last commits. FULL would put a disk flush (4 ms here) on every mint.
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(connection: Any) -> None:
        # Not on a connection in autocommit (the trust feed's reader): each statement is
        # its own transaction there, and a BEGIN would stay open, holding the write lock.
        if connection.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            connection.exec_driver_sql("BEGIN IMMEDIATE")
