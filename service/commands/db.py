"""mintgate db upgrade: migrate the database named by MINTGATE_DATABASE_URL to the latest schema."""

from __future__ import annotations

import argparse
import asyncio
import sys

from service.commands.common import load_settings
from service.store import migrate
from service.store.engine import create_engine, display_url

NAME = "db"
HELP = "database maintenance: `db upgrade` runs the migrations"


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="db_action", required=True)
    upgrade = actions.add_parser("upgrade", help="migrate to the latest (or a given) revision")
    upgrade.add_argument("revision", nargs="?", default="head")
    actions.add_parser("current", help="print the revision the database is at")


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    if settings is None:
        return 2
    return asyncio.run(_run(args, settings.database_url))


async def _run(args: argparse.Namespace, url: str) -> int:
    engine = create_engine(url)
    try:
        if args.db_action == "upgrade":
            await migrate.upgrade(engine, args.revision)
        revision = await migrate.current(engine)
    except Exception as exc:  # any driver error: say which database, never the password
        print(f"mintgate: {display_url(url)}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        await engine.dispose()
    print(f"mintgate: {display_url(url)} is at revision {revision or 'none'}")
    return 0
