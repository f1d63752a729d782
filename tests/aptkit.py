"""Debian packages the tests need (Chromium, nginx): installed with apt when missing.

Root, as CI runs; never a download from outside the package registries.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path


def ensure_installed(binary: Path, packages: Sequence[str], *, timeout: float) -> Path:
    """`binary`, after `apt-get install --no-install-recommends PACKAGES` when it is missing."""
    if binary.exists():
        return binary
    apt = shutil.which("apt-get")
    if apt is None:
        raise RuntimeError(f"{binary} is missing and there is no apt-get to install it")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in ([apt, "update"], [apt, "install", "-y", "--no-install-recommends", *packages]):
        done = subprocess.run(  # noqa: S603 (fixed apt-get commands)
            command, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}{done.stderr}")
    if not binary.exists():
        raise RuntimeError(f"apt-get installed {list(packages)} but {binary} is still missing")
    return binary
