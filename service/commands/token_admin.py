"""mintgate token list --user NAME | token revoke TOKEN_ID: the operator's side of API tokens.

Creating a token is the user's own act (with a fresh second factor, through the
API), so there is no operator `create`: an operator minting long-lived
credentials for someone else is the very thing 2FA is there to prevent.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from service.accounts.core import Context, deps_for
from service.accounts.incident import revoke_minted
from service.accounts.tokens import revoke_token
from service.commands import incident
from service.commands.common import connect, load_settings
from service.commands.user import operator
from service.publishers.base import Refusal
from service.settings import Settings
from service.store import Store
from service.store.records_publishing import ApiTokenRecord

ACTIONS = ("list", "revoke", "revoke-minted")


def configure(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    listing = actions.add_parser(
        "list", help="a user's API tokens (ids and metadata, never tokens)"
    )
    listing.add_argument("--user", required=True)
    revoke = actions.add_parser("revoke", help="revoke an API token by id; effective at once")
    revoke.add_argument("token_id")
    minted = actions.add_parser(
        "revoke-minted",
        help="revoke the unexpired tokens minted for a publisher and/or a repository"
        " (incident response; needs MINTGATE_REDIS_URL, the store the gateway reads)",
    )
    minted.add_argument("--publisher", type=int, metavar="ID", help="a trusted publisher's id")
    minted.add_argument(
        "--repository", metavar="NAME", help="e.g. GitHub owner/repo or a GitLab project path"
    )
    incident.add_window(minted)


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
        if args.action == "list":
            return await _list(store, args.user)
        if args.action == "revoke-minted":
            return await _revoke_minted(store, settings, args)
        deps = deps_for(
            store, settings.smtp_url, settings.smtp_from, settings.two_factor_required_from
        )
        result = await revoke_token(deps, Context(actor=operator()), args.token_id, operator=True)
    finally:
        await store.close()
    if isinstance(result, Refusal):
        print(f"mintgate: {result.description} ({result.code})", file=sys.stderr)
        return 1
    print(f"mintgate: revoked API token {result.id} ({result.name})")
    return 0


async def _revoke_minted(store: Store, settings: Settings, args: argparse.Namespace) -> int:
    if args.publisher is None and args.repository is None:
        print("mintgate: give --publisher ID or --repository NAME (or both)", file=sys.stderr)
        return 2
    deps = deps_for(store, settings.smtp_url, settings.smtp_from, settings.two_factor_required_from)
    async with incident.revocations(settings) as revoking:
        if revoking is None:
            return 2
        revoked = await revoke_minted(
            deps,
            Context(actor=operator()),
            revoking.store,
            publisher_id=args.publisher,
            repository=args.repository,
            window=incident.window(args),
            unwritten=revoking.unwritten,
        )
    if isinstance(revoked, Refusal):
        return incident.refused(revoked)
    print(f"mintgate: {revoked} minted tokens revoked")
    return 0


async def _list(store: Store, username: str) -> int:
    async with store.transaction() as tx:
        user = await tx.user_by_name(username)
        tokens = [] if user is None else await tx.api_tokens_of(user.id)
    if user is None:
        print(f"mintgate: no user {username!r}", file=sys.stderr)
        return 1
    for token in tokens:
        print(line(token))
    return 0


def line(token: ApiTokenRecord) -> str:
    projects = "all projects" if token.projects is None else ",".join(token.projects)
    used = token.last_used_at.isoformat() if token.last_used_at else "never used"
    state = f"revoked {token.revoked_at.isoformat()}" if token.revoked_at else "active"
    return (
        f"{token.id}  {token.name!r}  {projects}  expires {token.expires_at.isoformat()}"
        f"  {used}  {state}"
    )
