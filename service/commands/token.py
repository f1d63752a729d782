"""mintgate token: inspect any token (unverified, signature never shown); narrow an API token."""

from __future__ import annotations

import argparse
import datetime
import re
import sys
import time

from service.apitokens.attenuate import AttenuationError, attenuate
from service.client.inspection import decode, render
from service.commands import token_admin

NAME = "token"
HELP = "inspect, narrow, list or revoke tokens"
_SPAN = re.compile(r"(\d+)([smhd])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    inspect = actions.add_parser("inspect", help="decode and explain a token without verifying it")
    inspect.add_argument(
        "token",
        nargs="?",
        default="-",
        help="the token, or - (the default) to read it from stdin and keep it out of shell history",
    )
    narrow = actions.add_parser(
        "attenuate",
        help="narrow an API token read from stdin: fewer projects, earlier expiry (offline)",
    )
    narrow.add_argument(
        "--project",
        dest="projects",
        action="append",
        metavar="P",
        help="keep only this project (repeat for several); must be one the token allows",
    )
    when = narrow.add_mutually_exclusive_group()
    when.add_argument("--expires-in", type=duration, metavar="SPAN", help="e.g. 30m, 1h, 7d, 1d12h")
    when.add_argument(
        "--expires-at", type=instant, metavar="ISO", help="e.g. 2030-01-01T00:00:00Z (with a zone)"
    )
    token_admin.configure(actions)


def duration(text: str) -> int:
    parts = _SPAN.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise argparse.ArgumentTypeError(
            f"{text[:40]!r}: expected a span like 30m, 1h, 7d or 1d12h"
        )
    seconds = sum(int(n) * _UNIT[u] for n, u in parts)
    if seconds <= 0:
        raise argparse.ArgumentTypeError("the span must be longer than zero")
    return seconds


def instant(text: str) -> int:
    try:
        when = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:40]!r}: expected an ISO 8601 time") from None
    if when.tzinfo is None:
        # A zoneless time means a different instant on every machine that reads it.
        raise argparse.ArgumentTypeError(f"{text[:40]!r}: give a zone, e.g. ...Z or ...+02:00")
    return int(when.timestamp())


def run(args: argparse.Namespace) -> int:
    if args.action == "attenuate":
        return _attenuate(args)
    if args.action in token_admin.ACTIONS:
        return token_admin.run(args)
    token: str = sys.stdin.read().strip() if args.token == "-" else args.token.strip()
    if not token:
        print("mintgate: no token given (pass it on stdin or as an argument)", file=sys.stderr)
        return 1
    decoded = decode(token)
    if isinstance(decoded, str):
        print(f"mintgate: {decoded}", file=sys.stderr)
        return 1
    print("\n".join(render(decoded, time.time())))
    return 0 if decoded.checksum_ok else 1


def _attenuate(args: argparse.Namespace) -> int:
    # stdin only: a token on the command line would land in shell history and `ps`.
    token = sys.stdin.read().strip()
    now = int(time.time())
    expires: int | None = args.expires_at
    if args.expires_in is not None:
        expires = now + args.expires_in
    if expires is not None and expires <= now:
        print("mintgate: that expiry is already past", file=sys.stderr)
        return 1
    try:
        print(attenuate(token, projects=args.projects, expires=expires))
    except AttenuationError as exc:
        print(f"mintgate: cannot attenuate: {exc}", file=sys.stderr)
        return 1
    return 0
