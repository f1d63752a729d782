"""mintgate journal [--retry]: the mint journal's backlog, and the records SQL refused.

A mint's record that the database refuses (a value too long, a constraint) or that
does not parse is moved to the journal's `:rejected` stream and logged
(trust/journal.py): until someone looks, it is a mint missing from the audit trail.
This lists them with the reason; `--retry`, once the cause is fixed, returns them to
the journal, where a replica's sweep writes them after 30 s, or sets them aside again.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import redis.asyncio as aioredis
import redis.exceptions

from service.client.text import printable
from service.commands.common import load_settings
from service.redisclient import redis_client
from service.trust.journal import (
    FIELD,
    IDLE_MS,
    MAX_BACKLOG,
    Entries,
    journal_key,
    stream_pages,
)
from service.trust.records import MintEntry

NAME = "journal"
HELP = "show the mint journal's backlog and refused records"
SHOWN = 120  # characters of a record that does not parse, or of a reason
LINE = 2000  # characters of a record's description (a run id alone may be 255)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--retry",
        action="store_true",
        help="return every refused record to the journal, for a replica's sweep to write",
    )


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    if settings is None:
        return 2
    if settings.redis_url is None:
        print(
            "mintgate: MINTGATE_REDIS_URL is not set: without Redis there is no mint journal"
            " (each mint commits its record to the database before it is answered)",
            file=sys.stderr,
        )
        return 2
    return asyncio.run(_run(settings.redis_url, journal_key(settings.database_url), args.retry))


async def _run(url: str, key: str, retry: bool) -> int:
    client = redis_client(url)
    try:
        waiting = int(await client.xlen(key))
        rejected = [e async for page in stream_pages(client, f"{key}:rejected") for e in page]
        returned = await _return(client, key, rejected) if retry else 0
    except (redis.exceptions.RedisError, OSError) as exc:
        print(f"mintgate: redis: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    finally:
        await client.aclose()
    print(f"journal {key}: {waiting} records waiting for the database (503 at {MAX_BACKLOG:,})")
    print(f"refused by the database ({key}:rejected): {len(rejected)}")
    for entry_id, fields in rejected:
        # A run id is the OIDC token's claim, chosen by whoever runs a custom issuer:
        # what reaches the operator's terminal is escaped.
        why = printable(_text(fields.get(b"why", b"?")), SHOWN)
        print(f"  {printable(_text(entry_id), SHOWN)}  {why}  {_described(fields)}")
    if retry:
        print(
            f"{returned} returned to the journal: a replica's sweep writes them after"
            f" {IDLE_MS // 1000} s, or sets them aside again (its log says why)"
        )
    return 0


async def _return(client: aioredis.Redis, key: str, rejected: Entries) -> int:
    """Each record back into the journal and out of `:rejected`, both or neither (MULTI).
    Two operators at once may return one record twice; the sweep writes it once."""
    for entry_id, fields in rejected:
        async with client.pipeline(transaction=True) as both:
            both.xadd(key, {FIELD: fields.get(FIELD, b"")})
            both.xdel(f"{key}:rejected", entry_id)
            await both.execute()
    return len(rejected)


def _described(fields: dict[bytes, bytes]) -> str:
    raw = fields.get(FIELD, b"")
    try:
        entry = MintEntry.from_json(raw)
    except (ValueError, TypeError):
        return f"does not parse: {raw[:SHOWN]!r}"
    projects = ",".join(entry.projects) or "-"
    return printable(
        f"jti={entry.jti} issuer={entry.issuer} projects={projects} run={entry.run or '-'}",
        LINE,
    )


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value
