"""create_app(settings): wiring only. The builders it calls live in wiring.py."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace

import httpx
import redis.asyncio as aioredis
from starlette.applications import Starlette

import jwks_cache
from service import web
from service.accounts.breach import PwnedPasswords
from service.accounts.passwords import Passwords
from service.apitokens.keys import configured_root_key
from service.errors import refusal_response
from service.exchange import Exchange
from service.gateway.embedded import upload_routes
from service.http import api, health, oauth, oidc, scanning, wellknown
from service.http.api.state import build_state
from service.issuers import load_issuers
from service.minting.keys import (
    SigningKeys,
)
from service.minting.tokens import Minter
from service.oauth.authority import Authority
from service.oauth.clients import load_clients
from service.observability.clientip import ClientAddress
from service.observability.metrics import Metrics, metrics_route
from service.observability.middleware import ObservabilityMiddleware, RouteTemplates
from service.observability.stores import CountedRevocations
from service.ratelimit import AddressLimits
from service.redisclient import redis_client
from service.replay import MemoryReplayStore, RedisReplayStore, ReplayStore
from service.revocation import MemoryRevocationStore, RedisRevocationStore, RevocationStore
from service.settings import Settings
from service.staging.wiring import approvals as staging_approvals
from service.store import Store, open_store
from service.store.lazy import LazyStore
from service.trust.unwritten import UnwrittenMints
from service.wiring import (
    check_tls,
    key_cache,
    mint_journal,
    rate_limits,
    secret_box,
    secret_scanning,
    signing_keys,
    trust_sources,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Overrides:
    """Seams for tests: an HTTP client (respx or ASGI transport), a Redis client, a clock."""

    http_client: httpx.AsyncClient | None = None
    redis: aioredis.Redis | None = None
    clock: Callable[[], float] = time.time
    signing_keys: SigningKeys | None = None
    revocations: RevocationStore | None = None
    store: Store | None = None  # the account store; default: MINTGATE_DATABASE_URL, lazily
    passwords: Passwords | None = None  # tests use cheap argon2 parameters


def create_app(settings: Settings, overrides: Overrides | None = None) -> Starlette:
    seams = overrides or Overrides()
    check_tls(settings)
    issuers = load_issuers(
        settings.issuers_file, audience=settings.audience, leeway=settings.leeway
    )
    # Opened on first use: a database down at start-up is a 503 until it is back, not a crash.
    store = seams.store or LazyStore(lambda: open_store(settings.database_url))
    # Configuration before keys: a bad file is the first thing an operator reads about.
    sources = trust_sources(settings, issuers, store, seams.clock)
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
    metrics = Metrics()
    journal = mint_journal(settings, redis, sources, store, seams.clock, metrics)
    revocations = CountedRevocations(revocations, metrics.store_unavailable)
    limiter, per_ip, per_publisher = rate_limits(settings, redis, metrics, seams.clock)
    # Opt-in: whoever can write these Redis keys can plant a verification key.
    shared = (
        jwks_cache.RedisSharedKeys(redis) if redis is not None and settings.jwks_shared else None
    )
    cache = key_cache(issuers, settings, client, shared=shared, clock=seams.clock)
    metrics.watch_jwks(cache.stats)
    if sources.index is not None:
        metrics.watch_trust_index(sources.index.stats)
    clients = ClientAddress(settings.trusted_proxies)
    pwned = settings.pwned_passwords_url
    breaches = PwnedPasswords(client, pwned) if pwned else None
    # Read once: every token created through the API is signed with it, and secret
    # scanning recognises exactly those.
    api_root = configured_root_key(settings.api_token_key_file)
    accounts_api = build_state(
        settings,
        store=store,
        secrets=secret_box(settings),
        breaches=breaches,
        passwords=seams.passwords or Passwords(),
        limiter=limiter,
        clients=clients,
        clock=seams.clock,
        issuers=issuers,
        root_key=api_root,
    )
    accounts_api = replace(
        accounts_api,
        staging=staging_approvals(settings.staging, accounts_api.accounts, client, accounts_api.rp),
        revocations=revocations,
        unwritten=None if journal is None or redis is None else UnwrittenMints(redis, journal.key),
    )
    exchange = Exchange(
        issuers=issuers,
        keys=cache,
        trust=sources.trust,
        replay=replay,
        minter=Minter(
            keys, issuer=settings.url, audience=settings.token_audience, ttl=settings.token_ttl
        ),
        enabled=settings.trusted_publishing,
        disabled_providers=settings.disabled_providers,
        clock=seams.clock,
        observer=metrics,
        publisher_gate=per_publisher,
        pending=sources.pending,
        recorder=None if journal is not None else sources.recorder,
        journal=journal,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        log.info(
            "mintgate ready: %d issuers, %s, replay store %s",
            len(issuers),
            sources.described,
            type(replay).__name__,
        )
        jobs = sources.background()
        if journal is not None:
            jobs.append(journal.drain_forever())
        tasks = [asyncio.create_task(job) for job in jobs]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if journal is not None:
                await journal.aclose()
            await sources.aclose()
            if seams.http_client is None:
                await client.aclose()
            if seams.redis is None and redis is not None:
                await redis.aclose()
            if seams.store is None:
                await store.close()

    app = Starlette(
        routes=[
            *oidc.routes,
            *wellknown.routes,
            *health.routes,
            *oauth.routes,
            *scanning.routes,
            metrics_route(metrics, token=settings.metrics_token),
            api.mount(accounts_api, settings.url),
            web.mount(accounts_api, settings),
            *web.root(),
            # One origin: POST /legacy/ when a backend index is configured (issue 19).
            *upload_routes(
                settings,
                keys=keys,
                api_key=api_root.public_text,
                revocations=revocations,
                client=client,
                store=store,
                metrics=metrics,
                clock=seams.clock,
            ),
        ],
        lifespan=lifespan,
    )
    app.add_middleware(
        ObservabilityMiddleware,
        metrics=metrics,
        routes=RouteTemplates([*app.routes, *api.template_routes(), *web.template_routes()]),
        clients=clients,
        # Inside the timing: 429s get a request id and are timed too.
        gate=AddressLimits(
            limiter=limiter, rules=per_ip, clients=clients, respond=refusal_response
        ),
    )
    app.state.metrics = metrics
    app.state.settings = settings
    app.state.exchange = exchange
    app.state.trust_index = sources.index  # None on the TOML source
    app.state.trust_loaded = sources.loaded  # /readyz
    app.state.mint_journal = journal  # None without Redis or on the TOML source
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
    app.state.secret_scanning = secret_scanning(
        settings,
        client,
        keys,
        revocations,
        seams.clock,
        api_tokens=(api_root.public, accounts_api.accounts.deps),
    )
    return app
