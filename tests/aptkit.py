"""Debian packages the tests need (Chromium, nginx): installed with apt when missing.

Root, as CI runs; never a download from outside the package registries.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path


def ensure_installed(binary: Path, packages: Sequence[str], *, timeout: float) -> Path:
    """`binary`, after `apt-get install --no-install-recommends PACKAGES` when it is missing."""
    if binary.exists():
        return binary
    # One install at a time: the test workers (pytest-xdist) may both find it missing, and
    # a second apt-get would fail on dpkg's lock.
    with open("/tmp/mintgate-tests-apt.lock", "w") as lock:  # noqa: S108 (a lock, not data)
        fcntl.flock(lock, fcntl.LOCK_EX)
        if binary.exists():
            return binary
        return _install(binary, packages, timeout=timeout)


def _install(binary: Path, packages: Sequence[str], *, timeout: float) -> Path:
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
