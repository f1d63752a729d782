"""mintgate db upgrade | current | sweep: migrate the database named by MINTGATE_DATABASE_URL
to the latest schema, say where it is, remove expired rows."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import timedelta

from service.accounts.core import Context, deps_for
from service.accounts.housekeeping import describe, sweep
from service.commands.common import connect, load_settings
from service.commands.user import operator
from service.settings import Settings
from service.store import migrate
from service.store.engine import create_engine, display_url

NAME = "db"
HELP = "database: upgrade, current revision, sweep"


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="db_action", required=True)
    upgrade = actions.add_parser("upgrade", help="migrate to the latest (or a given) revision")
    upgrade.add_argument("revision", nargs="?", default="head")
    actions.add_parser("current", help="print the revision the database is at")
    actions.add_parser(
        "sweep",
        help="delete expired sessions, WebAuthn challenges, pending publishers, long-expired"
        " invitations and minted-token records, old trust changes (also done on logins, every"
        " few minutes), and audit events older than MINTGATE_AUDIT_RETENTION_DAYS when set",
    )


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    if settings is None:
        return 2
    if args.db_action == "sweep":
        return asyncio.run(_sweep(settings))
    return asyncio.run(_run(args, settings.database_url))


async def _sweep(settings: Settings) -> int:
    store = await connect(settings)
    if store is None:
        return 2
    try:
        deps = deps_for(store, None, settings.smtp_from, settings.two_factor_required_from)
        retention = settings.audit_retention_days
        swept = await sweep(
            deps,
            Context(actor=operator()),
            audit_retention=None if retention is None else timedelta(days=retention),
        )
    finally:
        await store.close()
    print(f"mintgate: swept {describe(swept)}")
    return 0


async def _run(args: argparse.Namespace, url: str) -> int:
    engine = create_engine(url)
    try:
        before = await migrate.current(engine)
        if args.db_action == "upgrade":
            await migrate.upgrade(engine, args.revision)
        revision = await migrate.current(engine)
    except Exception as exc:  # any driver error: say which database, never the password
        print(f"mintgate: {display_url(url)}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        await engine.dispose()
    if revision != before:
        # Alembic's own narration is silenced (service/cli.py): say here what changed.
        print(f"mintgate: {display_url(url)} migrated from revision {before or 'none'}")
    print(f"mintgate: {display_url(url)} is at revision {revision or 'none'}")
    return 0
