"""mintgate keygen PATH: write a new P-256 signing key as PEM, readable by its owner only."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from service.minting.keys import generate_pem

NAME = "keygen"
HELP = "write a new P-256 signing key as PEM"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", type=Path)


def run(args: argparse.Namespace) -> int:
    path: Path = args.path
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
