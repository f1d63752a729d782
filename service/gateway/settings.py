"""MINTGATE_GATEWAY_* environment variables, parsed once into one frozen GatewaySettings.

Same rules as `service.settings`: a bad value stops start-up with a message that
names the variable, and never prints a secret's value.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from service import envparse as parse
from service.apitokens.keys import KeyConfigError, load_root_key, public_key
from service.envparse import EnvReader, SettingsError
from service.settings import smtp_url

MiB = 1024 * 1024
PREFIX = "GATEWAY_"


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    # Where uploads go, e.g. "https://registry.internal/legacy/" or a pypiserver root.
    backend_url: str
    # mintgate's own URL: the `iss` of minted tokens, and where its JWKS is.
    mintgate_url: str
    # mintgate's signing key files (MINTGATE_SIGNING_KEY_FILES' list): when set, tokens are
    # checked with their public halves and the JWKS is never fetched (deploy/README.md).
    mintgate_key_files: tuple[Path, ...] = ()
    backend_username: str | None = None
    backend_password: str | None = field(default=None, repr=False)
    token_audience: str = "mintgate-upload"
    host: str = "127.0.0.1"
    port: int = 8100
    max_upload_bytes: int = 100 * MiB
    backend_timeout: float = 300.0
    allow_loopback_http: bool = False
    redis_url: str | None = None
    # With a database (mintgate's own), API tokens are accepted too, checked against
    # its state at every upload; without one the gateway stays offline and minted-only.
    database_url: str | None = field(default=None, repr=False)
    # ed25519/<hex>: mintgate's API token root key (or read from its key file, _KEY_FILE)
    api_token_public_key: str | None = None
    # Staged publishing: where staged files are written (shared with `mintgate serve`,
    # MINTGATE_STAGING_DIR); projects that ask for it get their minted-token uploads staged.
    staging_dir: Path | None = None
    staging_ttl: int = 7 * 86400
    # Maintainers are told of staged uploads; unset: logged. Its password stays out of reprs.
    smtp_url: str | None = field(default=None, repr=False)
    smtp_from: str = "mintgate@localhost"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GatewaySettings:
        env = os.environ if env is None else env
        r = EnvReader(env)
        backend = _required(r, "BACKEND_URL", backend_url)
        mintgate_url = _required(r, "MINTGATE_URL", parse.http_url)
        username = r.get(f"{PREFIX}BACKEND_USERNAME", str, None)
        password = backend_password(r, PREFIX)
        if (username is None) != (password is None):
            raise SettingsError(
                f"MINTGATE_{PREFIX}BACKEND_USERNAME and MINTGATE_{PREFIX}BACKEND_PASSWORD"
                " (or _PASSWORD_FILE) must be set together"
            )
        defaults = cls(backend_url=backend, mintgate_url=mintgate_url)
        return cls(
            backend_url=backend,
            mintgate_url=mintgate_url,
            mintgate_key_files=r.get(f"{PREFIX}MINTGATE_KEY_FILES", parse.existing_files, ()),
            backend_username=username,
            backend_password=password,
            token_audience=r.get(f"{PREFIX}TOKEN_AUDIENCE", str, defaults.token_audience),
            host=r.get(f"{PREFIX}HOST", str, defaults.host),
            port=r.get(f"{PREFIX}PORT", parse.port_number, defaults.port),
            max_upload_bytes=r.get(
                f"{PREFIX}MAX_UPLOAD_BYTES", parse.bounded_int(1024, 10 * 1024 * MiB), 100 * MiB
            ),
            backend_timeout=r.get(
                f"{PREFIX}BACKEND_TIMEOUT", parse.seconds, defaults.backend_timeout
            ),
            allow_loopback_http=r.get(f"{PREFIX}ALLOW_LOOPBACK_HTTP", parse.on_off, False),
            redis_url=r.get(f"{PREFIX}REDIS_URL", parse.redis_url, None),
            database_url=r.get(f"{PREFIX}DATABASE_URL", parse.database_url, None),
            api_token_public_key=_api_token_public_key(r),
            staging_dir=r.get(f"{PREFIX}STAGING_DIR", Path, None),
            staging_ttl=r.get(
                f"{PREFIX}STAGING_TTL", parse.bounded_int(3600, 90 * 86400), defaults.staging_ttl
            ),
            smtp_url=r.get(f"{PREFIX}SMTP_URL", smtp_url, None),
            smtp_from=r.get(f"{PREFIX}SMTP_FROM", parse.nonempty, defaults.smtp_from),
        ).checked()

    def checked(self) -> GatewaySettings:
        uses_database = self.api_token_public_key is not None or self.staging_dir is not None
        if (self.database_url is None) == uses_database:
            raise SettingsError(
                f"MINTGATE_{PREFIX}DATABASE_URL goes with MINTGATE_{PREFIX}API_TOKEN_PUBLIC_KEY"
                f" or MINTGATE_{PREFIX}STAGING_DIR (or both): API tokens are verified with the"
                " key, then against the database; staged releases are recorded in it"
            )
        return self


def _api_token_public_key(r: EnvReader) -> str | None:
    """The public half, given as text or read from the service's own key file (deploy/)."""
    inline = r.get(f"{PREFIX}API_TOKEN_PUBLIC_KEY", _public_key, None)
    path = r.get(f"{PREFIX}API_TOKEN_KEY_FILE", parse.existing_file, None)
    if path is None:
        return inline
    if inline is not None:
        raise SettingsError(
            f"MINTGATE_{PREFIX}API_TOKEN_PUBLIC_KEY and MINTGATE_{PREFIX}API_TOKEN_KEY_FILE"
            " are exclusive"
        )
    try:
        return load_root_key(path).public_text
    except KeyConfigError as exc:
        raise SettingsError(f"MINTGATE_{PREFIX}API_TOKEN_KEY_FILE: {exc}") from None


def _public_key(raw: str) -> str:
    try:
        public_key(raw)
    except KeyConfigError as exc:
        raise ValueError(str(exc)) from None
    return raw.strip()


def _required(r: EnvReader, name: str, parser: Callable[[str], str]) -> str:
    value = r.get(f"{PREFIX}{name}", parser, None)
    if value is None:
        raise SettingsError(f"MINTGATE_{PREFIX}{name} is required")
    return value


def backend_url(raw: str) -> str:
    # Unlike mintgate's own URL a trailing slash is allowed: "/legacy/" is the usual upload path.
    scheme, sep, rest = raw.partition("://")
    if "@" in rest.split("/")[0]:
        # Credentials in a URL end up in logs and tracebacks (and in this message): not here.
        raise ValueError("put credentials in the BACKEND_USERNAME/_PASSWORD variables")
    if scheme not in ("http", "https") or not sep or not rest:
        raise ValueError(f"expected an http(s) URL, got {raw!r}")
    return raw


def backend_password(r: EnvReader, prefix: str) -> str | None:
    inline = r.get(f"{prefix}BACKEND_PASSWORD", str, None)
    path = r.get(f"{prefix}BACKEND_PASSWORD_FILE", Path, None)
    if inline is not None and path is not None:
        raise SettingsError(
            f"MINTGATE_{prefix}BACKEND_PASSWORD and MINTGATE_{prefix}BACKEND_PASSWORD_FILE"
            " are exclusive"
        )
    if path is None:
        return inline
    try:
        # One trailing newline is what `echo secret > file` leaves; it is not part of the secret.
        secret = path.read_text().removesuffix("\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(
            f"MINTGATE_{prefix}BACKEND_PASSWORD_FILE: cannot read {path} ({type(exc).__name__})"
        ) from None
    if not secret:
        raise SettingsError(f"MINTGATE_{prefix}BACKEND_PASSWORD_FILE: {path} is empty")
    return secret
