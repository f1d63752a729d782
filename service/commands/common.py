"""What several subcommands share: loading the configuration the way `serve` does."""

from __future__ import annotations

import sys

from starlette.applications import Starlette

from service.settings import Settings, SettingsError


def load_app() -> tuple[Settings, Starlette] | None:
    """Settings from MINTGATE_* and the app built from them; None after printing why not."""
    try:
        settings = Settings.from_env()
        from service.app import create_app

        return settings, create_app(settings)
    except (SettingsError, ValueError) as exc:
        print(f"mintgate: configuration error: {exc}", file=sys.stderr)
        return None
