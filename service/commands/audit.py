"""mintgate audit --user NAME | --project NAME | --org NAME: the security trail, oldest first."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from service.accounts.projects import normalized
from service.commands.common import connect, load_settings
from service.publishers.base import Refusal
from service.settings import Settings
from service.store import AuditRecord, Store

NAME = "audit"
HELP = "show the audit trail of a user, project or org"


def configure(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--user", help="events the user did or underwent")
    which.add_argument("--project", help="events about the project (any spelling of its name)")
    which.add_argument("--org", help="events about the organization")


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
        events = await query(store, args.user, args.project, args.org)
        if isinstance(events, str):
            print(f"mintgate: {events}", file=sys.stderr)
            return 1
        names = await _usernames(store, events)
    finally:
        await store.close()
    for event in events:
        print(line(event, names))
    return 0


async def query(
    store: Store, user: str | None, project: str | None, org: str | None
) -> list[AuditRecord] | str:
    """The events, or a sentence saying why there are none to show."""
    async with store.transaction() as tx:
        if user is not None:
            found = await tx.user_by_name(user)
            if found is None:
                return f"no user {user!r}"
            return await tx.audit_events(user_id=found.id)
        key = normalized(project or org or "")
        if isinstance(key, Refusal):
            return key.description
        if project is not None:
            return await tx.audit_events(project=key)
        return await tx.audit_events(organization=key)


async def _usernames(store: Store, events: list[AuditRecord]) -> dict[int, str]:
    ids = {e.subject_user_id for e in events} - {None}
    names: dict[int, str] = {}
    async with store.transaction() as tx:
        for user_id in ids:
            assert user_id is not None
            user = await tx.user_by_id(user_id)
            names[user_id] = user.username if user else f"#{user_id}"
    return names


def line(event: AuditRecord, names: dict[int, str]) -> str:
    subject = []
    if event.subject_user_id is not None:
        subject.append(f"user={names.get(event.subject_user_id, event.subject_user_id)}")
    if event.subject_project:
        subject.append(f"project={event.subject_project}")
    if event.subject_organization:
        subject.append(f"org={event.subject_organization}")
    where = f"ip={event.ip or '-'}"
    details = json.dumps(dict(event.details), sort_keys=True) if event.details else ""
    parts = [event.occurred_at.isoformat(), event.event, f"actor={event.actor}", *subject, where]
    return " ".join(parts + ([details] if details else []))
