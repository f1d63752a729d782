"""Subcommands of `mintgate`. Each module has NAME, HELP, configure(parser) and run(args) -> int.

Add a command by writing its module and listing it here.
"""

from __future__ import annotations

from types import ModuleType

from service.commands import (
    audit,
    bench,
    check,
    db,
    exchange,
    gateway,
    journal,
    keygen,
    project,
    publishers,
    report,
    serve,
    staged,
    token,
    user,
)

COMMANDS: tuple[ModuleType, ...] = (
    serve,
    check,
    keygen,
    exchange,
    token,
    gateway,
    db,
    user,
    report,
    project,
    audit,
    publishers,
    bench,
    staged,
    journal,
)
