"""create_app(settings): wiring only, and the one place concrete clients are built."""

from __future__ import annotations

import contextlib
import logging
import ssl
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx
import redis.asyncio as aioredis
from starlette.applications import Starlette

import jwks_cache
from service.exchange import Exchange
from service.http import health, oauth, oidc, wellknown
from service.issuers import Issuers, load_issuers
from service.minting.keys import (
    KeyConfigError,
    SigningKeys,
    ephemeral_signing_keys,
    load_signing_keys,
)
from service.minting.tokens import Minter
from service.oauth.authority import Authority
from service.oauth.clients import load_clients
from service.replay import MemoryReplayStore, RedisReplayStore, ReplayStore
from service.revocation import MemoryRevocationStore, RedisRevocationStore, RevocationStore
from service.settings import Settings, SettingsError
from service.trust.toml import load_trust

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Overrides:
    """Seams for tests: an HTTP client (respx or ASGI transport), a Redis client, a clock."""

    http_client: httpx.AsyncClient | None = None
    redis: aioredis.Redis | None = None
    clock: Callable[[], float] = time.time
    signing_keys: SigningKeys | None = None
    revocations: RevocationStore | None = None


def redis_client(url: str) -> aioredis.Redis:
    # Short timeouts: a Redis that does not answer must turn into a quick 503, not a hang.
    return aioredis.Redis.from_url(
        url, socket_timeout=1.0, socket_connect_timeout=1.0, health_check_interval=30
    )


def key_cache(
    issuers: Issuers,
    settings: Settings,
    client: httpx.AsyncClient,
    *,
    shared: jwks_cache.SharedKeyStore | None,
    clock: Callable[[], float],
) -> jwks_cache.JWKSCache:
    sources = [
        jwks_cache.IssuerSource(i.url, jwks_uri=i.jwks_uri, allowed_hosts=i.jwks_hosts)
        for i in issuers.values()
    ]
    fetcher = jwks_cache.HttpKeyFetcher(
        client,
        timeout=httpx.Timeout(settings.jwks_timeout),
        allow_loopback_http=settings.jwks_allow_loopback_http,
    )
    return jwks_cache.JWKSCache(
        sources,
        fetcher,
        clock=clock,
        default_ttl=settings.jwks_default_ttl,
        min_ttl=settings.jwks_min_ttl,
        max_ttl=settings.jwks_max_ttl,
        unknown_kid_cooldown=settings.jwks_cooldown,
        max_stale=settings.jwks_max_stale,
        shared=shared,
    )


def signing_keys(settings: Settings) -> SigningKeys:
    if not settings.signing_key_files:
        return ephemeral_signing_keys()
    try:
        return load_signing_keys(settings.signing_key_files)
    except KeyConfigError as exc:
        raise SettingsError(f"MINTGATE_SIGNING_KEY_FILES: {exc}") from None


def check_tls(settings: Settings) -> None:
    """Load the certificate now, so a bad file stops start-up naming the variables."""
    if settings.tls_cert is None or settings.tls_key is None:
        return
    try:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(settings.tls_cert, settings.tls_key)
    except (ssl.SSLError, OSError) as exc:
        raise SettingsError(
            f"MINTGATE_TLS_CERT / MINTGATE_TLS_KEY: not a matching PEM certificate and key"
            f" ({type(exc).__name__})"
        ) from None


def create_app(settings: Settings, overrides: Overrides | None = None) -> Starlette:
    seams = overrides or Overrides()
    check_tls(settings)
    issuers = load_issuers(
        settings.issuers_file, audience=settings.audience, leeway=settings.leeway
    )
    trust = load_trust(settings.publishers_file, issuers)
    keys = seams.signing_keys or signing_keys(settings)
    client = seams.http_client or httpx.AsyncClient(follow_redirects=False)
    redis = seams.redis
    if redis is None and settings.redis_url:
        redis = redis_client(settings.redis_url)
    replay: ReplayStore = (
        RedisReplayStore(redis)
        if redis is not None
        else MemoryReplayStore(max_entries=settings.replay_max_entries, clock=seams.clock)
    )
    # Every check asks Redis, so a revocation holds on every replica at once.
    revocations: RevocationStore
    if seams.revocations is not None:
        revocations = seams.revocations
    elif redis is not None:
        revocations = RedisRevocationStore(redis)
    else:
        revocations = MemoryRevocationStore(clock=seams.clock)
    # Opt-in: whoever can write these Redis keys can plant a verification key.
    shared = (
        jwks_cache.RedisSharedKeys(redis) if redis is not None and settings.jwks_shared else None
    )
    exchange = Exchange(
        issuers=issuers,
        keys=key_cache(issuers, settings, client, shared=shared, clock=seams.clock),
        trust=trust,
        replay=replay,
        minter=Minter(
            keys, issuer=settings.url, audience=settings.token_audience, ttl=settings.token_ttl
        ),
        enabled=settings.trusted_publishing,
        disabled_providers=settings.disabled_providers,
        clock=seams.clock,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        log.info(
            "mintgate ready: %d issuers, %d trusted publishers, replay store %s",
            len(issuers),
            len(trust),
            type(replay).__name__,
        )
        try:
            yield
        finally:
            if seams.http_client is None:
                await client.aclose()
            if seams.redis is None and redis is not None:
                await redis.aclose()

    app = Starlette(
        routes=[*oidc.routes, *wellknown.routes, *health.routes, *oauth.routes], lifespan=lifespan
    )
    app.state.settings = settings
    app.state.exchange = exchange
    app.state.public_jwks = keys.public_jwks()
    app.state.revocations = revocations
    app.state.oauth = Authority(
        keys,
        issuer=settings.url,
        audience=settings.token_audience,
        revocations=revocations,
        clock=seams.clock,
    )
    app.state.oauth_clients = load_clients(settings.oauth_clients_file)
    return app
