"""create_gateway(settings): the upload gateway's wiring, and its one upload endpoint.

The order of an upload: credentials present (else 401, body unread) -> body read
under the cap (413) and the form checked (400) -> token verified for the form's
project (403, or 503 when keys or revocation cannot be known) -> forwarded with
the gateway's own credentials -> the registry's status relayed. Nothing is sent
to the registry unless every gate held.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import time
from collections.abc import AsyncIterator, Callable

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

import jwks_cache
from service.accounts.tokens import TokenState
from service.apitokens.keys import public_key
from service.apitokens.verify import ApiTokenVerifier
from service.gateway.auth import MISSING, Authorizer, basic_credentials, credential_id
from service.gateway.errors import Denied, respond
from service.gateway.forward import Backend, forward
from service.gateway.policy import OpenPolicy, ProjectPolicy
from service.gateway.settings import GatewaySettings
from service.gateway.upload import read_upload
from service.observability.clientip import ClientAddress
from service.observability.metrics import Metrics, metrics_route
from service.observability.middleware import ObservabilityMiddleware, RouteTemplates
from service.observability.stores import CountedRevocations
from service.revocation import RedisRevocationStore, RevocationStore
from service.settings import SettingsError
from service.store import Store, open_store
from service.store.lazy import LazyStore
from service.verifier import registry_verifier
from service.wiring import redis_client

log = logging.getLogger(__name__)


def create_gateway(
    settings: GatewaySettings,
    *,
    client: httpx.AsyncClient | None = None,
    revocations: RevocationStore | None = None,
    policy: ProjectPolicy | None = None,
    clock: Callable[[], float] = time.time,
    metrics_token: str | None = None,
    store: Store | None = None,
) -> Starlette:
    """`client` fetches mintgate's JWKS and talks to the registry (tests pass a mocked one).

    `/metrics` is open unless `metrics_token` is given (then `Authorization: Bearer`).
    """
    if importlib.util.find_spec("python_multipart") is None:
        raise SettingsError("the upload gateway needs the python-multipart package installed")
    redis = None
    if revocations is None and settings.redis_url is not None:
        # The same Redis mintgate writes revocations to: revoking there refuses here at once.
        redis = redis_client(settings.redis_url)
        revocations = RedisRevocationStore(redis)
    metrics = Metrics()
    if revocations is not None:
        revocations = CountedRevocations(revocations, metrics.store_unavailable)
    http = client or httpx.AsyncClient(follow_redirects=False)
    verifier = registry_verifier(
        settings.mintgate_url,
        settings.token_audience,
        http,
        allow_loopback_http=settings.allow_loopback_http,
        clock=clock,
    )
    if isinstance(verifier.keys, jwks_cache.JWKSCache):
        metrics.watch_jwks(verifier.keys.stats)
    owned: Store | None = None  # opened here, so closed here; a given store is the caller's
    api, state = None, None
    if settings.database_url is not None and settings.api_token_public_key is not None:
        # Opened on first API-token upload: minted tokens keep working with the database down.
        url = settings.database_url
        if store is None:
            store = owned = LazyStore(lambda: open_store(url))
        state = TokenState(store, clock)
        api = ApiTokenVerifier(
            public_key(settings.api_token_public_key),
            tokens=state,
            users=state,
            policy=state,
            clock=clock,
        )
    authorizer = Authorizer(
        verifier,
        revocations=revocations,
        policy=policy or state or OpenPolicy(),
        api=api,
        usage=state,
    )
    backend = Backend(
        settings.backend_url,
        settings.backend_username,
        settings.backend_password,
        timeout=settings.backend_timeout,
    )

    async def upload(request: Request) -> Response:
        credentials = basic_credentials(request.headers.get("authorization"))
        if credentials is None:
            return respond(MISSING)
        received = await read_upload(request, settings.max_upload_bytes)
        if isinstance(received, Denied):
            return _refused(received, project=None)
        try:
            verified = await authorizer.authorize(
                credentials, received.project, ip=request.client.host if request.client else None
            )
            if isinstance(verified, Denied):
                return _refused(verified, project=received.project)
            relayed = await forward(http, backend, received)
        finally:
            await received.close()
        if isinstance(relayed, Denied):
            return _refused(relayed, project=received.project)
        log.info(
            "upload forwarded: project=%s version=%s file=%s jti=%s registry_status=%d",
            received.project,
            received.version,
            received.filename,
            credential_id(verified),
            relayed.status,
        )
        return PlainTextResponse(relayed.text, status_code=relayed.status)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        log.info("upload gateway ready: registry %s, tokens from %s", backend.url, verifier.issuer)
        try:
            yield
        finally:
            if client is None:
                await http.aclose()
            if redis is not None:
                await redis.aclose()
            if owned is not None:
                await owned.close()

    routes = [Route(path, upload, methods=["POST"]) for path in ("/", "/legacy", "/legacy/")]
    routes += [Route("/healthz", healthz), metrics_route(metrics, token=metrics_token)]
    observability = Middleware(
        ObservabilityMiddleware,
        metrics=metrics,
        routes=RouteTemplates(routes),
        clients=ClientAddress(),
    )
    return Starlette(routes=routes, middleware=[observability], lifespan=lifespan)


def _refused(denied: Denied, *, project: str | None) -> Response:
    # The message never holds the token, so it is safe to log as it is sent.
    log.info("upload refused: project=%s status=%d %s", project, denied.status, denied.message)
    return respond(denied)
