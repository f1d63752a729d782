"""create_gateway(settings): the upload gateway's wiring, and its one upload endpoint.

The order of an upload: credentials present (else 401, body unread) -> body read
under the cap (413) and the form checked (400) -> token verified for the form's
project (403, or 503 when keys or revocation cannot be known) -> for a minted
token or an API token, staged instead when the project asks for it (service/staging: written to
the staging area, recorded, 200 naming where to approve; 503 when the database
cannot say) -> forwarded with the gateway's own credentials -> the registry's
status relayed. Nothing is sent to the registry unless every gate held.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import httpx
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

import jwks_cache
from service.accounts.notify import Notifier, notifier_for
from service.accounts.project_state import StoreProjectStates
from service.accounts.tokens import TokenState
from service.apitokens.keys import public_key
from service.apitokens.verify import ApiTokenVerifier
from service.exchange import KeySource
from service.gateway.auth import MISSING, Authorizer, basic_credentials, credential_id
from service.gateway.errors import Denied, respond, unavailable
from service.gateway.forward import Backend, forward, outgoing
from service.gateway.policy import OpenPolicy, ProjectPolicy
from service.gateway.settings import PREFIX, GatewaySettings
from service.gateway.upload import Upload, read_upload
from service.minting.keys import KeyConfigError, load_signing_keys
from service.oauth.authority import OwnKeys
from service.observability.clientip import ClientAddress
from service.observability.metrics import Metrics, metrics_route
from service.observability.middleware import ObservabilityMiddleware, RouteTemplates
from service.observability.stores import CountedRevocations
from service.publishers.base import Refusal
from service.redisclient import redis_client
from service.revocation import RedisRevocationStore, RevocationStore
from service.settings import SettingsError
from service.staging.area import FileStagingArea
from service.staging.intake import Intake, Uploader
from service.store import Store, StoreError, open_store
from service.store.lazy import LazyStore
from service.upload_auth import UploadCredential
from service.verifier import VerifiedToken, Verifier, registry_verifier

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
    notifier: Notifier | None = None,
    keys: KeySource | None = None,
    metrics: Metrics | None = None,
) -> Starlette:
    """`client` fetches mintgate's JWKS and talks to the registry (tests pass a mocked one).

    `/metrics` is open unless `metrics_token` is given (then `Authorization: Bearer`).
    Inside `mintgate serve` (service/gateway/embedded.py) `keys` are mintgate's own and
    `metrics` the service's: the service's middleware then times and ids the uploads, and
    this app adds neither its own middleware nor `/healthz` and `/metrics`.
    """
    if importlib.util.find_spec("python_multipart") is None:
        raise SettingsError("the upload gateway needs the python-multipart package installed")
    redis = None
    if revocations is None and settings.redis_url is not None:
        # The same Redis mintgate writes revocations to: revoking there refuses here at once.
        redis = redis_client(settings.redis_url)
        revocations = RedisRevocationStore(redis)
    embedded = metrics is not None
    metrics = metrics or Metrics()
    if revocations is not None:
        revocations = CountedRevocations(revocations, metrics.store_unavailable)
    http = client or httpx.AsyncClient(follow_redirects=False)
    if keys is None and settings.mintgate_key_files:
        keys = _own_keys(settings)
    verifier = (
        registry_verifier(
            settings.mintgate_url,
            settings.token_audience,
            http,
            allow_loopback_http=settings.allow_loopback_http,
            clock=clock,
        )
        if keys is None
        else Verifier(
            keys, issuer=settings.mintgate_url, audience=settings.token_audience, clock=clock
        )
    )
    if isinstance(verifier.keys, jwks_cache.JWKSCache):
        metrics.watch_jwks(verifier.keys.stats)
    owned: Store | None = None  # opened here, so closed here; a given store is the caller's
    api, state, intake = None, None, None
    if settings.database_url is not None and store is None:
        # Opened on first use: without staging, minted tokens keep working with it down.
        url = settings.database_url
        store = owned = LazyStore(lambda: open_store(url))
    if store is not None:
        state = TokenState(store, clock)
    if store is not None and settings.staging_dir is not None:
        intake = Intake(
            store,
            FileStagingArea(settings.staging_dir),
            clock=clock,
            ttl=timedelta(seconds=settings.staging_ttl),
            notifier=notifier or notifier_for(settings.smtp_url, settings.smtp_from),
        )
    if state is not None and settings.api_token_public_key is not None:
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
        # Issue 21: archived/quarantined projects, stage-only publishers.
        states=StoreProjectStates(store) if store is not None else None,
        can_stage=intake is not None,
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
            if intake is not None:
                staged = await _stage(intake, received, verified, settings.mintgate_url)
                if staged is not None:
                    return staged
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
    if embedded:
        return Starlette(routes=routes, lifespan=lifespan)
    routes += [Route("/healthz", healthz), metrics_route(metrics, token=metrics_token)]
    observability = Middleware(
        ObservabilityMiddleware,
        metrics=metrics,
        routes=RouteTemplates(routes),
        clients=ClientAddress(),
    )
    return Starlette(routes=routes, middleware=[observability], lifespan=lifespan)


async def _stage(
    intake: Intake, received: Upload, verified: UploadCredential, mintgate_url: str
) -> Response | None:
    """The answer when the project stages this upload; None to forward it as usual."""
    if isinstance(verified, VerifiedToken):
        uploader = Uploader.from_claims(verified.claims)
    else:  # an API token: staged too unless the project's policy says otherwise (issue 21)
        uploader = Uploader.from_api_token(verified)
    try:
        project_id = await intake.staged_project(received.project, received.version, uploader)
        if project_id is None:
            return None
        staged = await intake.stage(
            project_id,
            received.project,
            received.version,
            received.filename,
            received.fields,
            outgoing(received).chunks(),
            uploader,
        )
    except (StoreError, SQLAlchemyError, OSError) as exc:
        # Fail closed: publishing unreviewed what a project asked to review is the one
        # outcome worse than a retry.
        log.warning("staging unavailable for %s: %s", received.project, type(exc).__name__)
        return respond(unavailable("cannot check or record staged publishing now; try again"))
    if isinstance(staged, Refusal):
        return _refused(Denied(400, staged.description), project=received.project)
    release, file = staged.release, staged.file
    log.info(
        "upload staged: project=%s version=%s file=%s sha256=%s release=%d jti=%s",
        received.project, received.version, file.filename, file.sha256, release.id, uploader.jti,
    )  # fmt: skip
    where = mintgate_url.rstrip("/")
    return PlainTextResponse(
        f"Staged, not published: {received.project} {received.version} ({file.filename},"
        f" {file.size} bytes, sha256 {file.sha256}) waits for a maintainer's approval as staged"
        f" release {release.id}. Review and approve it at {where}/web/staged/{release.id}"
        f" (API: POST {where}/api/v1/staged/{release.id}/approve, CLI: mintgate staged approve"
        f" {release.id}); it expires at {release.expires_at.isoformat()}.\n"
    )


def _own_keys(settings: GatewaySettings) -> OwnKeys:
    # Behind the same proxy as mintgate, its public URL need not route back from here (and
    # the JWKS fetcher takes plain http on loopback only): read the keys it signs with.
    try:
        keys = load_signing_keys(settings.mintgate_key_files)
    except KeyConfigError as exc:
        raise SettingsError(f"MINTGATE_{PREFIX}MINTGATE_KEY_FILES: {exc}") from None
    return OwnKeys(keys, issuer=settings.mintgate_url)


def _refused(denied: Denied, *, project: str | None) -> Response:
    # The message never holds the token, so it is safe to log as it is sent.
    log.info("upload refused: project=%s status=%d %s", project, denied.status, denied.message)
    return respond(denied)
