"""mintgate publishers sync FILE: seed or update the database's trusted publishers from TOML;
publishers freeze|unfreeze ID: the operator's incident tools (issue 21)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from service.accounts.core import Context, deps_for
from service.accounts.incident import operator_freeze, operator_unfreeze
from service.accounts.publisher_sync import SyncReport, sync_publishers
from service.commands import incident
from service.commands.common import connect, load_settings
from service.commands.user import operator
from service.issuers import Issuers, load_issuers
from service.publishers.base import Refusal
from service.settings import Settings, SettingsError
from service.trust.toml import TrustConfigError

NAME = "publishers"
HELP = "trusted publishers in the database: sync, freeze"


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="publishers_action", required=True)
    sync = actions.add_parser(
        "sync",
        help="make the publishers this command added match FILE; owners' own publishers stay",
    )
    sync.add_argument("file", type=Path)
    sync.add_argument(
        "--dry-run", action="store_true", help="print what would change, change nothing"
    )
    freeze = actions.add_parser(
        "freeze",
        help="freeze a publisher (by id) and revoke the unexpired tokens minted for it",
    )
    freeze.add_argument("publisher_id", type=int)
    incident.add_window(freeze)
    unfreeze = actions.add_parser(
        "unfreeze", help="let a frozen publisher mint again (revoked tokens stay revoked)"
    )
    unfreeze.add_argument("publisher_id", type=int)


def run(args: argparse.Namespace) -> int:
    if args.publishers_action in ("freeze", "unfreeze"):
        settings = load_settings()
        if settings is None:
            return 2
        return asyncio.run(_incident(settings, args))
    try:
        settings = Settings.from_env()
        issuers = load_issuers(
            settings.issuers_file, audience=settings.audience, leeway=settings.leeway
        )
    except (SettingsError, ValueError) as exc:
        print(f"mintgate: configuration error: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(_sync(settings, issuers, args.file, dry_run=args.dry_run))


async def _sync(settings: Settings, issuers: Issuers, path: Path, *, dry_run: bool) -> int:
    store = await connect(settings)
    if store is None:
        return 2
    try:
        deps = deps_for(
            store, settings.smtp_url, settings.smtp_from, settings.two_factor_required_from
        )
        report = await sync_publishers(
            deps, Context(actor=operator()), issuers, path, dry_run=dry_run
        )
    except TrustConfigError as exc:
        print(f"mintgate: {exc}", file=sys.stderr)
        return 1
    finally:
        await store.close()
    print("\n".join(render(report)))
    if dry_run:
        print("mintgate: dry run: nothing was changed")
    return 0


async def _incident(settings: Settings, args: argparse.Namespace) -> int:
    store = await connect(settings)
    if store is None:
        return 2
    ctx = Context(actor=operator())
    try:
        deps = deps_for(
            store, settings.smtp_url, settings.smtp_from, settings.two_factor_required_from
        )
        if args.publishers_action == "unfreeze":
            found = await operator_unfreeze(deps, ctx, args.publisher_id)
            if isinstance(found, Refusal):
                return incident.refused(found)
            print(f"mintgate: publisher {found.id} ({found.spec.identity}) unfrozen")
            return 0
        async with incident.revocations(settings) as revoking:
            if revoking is None:
                return 2
            frozen = await operator_freeze(
                deps,
                ctx,
                revoking.store,
                args.publisher_id,
                incident.window(args),
                unwritten=revoking.unwritten,
            )
    finally:
        await store.close()
    if isinstance(frozen, Refusal):
        return incident.refused(frozen)
    print(
        f"mintgate: publisher {frozen.publisher.id} ({frozen.publisher.spec.identity}) of"
        f" {frozen.publisher.project} frozen; {frozen.revoked} tokens revoked"
    )
    return 0


def render(report: SyncReport) -> list[str]:
    lines = [f"+ {project}  {identity}" for project, identity in report.added]
    lines += [f"- {project}  {identity}" for project, identity in report.removed]
    lines += [f"= {project}  {identity}" for project, identity in report.unchanged]
    created = (
        f" ({len(report.created_projects)} projects created)" if report.created_projects else ""
    )
    lines.append(
        f"{len(report.added)} added, {len(report.removed)} removed,"
        f" {len(report.unchanged)} unchanged{created}"
    )
    return lines
