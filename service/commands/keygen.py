"""mintgate keygen PATH | -: write a new P-256 signing key as PEM, readable by its owner only.

`-` writes it to standard output for a pipe into a secret store; never to a
terminal, where it would stay in the scrollback and in screen recordings.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from service.minting.keys import generate_pem

NAME = "keygen"
HELP = "write a new P-256 signing key (PEM)"
STDOUT = "-"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "path",
        help="the file to create (0600, never overwritten), or - for standard output when it"
        " is a pipe, e.g. `mintgate keygen - | kubectl create secret generic mintgate-signing"
        " --from-file=signing.pem=/dev/stdin`",
    )


def run(args: argparse.Namespace) -> int:
    if args.path == STDOUT:
        return _to_stdout()
    path = Path(args.path)
    try:
        # O_EXCL: never overwrite a key; 0o600 from the start, not chmod after writing.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        print(f"mintgate: {path} exists; refusing to overwrite a key", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"mintgate: cannot create {path}: {exc.strerror}", file=sys.stderr)
        return 2
    with os.fdopen(fd, "wb") as out:
        out.write(generate_pem())
    print(f"mintgate: wrote {path}")
    return 0


def _to_stdout() -> int:
    if sys.stdout.isatty():
        print(
            "mintgate: refusing to print a private key to a terminal; give a file path"
            " (mintgate keygen signing.pem) or pipe it (mintgate keygen - | ...);"
            " a file named - is ./-",
            file=sys.stderr,
        )
        return 2
    sys.stdout.write(generate_pem().decode("ascii"))
    sys.stdout.flush()
    print("mintgate: wrote a new key to standard output", file=sys.stderr)
    return 0
