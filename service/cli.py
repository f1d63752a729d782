"""The `mintgate` command: one module per subcommand under service/commands/."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from service.commands import COMMANDS


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mintgate", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.configure(subparsers.add_parser(command.NAME, help=command.HELP))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    selected = next(c for c in COMMANDS if args.command == c.NAME)
    result: int = selected.run(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
