"""What several subcommands share: loading the configuration the way `serve` does,
and opening the store, each printing why not (the caller exits 2)."""

from __future__ import annotations

import sys

from starlette.applications import Starlette

from service.settings import Settings, SettingsError
from service.store import Store, StoreError, open_store


def load_app() -> tuple[Settings, Starlette] | None:
    """Settings from MINTGATE_* and the app built from them; None after printing why not."""
    try:
        settings = Settings.from_env()
        from service.app import create_app

        return settings, create_app(settings)
    except (SettingsError, ValueError) as exc:
        print(f"mintgate: configuration error: {exc}", file=sys.stderr)
        return None


def load_settings() -> Settings | None:
    """Settings from MINTGATE_*; None after printing why not."""
    try:
        return Settings.from_env()
    except SettingsError as exc:
        print(f"mintgate: configuration error: {exc}", file=sys.stderr)
        return None


async def connect(settings: Settings) -> Store | None:
    """The configured store, open; None after printing why not."""
    try:
        return await open_store(settings.database_url)
    except (StoreError, OSError) as exc:
        print(f"mintgate: {exc}", file=sys.stderr)
        return None
