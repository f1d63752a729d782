"""mintgate exchange: trade this CI job's OIDC credential for a short-lived upload token.

Exit codes: 0 minted, 1 refused, 2 no ambient credential or configuration error,
3 service unavailable or network error (worth a retry).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx

from service.client.api import Minted
from service.client.exchange import exchange
from service.client.outcome import Exit, Failure
from service.client.sinks import to_file, to_github_output, to_stdout

NAME = "exchange"
HELP = "in CI: trade the job's OIDC token for an upload token"
TIMEOUT = 20.0


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", required=True, help="the service, e.g. https://mintgate.example")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--output", type=Path, metavar="FILE", help="write the token here (0600)")
    where.add_argument(
        "--github-output", metavar="NAME", help="set step output NAME (masked in the log)"
    )


def run(args: argparse.Namespace) -> int:
    # httpx logs every request at INFO; our own lines already say what each answer meant.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # No redirects: a credential is only ever posted to the URL the workflow names.
    with httpx.Client(timeout=TIMEOUT, follow_redirects=False) as client:
        result = exchange(client, args.url)
    if isinstance(result, Minted):
        result = deliver(result, args) or result
    if isinstance(result, Failure):
        print(f"mintgate: {result.message}", file=sys.stderr)
        return int(result.exit)
    print("mintgate: minted a token" + _until(result), file=sys.stderr)
    return int(Exit.MINTED)


def deliver(minted: Minted, args: argparse.Namespace) -> Failure | None:
    if args.output is not None:
        return to_file(minted.token, args.output)
    if args.github_output is not None:
        return to_github_output(minted.token, args.github_output, os.environ, sys.stdout)
    to_stdout(minted.token, sys.stdout)
    return None


def _until(minted: Minted) -> str:
    if minted.expires is None:
        return ""
    try:
        until = datetime.fromtimestamp(minted.expires, UTC)
    except (OverflowError, OSError, ValueError):
        return ""  # the service's clock is its own business; the token itself is fine
    return f", valid until {until:%Y-%m-%d %H:%M:%S} UTC"
