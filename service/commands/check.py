"""mintgate check: load settings, issuers, publishers and keys as `serve` would, then exit."""

from __future__ import annotations

import argparse

from service.commands.common import load_app

NAME = "check"
HELP = "load settings, issuers, publishers and keys, then exit (2 when anything is wrong)"


def configure(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    if load_app() is None:
        return 2
    print("mintgate: configuration is valid")
    return 0
