"""MINTGATE_* environment variables, parsed once into one frozen Settings.

A bad value stops start-up with a message that names the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from service import envparse as parse
from service.envparse import EnvReader, SettingsError

__all__ = ["CONFIG_DIR", "Settings", "SettingsError"]

# The repository's config/ folder: the quick start runs from a checkout or an
# editable install, and these are its defaults.
CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"

MAX_TOKEN_TTL = 3600

# The embedded default: a SQLite file in the current directory, created and
# migrated on first use.
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./mintgate.sqlite3"
MAX_WORKERS = 64


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
    oauth_clients_file: Path | None = None
    workers: int = 1
    database_url: str = DEFAULT_DATABASE_URL
    pwned_passwords_url: str | None = "https://api.pwnedpasswords.com"
    common_passwords_file: Path = CONFIG_DIR / "common-passwords.txt"
    secret_key_file: Path | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        r = EnvReader(env)
        defaults = cls()
        settings = cls(
            url=r.get("URL", parse.http_url, defaults.url),
            audience=r.get("AUDIENCE", parse.nonempty, defaults.audience),
            token_audience=r.get("TOKEN_AUDIENCE", parse.nonempty, defaults.token_audience),
            host=r.get("HOST", parse.nonempty, defaults.host),
            port=r.get("PORT", parse.port_number, defaults.port),
            issuers_file=r.get("ISSUERS_FILE", parse.existing_file, defaults.issuers_file),
            publishers_file=r.get("PUBLISHERS_FILE", parse.existing_file, defaults.publishers_file),
            signing_key_files=r.get("SIGNING_KEY_FILES", parse.existing_files, ()),
            redis_url=r.get("REDIS_URL", parse.redis_url, None),
            token_ttl=r.get("TOKEN_TTL", parse.bounded_int(60, MAX_TOKEN_TTL), defaults.token_ttl),
            leeway=r.get("LEEWAY", parse.bounded_int(0, 300), defaults.leeway),
            trusted_publishing=r.get("TRUSTED_PUBLISHING", parse.on_off, True),
            disabled_providers=r.get("DISABLED_PROVIDERS", parse.name_set, frozenset()),
            jwks_default_ttl=r.get("JWKS_DEFAULT_TTL", parse.seconds, defaults.jwks_default_ttl),
            jwks_min_ttl=r.get("JWKS_MIN_TTL", parse.seconds, defaults.jwks_min_ttl),
            jwks_max_ttl=r.get("JWKS_MAX_TTL", parse.seconds, defaults.jwks_max_ttl),
            jwks_cooldown=r.get("JWKS_COOLDOWN", parse.seconds, defaults.jwks_cooldown),
            jwks_max_stale=r.get("JWKS_MAX_STALE", parse.seconds, defaults.jwks_max_stale),
            jwks_timeout=r.get("JWKS_TIMEOUT", parse.seconds, defaults.jwks_timeout),
            jwks_allow_loopback_http=r.get("JWKS_ALLOW_LOOPBACK_HTTP", parse.on_off, False),
            jwks_shared=r.get("JWKS_SHARED", parse.on_off, False),
            replay_max_entries=r.get(
                "REPLAY_MAX_ENTRIES",
                parse.bounded_int(1000, 100_000_000),
                defaults.replay_max_entries,
            ),
            tls_cert=r.get("TLS_CERT", parse.existing_file, None),
            tls_key=r.get("TLS_KEY", parse.existing_file, None),
            oauth_clients_file=r.get("OAUTH_CLIENTS_FILE", parse.existing_file, None),
            workers=r.get("WORKERS", parse.bounded_int(1, MAX_WORKERS), defaults.workers),
            database_url=r.get("DATABASE_URL", parse.database_url, defaults.database_url),
            pwned_passwords_url=r.get(
                "PWNED_PASSWORDS_URL", parse.optional_url, defaults.pwned_passwords_url
            ),
            common_passwords_file=r.get(
                "COMMON_PASSWORDS_FILE", parse.existing_file, defaults.common_passwords_file
            ),
            secret_key_file=r.get("SECRET_KEY_FILE", parse.existing_file, None),
        )
        if (settings.tls_cert is None) != (settings.tls_key is None):
            raise SettingsError("MINTGATE_TLS_CERT and MINTGATE_TLS_KEY must be set together")
        if settings.workers > 1 and not (settings.signing_key_files and settings.redis_url):
            # Each worker process would make its own ephemeral key and its own in-memory
            # replay store: a token could then be replayed once per worker.
            raise SettingsError(
                f"MINTGATE_WORKERS={settings.workers} needs MINTGATE_SIGNING_KEY_FILES and"
                " MINTGATE_REDIS_URL: every worker must sign with the same keys and share one"
                " replay store"
            )
        if not settings.jwks_min_ttl <= settings.jwks_default_ttl <= settings.jwks_max_ttl:
            raise SettingsError(
                "MINTGATE_JWKS_MIN_TTL <= MINTGATE_JWKS_DEFAULT_TTL <= MINTGATE_JWKS_MAX_TTL"
                " must hold"
            )
        return settings
