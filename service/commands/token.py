"""mintgate token inspect: explain a minted token, unverified, without showing its signature."""

from __future__ import annotations

import argparse
import sys
import time

from service.client.inspection import decode, render

NAME = "token"
HELP = "explain a minted token (unverified)"


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    inspect = actions.add_parser("inspect", help="decode and explain a token without verifying it")
    inspect.add_argument(
        "token",
        nargs="?",
        default="-",
        help="the token, or - (the default) to read it from stdin and keep it out of shell history",
    )


def run(args: argparse.Namespace) -> int:
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
