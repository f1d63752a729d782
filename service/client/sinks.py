"""Where a minted token goes: stdout, a private file, or a GitHub Actions step output."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from service.client.outcome import Exit, Failure

OUTPUT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,99}")


def to_stdout(token: str, out: TextIO) -> None:
    print(token, file=out)


def to_file(token: str, path: Path) -> Failure | None:
    try:
        # mkstemp creates the file 0600 from the start, and the rename replaces whatever
        # sat at `path` (an old wider-mode file, a planted symlink) instead of writing
        # through it.
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as exc:
        return Failure(Exit.CONFIGURATION, f"cannot write {path}: {exc.strerror}")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(token + "\n")
        os.replace(temporary, path)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        return Failure(Exit.CONFIGURATION, f"cannot write {path}: {exc.strerror}")
    return None


def to_github_output(token: str, name: str, env: Mapping[str, str], out: TextIO) -> Failure | None:
    if not OUTPUT_NAME.fullmatch(name):
        return Failure(Exit.CONFIGURATION, f"--github-output {name!r} is not a valid output name")
    output = env.get("GITHUB_OUTPUT")
    if not output:
        return Failure(
            Exit.CONFIGURATION,
            "--github-output needs $GITHUB_OUTPUT: run it in a GitHub Actions step",
        )
    # The mask must reach the runner before the value can appear anywhere in the log.
    print(f"::add-mask::{token}", file=out, flush=True)
    try:
        with open(output, "a", encoding="utf-8") as file:
            file.write(f"{name}={token}\n")
    except OSError as exc:
        return Failure(Exit.CONFIGURATION, f"cannot append to $GITHUB_OUTPUT: {exc.strerror}")
    return None
