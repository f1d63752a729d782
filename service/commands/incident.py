"""What the incident commands share (issue 21): the revocation store, time windows, output.

`publishers freeze`, `token revoke-minted` revoke through MINTGATE_REDIS_URL: the
store every replica and the upload gateway read. Without it there is nowhere a
revocation would reach the gateway, so they refuse (exit 2) rather than pretend.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from service.accounts.incident import Window
from service.publishers.base import Refusal
from service.redisclient import redis_client
from service.revocation import RedisRevocationStore, RevocationStore
from service.settings import Settings
from service.trust.journal import journal_key
from service.trust.unwritten import UnwrittenMints


def instant(text: str) -> datetime.datetime:
    try:
        when = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:40]!r}: expected an ISO 8601 time") from None
    if when.tzinfo is None:
        # A zoneless time means a different instant on every machine that reads it.
        raise argparse.ArgumentTypeError(f"{text[:40]!r}: give a zone, e.g. ...Z or ...+02:00")
    return when


def add_window(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--since", type=instant, metavar="ISO", help="only tokens issued at or after this time"
    )
    parser.add_argument(
        "--until", type=instant, metavar="ISO", help="only tokens issued at or before this time"
    )


def window(args: argparse.Namespace) -> Window:
    return Window(args.since, args.until)


@dataclass(frozen=True, slots=True)
class Revoking:
    store: RevocationStore
    # The mint journal's records not yet in SQL (trust/unwritten.py): what `serve` records
    # with Redis on the database source, unless MINTGATE_MINT_JOURNAL=off.
    unwritten: UnwrittenMints | None


@asynccontextmanager
async def revocations(settings: Settings) -> AsyncIterator[Revoking | None]:
    """The shared revocation store; None (after printing why) without MINTGATE_REDIS_URL."""
    if settings.redis_url is None:
        print(
            "mintgate: MINTGATE_REDIS_URL is not set: revocations would reach neither the"
            " service's replicas nor the upload gateway",
            file=sys.stderr,
        )
        yield None
        return
    client = redis_client(settings.redis_url)
    journaled = settings.trust_source == "database" and settings.mint_journal
    key = journal_key(settings.database_url)
    try:
        yield Revoking(
            RedisRevocationStore(client), UnwrittenMints(client, key) if journaled else None
        )
    finally:
        await client.aclose()


def refused(refusal: Refusal) -> int:
    print(f"mintgate: {refusal.description} ({refusal.code})", file=sys.stderr)
    return 1
