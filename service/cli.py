"""The `mintgate` command: one module per subcommand under service/commands/."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from service.commands import COMMANDS

DESCRIPTION = (
    "mintgate: trusted publishing for a package registry. CI jobs (GitHub Actions,"
    " GitLab CI and others) trade their OIDC identity token for a short-lived upload"
    " token, so no long-lived secret sits in CI; maintainers manage accounts, trusted"
    " publishers and API tokens on the web pages or the API; the upload gateway puts"
    " it in front of an existing index."
)
EPILOG = (
    "`mintgate COMMAND --help` shows a command's options and, for serve, check and"
    ' gateway, the MINTGATE_* variables it reads (README.md, "Configuration").'
)


class CommandListFormatter(argparse.HelpFormatter):
    """Keeps every command's help on its own line: argparse measures the command names
    without their indent, so the longest name would push its help onto the next line."""

    def add_argument(self, action: argparse.Action) -> None:
        super().add_argument(action)
        if not isinstance(action, argparse._SubParsersAction):
            return
        for sub in action._get_subactions():
            width = len(self._format_action_invocation(sub)) + self._current_indent
            self._action_max_length = max(self._action_max_length, width + self._indent_increment)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="mintgate",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=CommandListFormatter,
    )
    subparsers = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", title="commands"
    )
    for command in COMMANDS:
        command.configure(subparsers.add_parser(command.NAME, help=command.HELP))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # Alembic narrates every store opening at INFO ("Context impl SQLiteImpl."): meant
    # for its own tool, noise on top of a command's output. Its warnings still show.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    selected = next(c for c in COMMANDS if args.command == c.NAME)
    result: int = selected.run(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
