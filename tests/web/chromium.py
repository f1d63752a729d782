"""Debian's Chromium for the browser tests: installed with apt when missing, never downloaded
by Playwright (`playwright install` fetches browser builds from outside the registries)."""

from __future__ import annotations

from pathlib import Path

from aptkit import ensure_installed

CHROMIUM = Path("/usr/bin/chromium")
# fonts-liberation: without a font the screenshots are boxes; the rest of Chromium's
# recommends (drivers, sandbox helpers) are not needed headless.
PACKAGES = ("chromium", "fonts-liberation")
APT_TIMEOUT = 900


def ensure_chromium() -> Path:
    """The browser's path, after `apt-get install` when it is missing (root, as CI runs)."""
    return ensure_installed(CHROMIUM, PACKAGES, timeout=APT_TIMEOUT)
