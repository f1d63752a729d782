"""mintgate report no-2fa: who still has no two-factor authentication, per project and per
organization."""

from __future__ import annotations

import argparse
import asyncio

from service.accounts.core import deps_for
from service.accounts.projects import without_two_factor
from service.commands.common import connect, load_settings
from service.settings import Settings

NAME = "report"
HELP = "operator reports: who lacks two-factor"


def configure(parser: argparse.ArgumentParser) -> None:
    reports = parser.add_subparsers(dest="report", required=True)
    reports.add_parser(
        "no-2fa",
        help="owners, maintainers and members without two-factor authentication, per project"
        " and per organization",
    )


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    if settings is None:
        return 2
    return asyncio.run(no_two_factor(settings))


async def no_two_factor(settings: Settings) -> int:
    store = await connect(settings)
    if store is None:
        return 2
    try:
        deps = deps_for(store, None, settings.smtp_from, settings.two_factor_required_from)
        report = await without_two_factor(deps)
    finally:
        await store.close()
    if not report:
        print("every project maintainer and organization member has two-factor authentication")
        return 0
    for entry in report:
        flag = " [2FA required]" if entry.two_factor_required else ""
        people = ", ".join(f"{name} ({role})" for name, role in entry.members)
        print(f"{entry.kind} {entry.name}{flag}: {people}")
    return 0
