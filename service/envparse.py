"""Reading MINTGATE_* variables: one reader, and parsers that say what they expected.

Shared by every settings object (the service's, the gateway's), so that a bad
value stops start-up the same way everywhere: naming the variable, never
echoing a secret.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


class SettingsError(ValueError):
    """A MINTGATE_* variable has a value we will not start with."""


class EnvReader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def get(self, name: str, parse: Callable[[str], T], default: T) -> T:
        raw = self.env.get(f"MINTGATE_{name}")
        if raw is None or raw.strip() == "":
            return default
        try:
            return parse(raw.strip())
        except (ValueError, TypeError) as exc:
            raise SettingsError(f"MINTGATE_{name}: {exc}") from None


def nonempty(raw: str) -> str:
    return raw


def http_url(raw: str) -> str:
    if not raw.startswith(("https://", "http://")) or raw.endswith("/"):
        raise ValueError(f"expected an http(s) URL without a trailing slash, got {raw!r}")
    return raw


def redis_url(raw: str) -> str:
    if not raw.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("expected a redis://, rediss:// or unix:// URL")
    return raw


def port_number(raw: str) -> int:
    return bounded_int(1, 65535)(raw)


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = int(raw)
        if not low <= value <= high:
            raise ValueError(f"expected a whole number from {low} to {high}, got {value}")
        return value

    return parse


def seconds(raw: str) -> float:
    value = float(raw)
    if not 0 <= value <= 30 * 86400:
        raise ValueError(f"expected seconds from 0 to 2592000, got {raw}")
    return value


def on_off(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"expected on/off, true/false, 1/0, got {raw!r}")


def name_set(raw: str) -> frozenset[str]:
    return frozenset(part.strip().lower() for part in raw.split(",") if part.strip())


def existing_file(raw: str) -> Path:
    path = Path(raw)
    if not path.is_file():
        raise ValueError(f"no such file: {raw}")
    return path


def existing_files(raw: str) -> tuple[Path, ...]:
    paths = tuple(existing_file(part.strip()) for part in raw.split(",") if part.strip())
    if not paths:
        raise ValueError("expected a comma-separated list of PEM files")
    return paths


# The async driver we ship for each accepted scheme.
DATABASE_SCHEMES = {
    "sqlite+aiosqlite:///": "sqlite+aiosqlite:///",
    "sqlite:///": "sqlite+aiosqlite:///",
    "postgresql+asyncpg://": "postgresql+asyncpg://",
    "postgresql://": "postgresql+asyncpg://",
    "postgres://": "postgresql+asyncpg://",
}


def database_url(raw: str) -> str:
    for scheme, driver in DATABASE_SCHEMES.items():
        if raw.startswith(scheme) and len(raw) > len(scheme):
            return driver + raw[len(scheme) :]
    # Never echo the value: a database URL may carry a password.
    raise ValueError("expected sqlite:///PATH or postgresql://USER@HOST/DATABASE")


def optional_url(raw: str) -> str | None:
    if raw.lower() == "off":
        return None
    return http_url(raw)
