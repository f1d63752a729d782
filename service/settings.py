"""MINTGATE_* environment variables, parsed once into one frozen Settings.

A bad value stops start-up with a message that names the variable.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

# The repository's config/ folder: the quick start runs from a checkout or an
# editable install, and these are its defaults.
CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"

MAX_TOKEN_TTL = 3600


class SettingsError(ValueError):
    """A MINTGATE_* variable has a value we will not start with."""


@dataclass(frozen=True, slots=True)
class Settings:
    url: str = "http://127.0.0.1:8000"
    audience: str = "mintgate"
    token_audience: str = "mintgate-upload"
    host: str = "127.0.0.1"
    port: int = 8000
    issuers_file: Path = CONFIG_DIR / "issuers.toml"
    publishers_file: Path = CONFIG_DIR / "publishers.example.toml"
    signing_key_files: tuple[Path, ...] = ()
    redis_url: str | None = None
    token_ttl: int = 900
    leeway: int = 30
    trusted_publishing: bool = True
    disabled_providers: frozenset[str] = frozenset()
    jwks_default_ttl: float = 300.0
    jwks_min_ttl: float = 60.0
    jwks_max_ttl: float = 3600.0
    jwks_cooldown: float = 60.0
    jwks_max_stale: float = 86400.0
    jwks_timeout: float = 5.0
    jwks_allow_loopback_http: bool = False
    jwks_shared: bool = False
    replay_max_entries: int = 1_000_000
    tls_cert: Path | None = None
    tls_key: Path | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        r = _Reader(env)
        defaults = cls()
        settings = cls(
            url=r.get("URL", _url, defaults.url),
            audience=r.get("AUDIENCE", _nonempty, defaults.audience),
            token_audience=r.get("TOKEN_AUDIENCE", _nonempty, defaults.token_audience),
            host=r.get("HOST", _nonempty, defaults.host),
            port=r.get("PORT", _port, defaults.port),
            issuers_file=r.get("ISSUERS_FILE", _file, defaults.issuers_file),
            publishers_file=r.get("PUBLISHERS_FILE", _file, defaults.publishers_file),
            signing_key_files=r.get("SIGNING_KEY_FILES", _files, ()),
            redis_url=r.get("REDIS_URL", _redis_url, None),
            token_ttl=r.get("TOKEN_TTL", _bounded_int(60, MAX_TOKEN_TTL), defaults.token_ttl),
            leeway=r.get("LEEWAY", _bounded_int(0, 300), defaults.leeway),
            trusted_publishing=r.get("TRUSTED_PUBLISHING", _bool, True),
            disabled_providers=r.get("DISABLED_PROVIDERS", _names, frozenset()),
            jwks_default_ttl=r.get("JWKS_DEFAULT_TTL", _seconds, defaults.jwks_default_ttl),
            jwks_min_ttl=r.get("JWKS_MIN_TTL", _seconds, defaults.jwks_min_ttl),
            jwks_max_ttl=r.get("JWKS_MAX_TTL", _seconds, defaults.jwks_max_ttl),
            jwks_cooldown=r.get("JWKS_COOLDOWN", _seconds, defaults.jwks_cooldown),
            jwks_max_stale=r.get("JWKS_MAX_STALE", _seconds, defaults.jwks_max_stale),
            jwks_timeout=r.get("JWKS_TIMEOUT", _seconds, defaults.jwks_timeout),
            jwks_allow_loopback_http=r.get("JWKS_ALLOW_LOOPBACK_HTTP", _bool, False),
            jwks_shared=r.get("JWKS_SHARED", _bool, False),
            replay_max_entries=r.get(
                "REPLAY_MAX_ENTRIES", _bounded_int(1000, 100_000_000), defaults.replay_max_entries
            ),
            tls_cert=r.get("TLS_CERT", _file, None),
            tls_key=r.get("TLS_KEY", _file, None),
        )
        if (settings.tls_cert is None) != (settings.tls_key is None):
            raise SettingsError("MINTGATE_TLS_CERT and MINTGATE_TLS_KEY must be set together")
        if not settings.jwks_min_ttl <= settings.jwks_default_ttl <= settings.jwks_max_ttl:
            raise SettingsError(
                "MINTGATE_JWKS_MIN_TTL <= MINTGATE_JWKS_DEFAULT_TTL <= MINTGATE_JWKS_MAX_TTL"
                " must hold"
            )
        return settings


class _Reader:
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


def _nonempty(raw: str) -> str:
    return raw


def _url(raw: str) -> str:
    if not raw.startswith(("https://", "http://")) or raw.endswith("/"):
        raise ValueError(f"expected an http(s) URL without a trailing slash, got {raw!r}")
    return raw


def _redis_url(raw: str) -> str:
    if not raw.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("expected a redis://, rediss:// or unix:// URL")
    return raw


def _port(raw: str) -> int:
    return _bounded_int(1, 65535)(raw)


def _bounded_int(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = int(raw)
        if not low <= value <= high:
            raise ValueError(f"expected a whole number from {low} to {high}, got {value}")
        return value

    return parse


def _seconds(raw: str) -> float:
    value = float(raw)
    if not 0 <= value <= 30 * 86400:
        raise ValueError(f"expected seconds from 0 to 2592000, got {raw}")
    return value


def _bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"expected on/off, true/false, 1/0, got {raw!r}")


def _names(raw: str) -> frozenset[str]:
    return frozenset(part.strip().lower() for part in raw.split(",") if part.strip())


def _file(raw: str) -> Path:
    path = Path(raw)
    if not path.is_file():
        raise ValueError(f"no such file: {raw}")
    return path


def _files(raw: str) -> tuple[Path, ...]:
    paths = tuple(_file(part.strip()) for part in raw.split(",") if part.strip())
    if not paths:
        raise ValueError("expected a comma-separated list of PEM files")
    return paths
