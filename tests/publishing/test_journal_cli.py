"""`mintgate journal`: the backlog and the records the database refused, and `--retry`,
which returns them to the journal for a sweep to write once the cause is fixed."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis.asyncio as aioredis
from test_mint_journal import ISSUER, NOW, entry_at, record, used, written
from testredis import REDIS_URL

from service.cli import main
from service.issuers import Issuers
from service.store import SqlStore
from service.trust.journal import RedisMintJournal, journal_key

pytestmark = pytest.mark.anyio


async def test_refused_records_are_listed_then_returned_and_written(
    tmp_path: Path,
    pg_store: SqlStore,
    issuers: Issuers,
    redis: aioredis.Redis,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The command reads only Redis; the database URL names the journal (journal_key).
    url = f"sqlite+aiosqlite:///{tmp_path / 'named.sqlite3'}"
    key = journal_key(url)
    monkeypatch.setenv("MINTGATE_DATABASE_URL", url)
    monkeypatch.setenv("MINTGATE_REDIS_URL", REDIS_URL)
    monkeypatch.setenv(
        "MINTGATE_ISSUERS_FILE", str(Path(__file__).parent.parent / "data" / "issuers.toml")
    )
    try:
        trusted = await used(pg_store, issuers)
        journal = RedisMintJournal(redis, pg_store, key=key, clock=lambda: NOW, idle_ms=0)
        assert await record(journal, trusted, "waiting")
        # Refused while a migration was missing, say: valid now, and one that never parses.
        fixed = entry_at(trusted, NOW, "fixed")
        await redis.xadd(f"{key}:rejected", {b"e": fixed.encoded, b"why": b"DataError"})
        await redis.xadd(f"{key}:rejected", {b"e": b"\x00junk", b"why": b"JSONDecodeError"})
        # A custom issuer's run id is the token's to choose: no escape reaches the terminal.
        hostile = entry_at(trusted, NOW, "\x1b]0;owned\x07")
        await redis.xadd(f"{key}:rejected", {b"e": hostile.encoded, b"why": b"DataError"})

        assert await _run(["journal"]) == 0
        out = capsys.readouterr().out
        assert f"journal {key}: 1 records waiting for the database" in out
        assert f"refused by the database ({key}:rejected): 3\n" in out
        assert f"DataError  jti=jti-fixed issuer={ISSUER} projects=sampleproject run=fixed" in out
        assert "JSONDecodeError  does not parse: b'\\x00junk'" in out
        assert "run=\\x1b]0;owned\\x07" in out
        assert "\x1b" not in out
        assert await redis.xlen(f"{key}:rejected") == 3  # looking changes nothing

        assert await _run(["journal", "--retry"]) == 0
        assert "3 returned to the journal" in capsys.readouterr().out
        assert await redis.xlen(f"{key}:rejected") == 0
        assert await redis.xlen(key) == 4

        await journal.drain()
        await journal.sweep()
        jtis = sorted(["jti-fixed", hostile.jti, "waiting"])
        assert await written(pg_store) == (jtis, jtis)
        # The junk is set aside again, never dropped.
        ((_, fields),) = await redis.xrange(f"{key}:rejected")
        assert fields[b"e"] == b"\x00junk"
    finally:
        await redis.delete(key, f"{key}:rejected")


async def test_without_redis_or_with_redis_down_it_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("MINTGATE_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'j.sqlite3'}")
    monkeypatch.setenv(
        "MINTGATE_ISSUERS_FILE", str(Path(__file__).parent.parent / "data" / "issuers.toml")
    )
    monkeypatch.delenv("MINTGATE_REDIS_URL", raising=False)
    assert await _run(["journal"]) == 2
    assert "MINTGATE_REDIS_URL is not set" in capsys.readouterr().err

    monkeypatch.setenv("MINTGATE_REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens
    assert await _run(["journal", "--retry"]) == 2
    assert "mintgate: redis: ConnectionError" in capsys.readouterr().err


async def _run(argv: list[str]) -> int:
    # The command runs its own event loop: off this test's loop, in a thread.
    import anyio.to_thread

    return await anyio.to_thread.run_sync(main, argv)
