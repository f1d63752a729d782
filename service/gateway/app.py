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
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from service.app import redis_client
from service.gateway.auth import MISSING, Authorizer, basic_credentials
from service.gateway.errors import Denied, respond
from service.gateway.forward import Backend, forward
from service.gateway.policy import OpenPolicy, ProjectPolicy
from service.gateway.settings import GatewaySettings
from service.gateway.upload import read_upload
from service.revocation import RedisRevocationStore, RevocationStore
from service.settings import SettingsError
from service.verifier import registry_verifier

log = logging.getLogger(__name__)


def create_gateway(
    settings: GatewaySettings,
    *,
    client: httpx.AsyncClient | None = None,
    revocations: RevocationStore | None = None,
    policy: ProjectPolicy | None = None,
    clock: Callable[[], float] = time.time,
) -> Starlette:
    """`client` fetches mintgate's JWKS and talks to the registry (tests pass a mocked one)."""
    if importlib.util.find_spec("python_multipart") is None:
        raise SettingsError("the upload gateway needs the python-multipart package installed")
    redis = None
    if revocations is None and settings.redis_url is not None:
        # The same Redis mintgate writes revocations to: revoking there refuses here at once.
        redis = redis_client(settings.redis_url)
        revocations = RedisRevocationStore(redis)
    http = client or httpx.AsyncClient(follow_redirects=False)
    verifier = registry_verifier(
        settings.mintgate_url,
        settings.token_audience,
        http,
        allow_loopback_http=settings.allow_loopback_http,
        clock=clock,
    )
    authorizer = Authorizer(verifier, revocations=revocations, policy=policy or OpenPolicy())
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
            verified = await authorizer.authorize(credentials, received.project)
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
            verified.jti,
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

    routes = [Route(path, upload, methods=["POST"]) for path in ("/", "/legacy", "/legacy/")]
    return Starlette(routes=[*routes, Route("/healthz", healthz)], lifespan=lifespan)


def _refused(denied: Denied, *, project: str | None) -> Response:
    # The message never holds the token, so it is safe to log as it is sent.
    log.info("upload refused: project=%s status=%d %s", project, denied.status, denied.message)
    return respond(denied)
