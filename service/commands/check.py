"""mintgate check: load settings, issuers, publishers and keys as `serve` would, then exit."""

from __future__ import annotations

import argparse

from service.commands import envhelp
from service.commands.common import load_app

NAME = "check"
HELP = "check the configuration as serve would, then exit"


def configure(parser: argparse.ArgumentParser) -> None:
    envhelp.describe(parser, envhelp.service_variables(), 'README.md, "Configuration"')


def run(args: argparse.Namespace) -> int:
    if load_app() is None:
        return 2
    print("mintgate: configuration is valid")
    return 0
