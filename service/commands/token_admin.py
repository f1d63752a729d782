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
from service.accounts.tokens import revoke_token
from service.commands.common import connect, load_settings
from service.commands.user import operator
from service.publishers.base import Refusal
from service.settings import Settings
from service.store import Store
from service.store.records_publishing import ApiTokenRecord

ACTIONS = ("list", "revoke")


def configure(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    listing = actions.add_parser(
        "list", help="a user's API tokens (ids and metadata, never tokens)"
    )
    listing.add_argument("--user", required=True)
    revoke = actions.add_parser("revoke", help="revoke an API token by id; effective at once")
    revoke.add_argument("token_id")


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
