"""Debian's Chromium for the browser tests: installed with apt when missing, never downloaded
by Playwright (`playwright install` fetches browser builds from outside the registries)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
# fonts-liberation: without a font the screenshots are boxes; the rest of Chromium's
# recommends (drivers, sandbox helpers) are not needed headless.
PACKAGES = ("chromium", "fonts-liberation")
APT_TIMEOUT = 900


def ensure_chromium() -> Path:
    """The browser's path, after `apt-get install` when it is missing (root, as CI runs)."""
    if CHROMIUM.exists():
        return CHROMIUM
    apt = shutil.which("apt-get")
    if apt is None:
        raise RuntimeError(f"{CHROMIUM} is missing and there is no apt-get to install it")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        [apt, "update"],
        [apt, "install", "-y", "--no-install-recommends", *PACKAGES],
    ):
        done = subprocess.run(  # noqa: S603 (fixed apt-get commands)
            command, env=env, capture_output=True, text=True, timeout=APT_TIMEOUT, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}{done.stderr}")
    if not CHROMIUM.exists():
        raise RuntimeError(f"apt-get installed {PACKAGES} but {CHROMIUM} is still missing")
    return CHROMIUM


if __name__ == "__main__":
    print(ensure_chromium())
