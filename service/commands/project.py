"""mintgate project show NAME | require-2fa NAME [--off] | state NAME STATE: a project as the
operator sees it, the operator's per-project "2FA required" flag (for critical projects), and
its state (issue 21: active, archived, quarantined)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from service.accounts.core import Context, deps_for
from service.accounts.project_state import operator_set_project_state
from service.accounts.projects import NO_SUCH_PROJECT, normalized, set_two_factor_required
from service.commands.common import connect, load_settings
from service.commands.user import operator
from service.publishers.base import Refusal
from service.settings import Settings
from service.store import Store
from service.trust import PROJECT_STATES

NAME = "project"
HELP = "operator view of projects: show, require 2FA, state"


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="project_action", required=True)
    show = actions.add_parser("show", help="the project's flags and roles, with who lacks 2FA")
    show.add_argument("name")
    flag = actions.add_parser(
        "require-2fa",
        help="require two-factor authentication of every owner and maintainer of the project",
    )
    flag.add_argument("name")
    flag.add_argument("--off", action="store_true", help="clear the requirement instead")
    state = actions.add_parser(
        "state",
        help="set the project's state: archived (no uploads, no mints), quarantined (no trusted"
        " publishing; maintainers' API tokens still upload) or active",
    )
    state.add_argument("name")
    state.add_argument("state", choices=PROJECT_STATES)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    if settings is None:
        return 2
    return asyncio.run(_run(args, settings))


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    store = await connect(settings)
    if store is None:
        return 2
    try:
        if args.project_action == "require-2fa":
            deps = deps_for(store, None, settings.smtp_from, settings.two_factor_required_from)
            changed = await set_two_factor_required(
                deps, Context(actor=operator()), args.name, not args.off
            )
            if isinstance(changed, Refusal):
                print(f"mintgate: {changed.description} ({changed.code})", file=sys.stderr)
                return 1
        if args.project_action == "state":
            deps = deps_for(store, None, settings.smtp_from, settings.two_factor_required_from)
            moved = await operator_set_project_state(
                deps, Context(actor=operator()), args.name, args.state
            )
            if isinstance(moved, Refusal):
                print(f"mintgate: {moved.description} ({moved.code})", file=sys.stderr)
                return 1
        lines = await describe(store, args.name)
    finally:
        await store.close()
    if isinstance(lines, Refusal):
        print(f"mintgate: {lines.description} ({lines.code})", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


async def describe(store: Store, name: str) -> list[str] | Refusal:
    key = normalized(name)
    if isinstance(key, Refusal):
        return key
    async with store.transaction() as tx:
        project = await tx.project_by_name(key)
        if project is None:
            return Refusal(NO_SUCH_PROJECT, f"no project {key!r}")
        members = await tx.project_members(project.id)
    lines = [
        f"project {project.name} ({project.normalized_name})",
        f"  2FA required: {_yes(project.two_factor_required)}",
        f"  trusted publishing only: {_yes(project.trusted_publishing_only)}",
        f"  state: {project.state}",
    ]
    for member in members:
        state = "2FA" if member.two_factor_enabled else "no 2FA"
        lines.append(f"  {member.role:<10} {member.username} ({state})")
    return lines
