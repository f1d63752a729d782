"""MINTGATE_* environment variables, parsed once into one frozen Settings.

A bad value stops start-up with a message that names the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from service import defaults as packaged
from service import envparse as parse
from service.envparse import EnvReader, SettingsError
from service.observability.clientip import Network, parse_networks
from service.observability.logs import parse_log_format
from service.observability.metrics import parse_metrics_token
from service.ratelimit import Rate, parse_rate

if TYPE_CHECKING:
    from service.gateway.settings import GatewaySettings
    from service.staging.settings import StagingSettings

__all__ = ["CONFIG_DIR", "Settings", "SettingsError"]

# The repository's config/ folder: the editable examples. The defaults are the
# package's own (service.defaults), so an installed wheel starts outside a checkout.
CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"

MAX_TOKEN_TTL = 3600

# The embedded default: a SQLite file in the current directory, created and
# migrated on first use.
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./mintgate.sqlite3"
MAX_WORKERS = 64
# Per client address: a NAT full of self-hosted runners still fits. Per publisher
# (repository or project path): a 50-job release matrix fits, a runaway loop does not.
MINT_RATE_PER_IP = Rate(120, 60)
MINT_RATE_PER_PUBLISHER = Rate(60, 60)
# Login and second-factor attempts. Per address: an office behind one NAT signing in
# at nine still fits. Per account: ten guesses in five minutes makes a 6-digit TOTP
# code (three valid at a time) a months-long search, and a password list hopeless.
LOGIN_RATE_PER_IP = Rate(30, 60)
LOGIN_RATE_PER_ACCOUNT = Rate(10, 300)
# A session lives a working day; re-confirmation covers the sensitive actions within it.
SESSION_TTL = 8 * 3600
SECRET_SCANNING_KEYS_URL = "https://api.github.com/meta/public_keys/secret_scanning"


def parse_trust_source(raw: str) -> str:
    if raw not in ("toml", "database"):
        raise ValueError("expected 'toml' or 'database'")
    return raw


def https_url_or_off(raw: str) -> str | None:
    # https only: these keys decide which tokens get revoked.
    if raw.lower() == "off":
        return None
    if not raw.startswith("https://") or len(raw) <= len("https://"):
        raise ValueError("expected an https:// URL or 'off'")
    return raw


def iso_date(raw: str) -> date:
    return date.fromisoformat(raw)  # its ValueError already says what it wanted


def web_origin(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.path not in ("", "/"):
        raise ValueError("expected an origin like https://pypi.example.org (no path)")
    return f"{parts.scheme}://{parts.netloc}"


def smtp_url(raw: str) -> str:
    # Never echo the value: it may carry the SMTP password.
    if urlsplit(raw).scheme not in ("smtp", "smtps", "smtp+starttls") or not urlsplit(raw).hostname:
        raise ValueError(
            "expected smtp://, smtp+starttls:// or smtps://[USER:PASSWORD@]HOST[:PORT]"
        )
    return raw


@dataclass(frozen=True, slots=True)
class Settings:
    url: str = "http://127.0.0.1:8000"
    audience: str = "mintgate"
    token_audience: str = "mintgate-upload"
    host: str = "127.0.0.1"
    port: int = 8000
    issuers_file: Path = packaged.ISSUERS
    # Trusted publishers as code: on the database source, applied into it at start-up
    # (source "sync", as `mintgate publishers sync`); on "toml", the only source.
    publishers_file: Path | None = None
    # Where the exchange finds trusted publishers: "database" (the default: what the pages,
    # the API and the CLI add mints) or "toml" (publishers_file alone, a file-only deployment).
    trust_source: str = "database"
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
    common_passwords_file: Path = packaged.COMMON_PASSWORDS
    secret_key_file: Path | None = None
    # WebAuthn: credentials are bound to the RP id; assertions must come from the origin.
    webauthn_rp_id: str = "localhost"
    webauthn_origin: str = "http://localhost:8000"
    # After this date every maintainer without 2FA is held at enrolment.
    two_factor_required_from: date | None = None
    smtp_url: str | None = None  # unset: security notifications are logged, not mailed
    smtp_from: str = "mintgate@localhost"
    # Ed25519 PEM that signs API tokens (biscuits); unset: ephemeral, with a loud warning.
    api_token_key_file: Path | None = None
    # GitHub's secret-scanning partner keys; None switches the endpoint off.
    secret_scanning_keys_url: str | None = SECRET_SCANNING_KEYS_URL
    log_format: str = "json"
    metrics_token: str | None = field(default=None, repr=False)
    trusted_proxies: tuple[Network, ...] = ()
    rate_limit_shared: bool = False
    # With Redis and the database source: each mint's record rides the replay claim
    # (trust/journal.py) instead of its own SQL transaction before the answer.
    mint_journal: bool = True
    rate_limit_mint_ip: Rate | None = MINT_RATE_PER_IP
    rate_limit_mint_publisher: Rate | None = MINT_RATE_PER_PUBLISHER
    rate_limit_login_ip: Rate | None = LOGIN_RATE_PER_IP
    rate_limit_login_account: Rate | None = LOGIN_RATE_PER_ACCOUNT
    session_ttl: int = SESSION_TTL
    # `mintgate db sweep` deletes audit events older than this many days; unset: kept for ever.
    audit_retention_days: int | None = None
    # Staged publishing: where staged files wait and where approved ones go (MINTGATE_STAGING_*).
    staging: StagingSettings | None = None
    # The upload endpoint /legacy/ in this process (MINTGATE_GATEWAY_*, gateway/embedded.py).
    gateway: GatewaySettings | None = None

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
            publishers_file=r.get("PUBLISHERS_FILE", parse.existing_file, None),
            trust_source=r.get("TRUST_SOURCE", parse_trust_source, defaults.trust_source),
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
            webauthn_origin=r.get("WEBAUTHN_ORIGIN", web_origin, ""),
            webauthn_rp_id=r.get("WEBAUTHN_RP_ID", parse.nonempty, ""),
            two_factor_required_from=r.get("TWO_FACTOR_REQUIRED_FROM", iso_date, None),
            smtp_url=r.get("SMTP_URL", smtp_url, None),
            smtp_from=r.get("SMTP_FROM", parse.nonempty, defaults.smtp_from),
            api_token_key_file=r.get("API_TOKEN_KEY_FILE", parse.existing_file, None),
            secret_scanning_keys_url=r.get(
                "SECRET_SCANNING_KEYS_URL", https_url_or_off, defaults.secret_scanning_keys_url
            ),
            log_format=r.get("LOG_FORMAT", parse_log_format, defaults.log_format),
            metrics_token=r.get("METRICS_TOKEN", parse_metrics_token, None),
            trusted_proxies=r.get("TRUSTED_PROXIES", parse_networks, ()),
            rate_limit_shared=r.get("RATE_LIMIT_SHARED", parse.on_off, False),
            mint_journal=r.get("MINT_JOURNAL", parse.on_off, True),
            rate_limit_mint_ip=r.get("RATE_LIMIT_MINT_IP", parse_rate, defaults.rate_limit_mint_ip),
            rate_limit_mint_publisher=r.get(
                "RATE_LIMIT_MINT_PUBLISHER", parse_rate, defaults.rate_limit_mint_publisher
            ),
            rate_limit_login_ip=r.get(
                "RATE_LIMIT_LOGIN_IP", parse_rate, defaults.rate_limit_login_ip
            ),
            rate_limit_login_account=r.get(
                "RATE_LIMIT_LOGIN_ACCOUNT", parse_rate, defaults.rate_limit_login_account
            ),
            session_ttl=r.get("SESSION_TTL", parse.bounded_int(300, 7 * 86400), SESSION_TTL),
            audit_retention_days=r.get("AUDIT_RETENTION_DAYS", parse.bounded_int(1, 36500), None),
            staging=_staging(env),
        )
        settings = _webauthn_checked(settings)
        settings = _with_gateway(settings, env)
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


def _staging(env: Mapping[str, str]) -> StagingSettings | None:
    # Imported here: the staging settings reuse the gateway's, whose package imports this one.
    from service.staging.settings import StagingSettings

    return StagingSettings.from_env(env)


def _with_gateway(settings: Settings, env: Mapping[str, str]) -> Settings:
    # Imported here: the gateway's package imports this one.
    from service.gateway.embedded import embedded_settings

    return replace(settings, gateway=embedded_settings(env, settings))


def _webauthn_checked(settings: Settings) -> Settings:
    """Origin defaults to MINTGATE_URL's, RP id to the origin's host (or a parent domain)."""
    origin = settings.webauthn_origin or web_origin(settings.url)
    host = urlsplit(origin).hostname or ""
    rp_id = settings.webauthn_rp_id or host
    if host != rp_id and not host.endswith("." + rp_id):
        # WebAuthn section 5.1.3: browsers refuse any other RP id for this origin.
        raise SettingsError(
            f"MINTGATE_WEBAUTHN_RP_ID: {rp_id!r} is not {host!r} or a parent domain of it"
            " (MINTGATE_WEBAUTHN_ORIGIN)"
        )
    return replace(settings, webauthn_rp_id=rp_id, webauthn_origin=origin)
