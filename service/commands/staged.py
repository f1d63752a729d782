"""mintgate staged list | approve | reject | sweep: staged releases from the command line.

`list` and `reject` are operator views over the database (an operator may always
stop a release). `approve` acts as a maintainer (--as) and needs that
maintainer's authenticator code, read from a prompt or standard input: holding
the database is not enough to publish. `sweep` expires overdue releases and
deletes their files, and puts a release whose approval stalled (the approving
process died mid-forward) back to waiting, and deletes files left in the
staging area by an upload that died before recording them; run it from cron where
MINTGATE_STAGING_DIR is mounted.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import Sequence

import httpx

from service.accounts.accounts import Accounts, Context
from service.accounts.core import deps_for
from service.accounts.passwords import PasswordPolicy, Passwords
from service.commands.common import connect, load_settings
from service.commands.user import operator
from service.publishers.base import Refusal
from service.settings import Settings
from service.staging import review
from service.staging.area import FileStagingArea
from service.staging.proof import TotpProof
from service.staging.wiring import approvals
from service.store import Store
from service.store.records_staging import STAGED_STATUSES, StagedReleaseRecord
from service.trust import normalize_project

NAME = "staged"
HELP = "staged releases: list, approve, reject, sweep"


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="staged_action", required=True)
    listing = actions.add_parser("list", help="staged releases waiting for approval")
    listing.add_argument("--project", help="only this project")
    listing.add_argument("--all", action="store_true", help="decided releases too")
    listing.add_argument("--json", action="store_true", help="one JSON document")
    approve = actions.add_parser("approve", help="publish a staged release as a maintainer")
    approve.add_argument("release_id", type=int)
    approve.add_argument("--as", dest="username", required=True, help="the approving maintainer")
    approve.add_argument("--digest", required=True, help="the digest `staged list` showed")
    approve.add_argument(
        "--code-stdin", action="store_true", help="read the authenticator code from stdin"
    )
    reject = actions.add_parser("reject", help="discard a staged release")
    reject.add_argument("release_id", type=int)
    reject.add_argument("--reason", required=True)
    actions.add_parser(
        "sweep",
        help="expire overdue staged releases, delete their files, recover stalled ones,"
        " delete orphaned files",
    )


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    if settings is None:
        return 2
    code = None
    if args.staged_action == "approve":
        code = sys.stdin.readline().strip() if args.code_stdin else getpass.getpass("Code: ")
    return asyncio.run(_run(args, settings, code))


async def _run(args: argparse.Namespace, settings: Settings, code: str | None) -> int:
    store = await connect(settings)
    if store is None:
        return 2
    try:
        if args.staged_action == "list":
            return await _list(store, args.project, args.all, args.json)
        deps = deps_for(
            store, settings.smtp_url, settings.smtp_from, settings.two_factor_required_from
        )
        area = FileStagingArea(settings.staging.directory) if settings.staging else None
        if args.staged_action == "reject":
            ctx = Context(actor=operator())
            result = await review.reject_as_operator(deps, area, ctx, args.release_id, args.reason)
            return _done(result, "rejected; its files are deleted")
        if args.staged_action == "sweep":
            if area is None:
                print("mintgate: set MINTGATE_STAGING_DIR to sweep", file=sys.stderr)
                return 2
            swept = await review.sweep(deps, area)
            print(f"mintgate: {len(swept.expired)} staged release(s) expired")
            print(f"mintgate: {len(swept.recovered)} stalled approval(s) put back to waiting")
            print(f"mintgate: {len(swept.orphans)} orphaned file(s) removed from the staging area")
            return 0
        assert code is not None
        return await _approve(settings, store, args.release_id, args.username, args.digest, code)
    finally:
        await store.close()


async def _approve(
    settings: Settings, store: Store, release_id: int, username: str, digest: str, code: str
) -> int:
    from service.wiring import secret_box

    async with store.transaction() as tx:
        user = await tx.user_by_name(username)
    if user is None:
        print(f"mintgate: no user {username!r}", file=sys.stderr)
        return 1
    async with httpx.AsyncClient(follow_redirects=False) as client:
        accounts = Accounts(
            store,
            passwords=Passwords(),
            policy=PasswordPolicy(frozenset(), None),
            secrets=secret_box(settings),  # the TOTP seeds are sealed with it
            notifier=deps_for(store, settings.smtp_url, settings.smtp_from, None).notifier,
        )
        ctx = Context(actor=user.username, actor_user_id=user.id, user_agent="mintgate staged")
        result = await approvals(settings.staging, accounts, client).approve(
            ctx, release_id, digest, TotpProof(code)
        )
    return _done(result, "approved and published")


def _done(result: StagedReleaseRecord | Refusal, what: str) -> int:
    if isinstance(result, Refusal):
        print(f"mintgate: {result.description} ({result.code})", file=sys.stderr)
        return 1
    print(f"mintgate: staged release {result.id} ({result.project} {result.version}) {what}")
    return 0


async def _list(store: Store, project: str | None, every: bool, as_json: bool) -> int:
    from service.http.api.staging_views import staged_release

    names = None
    if project is not None:
        try:
            names = [normalize_project(project)]
        except ValueError:
            print(f"mintgate: {project[:100]!r} is not a project name", file=sys.stderr)
            return 1
    async with store.transaction() as tx:
        found = await tx.staged_releases(
            names, STAGED_STATUSES if every else ("staged", "approving")
        )
    if as_json:
        print(json.dumps({"staged_releases": [staged_release(r) for r in found]}, indent=2))
        return 0
    for release in found:
        print("\n".join(describe(release)))
    if not found:
        print("mintgate: no staged releases")
    return 0


def describe(release: StagedReleaseRecord) -> Sequence[str]:
    lines = [
        f"#{release.id} {release.project} {release.version} {release.status}"
        f" staged {release.staged_at:%Y-%m-%d %H:%M} expires {release.expires_at:%Y-%m-%d %H:%M}"
        f" digest {release.digest}"
    ]
    for staged in release.files:
        run = " ".join(f"{k}={v}" for k, v in sorted(staged.provenance.items()))
        lines.append(f"  {staged.filename} {staged.size} bytes sha256 {staged.sha256}")
        lines.append(f"    {run or staged.subject}")
    return lines
