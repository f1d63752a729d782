"""The builders create_app wires together: each makes one concrete piece from Settings.

Only this module and app.py construct Redis, SQL and HTTP clients; every other
room receives a protocol.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import httpx
import redis.asyncio as aioredis
from biscuit_auth import PublicKey
from sqlalchemy.exc import SQLAlchemyError
from starlette.routing import Route

import jwks_cache
from service import defaults as packaged
from service.accounts.core import Context, Deps
from service.accounts.publisher_sync import read_specs, sync_specs
from service.accounts.secretbox import (
    SecretBox,
    SecretKeyError,
    ephemeral_secret_box,
    load_secret_box,
)
from service.accounts.tokens import revoke_token
from service.exchange import MintRecorder
from service.http import oidc
from service.issuers import Issuers
from service.minting.keys import (
    KeyConfigError,
    SigningKeys,
    ephemeral_signing_keys,
    load_signing_keys,
)
from service.oauth.authority import OwnKeys
from service.observability.metrics import Metrics
from service.publishers.base import Refusal
from service.ratelimit import (
    Limit,
    MemoryWindows,
    PublisherLimit,
    RateLimiter,
    RedisWindows,
)
from service.revocation import RevocationStore, RevocationUnavailable
from service.scanning.cache import PublicKeyCache
from service.scanning.fetch import HttpPublicKeyFetcher
from service.scanning.partner import GitHubPartner
from service.scanning.revokers import ApiTokenRevoker, MintedTokenRevoker, TokenRevoker
from service.settings import Settings, SettingsError
from service.store import Store, StoreError
from service.trust import TrustStore, TrustUnavailable
from service.trust.index import TrustIndex
from service.trust.journal import RedisMintJournal, journal_key
from service.trust.pending import PendingTrust
from service.trust.records import SqlMintRecorder
from service.trust.sql import SqlPendingTrust, SqlTrustFeed, SqlTrustStore
from service.trust.startup import FileApplied
from service.trust.toml import TrustConfigError, load_trust

log = logging.getLogger(__name__)

# The audit trail's actor for publishers applied from MINTGATE_PUBLISHERS_FILE.
FILE_ACTOR = "operator:publishers-file"


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


def secret_box(settings: Settings) -> SecretBox:
    if settings.secret_key_file is None:
        return ephemeral_secret_box()  # warns loudly: TOTP seeds die with the process
    try:
        return load_secret_box(settings.secret_key_file)
    except SecretKeyError as exc:
        raise SettingsError(f"MINTGATE_SECRET_KEY_FILE: {exc}") from None


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


def secret_scanning(
    settings: Settings,
    client: httpx.AsyncClient,
    keys: SigningKeys,
    revocations: RevocationStore,
    clock: Callable[[], float],
    api_tokens: tuple[PublicKey, Deps] | None = None,
) -> GitHubPartner | None:
    if settings.secret_scanning_keys_url is None:
        return None
    try:
        fetcher = HttpPublicKeyFetcher(client, settings.secret_scanning_keys_url)
    except ValueError as exc:
        raise SettingsError(f"MINTGATE_SECRET_SCANNING_KEYS_URL: {exc}") from None
    minted = MintedTokenRevoker(
        OwnKeys(keys, issuer=settings.url),
        issuer=settings.url,
        audience=settings.token_audience,
        revocations=revocations,
        clock=clock,
    )
    revokers: list[TokenRevoker] = [minted]
    if api_tokens is not None:
        # The key the API signs with, ephemeral or not: whatever it signed can leak.
        root, deps = api_tokens
        revokers.append(ApiTokenRevoker(root, store_revoker(deps)))
    return GitHubPartner(PublicKeyCache(fetcher, clock=clock), revokers)


def store_revoker(deps: Deps) -> Callable[[str], Awaitable[bool]]:
    """Revoke an API token id in the store, as the scanner: audited, the owner notified."""
    actor = Context(actor="secret-scanning:github")

    async def revoke(token_id: str) -> bool:
        try:
            result = await revoke_token(deps, actor, token_id, operator=True)
        except (SQLAlchemyError, StoreError, OSError) as exc:
            raise RevocationUnavailable(f"store: {type(exc).__name__}") from None
        return not isinstance(result, Refusal)

    return revoke


def rate_limits(
    settings: Settings,
    redis: aioredis.Redis | None,
    metrics: Metrics,
    clock: Callable[[], float],
) -> tuple[RateLimiter, dict[str, Limit], PublisherLimit | None]:
    """The limiter, per-address rules by path, and the per-publisher gate the exchange
    asks after verification.

    Counted in each process unless MINTGATE_RATE_LIMIT_SHARED: sharing costs one Redis
    round trip per limit per request, which measured as a third of a mint's budget.
    """
    shared = redis is not None and settings.rate_limit_shared
    limiter = RateLimiter(
        RedisWindows(redis) if shared and redis is not None else MemoryWindows(),
        clock=clock,
        on_limited=metrics.limited,
        on_unavailable=metrics.store_unavailable,
    )
    rules: dict[str, Limit] = {}
    if settings.rate_limit_mint_ip is not None:
        per_ip = Limit("mint-ip", settings.rate_limit_mint_ip, "address")
        mint_paths = [
            r.path for r in oidc.routes if isinstance(r, Route) and r.endpoint is oidc.mint_token
        ]
        rules.update(dict.fromkeys(mint_paths, per_ip))
    per_publisher = None
    if settings.rate_limit_mint_publisher is not None:
        limit = Limit("mint-publisher", settings.rate_limit_mint_publisher, "publisher")
        per_publisher = PublisherLimit(limiter, limit)
    return limiter, rules, per_publisher


@dataclass(frozen=True, slots=True)
class TrustSources:
    """What the exchange reads trust through, and what the app's lifespan keeps running."""

    trust: TrustStore
    pending: PendingTrust | None
    recorder: MintRecorder | None
    described: str  # for the start-up log
    index: TrustIndex | None = None
    file: FileApplied | None = None

    def background(self) -> list[Coroutine[Any, Any, None]]:
        """What the app's lifespan runs until shutdown: the file applied (retried until it
        is) and the index following the change feed."""
        jobs = []
        if self.file is not None:
            jobs.append(self.file.keep_trying())
        if self.index is not None:
            jobs.append(self.index.follow())
        return jobs

    async def loaded(self) -> bool:
        """Trust has been read once: the publishers file applied and the change feed
        followed (tried now, if not yet). Until then every mint is a 503, so the replica
        is not ready; once loaded, a later outage is the exchange's 503 to answer."""
        try:
            if self.file is not None:
                await self.file.ensure()
            if self.index is not None and not self.index.followed:
                await self.index.caught_up()
        except TrustUnavailable:
            return False
        return True

    async def aclose(self) -> None:
        """Before the store closes: no poll, file sync or mint record still running."""
        for part in (self.file, self.index, self.recorder):
            if isinstance(part, FileApplied | TrustIndex | SqlMintRecorder):
                await part.aclose()


def mint_journal(
    settings: Settings,
    redis: aioredis.Redis | None,
    sources: TrustSources,
    store: Store,
    clock: Callable[[], float],
    metrics: Metrics,
) -> RedisMintJournal | None:
    """With Redis and the database source, each mint's record rides its replay claim
    (trust/journal.py): no SQL round trip before the answer. Without Redis, or with
    MINTGATE_MINT_JOURNAL=off, the recorder commits each batch before answering."""
    if redis is None or sources.recorder is None or not settings.mint_journal:
        return None
    key = journal_key(settings.database_url)
    return RedisMintJournal(redis, store, key=key, clock=clock, observer=metrics)


def trust_sources(
    settings: Settings, issuers: Issuers, store: Store, clock: Callable[[], float]
) -> TrustSources:
    """The database (the default) or, for a file-only deployment, the TOML file.

    On the database, what the pages, the API and the CLI add is what mints; a
    MINTGATE_PUBLISHERS_FILE is checked now and applied into the database before the
    first answer (trust/startup.py).
    """
    if settings.trust_source == "toml":
        path = settings.publishers_file or packaged.PUBLISHERS
        toml = load_trust(path, issuers)
        return TrustSources(toml, None, None, f"{len(toml)} trusted publishers from {path.name}")
    index = TrustIndex(SqlTrustStore(store, issuers), SqlTrustFeed(store))
    trust: TrustStore = index
    file = None
    described = "trusted publishers from the database"
    if settings.publishers_file is not None:
        path = settings.publishers_file
        try:
            wanted = read_specs(path, issuers)
        except TrustConfigError as exc:
            raise SettingsError(f"MINTGATE_PUBLISHERS_FILE: {exc}") from None
        deps = Deps(store=store, clock=clock)

        async def apply() -> None:
            await sync_specs(deps, Context(actor=FILE_ACTOR), wanted)

        trust = file = FileApplied(index, apply)
        described += f", {path.name} applied"
    return TrustSources(
        trust,
        SqlPendingTrust(store, issuers, clock, reified=index.forget),
        SqlMintRecorder(store, clock),
        described,
        index=index,
        file=file,
    )
