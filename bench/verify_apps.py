"""The registry side of a minted token, as two uvicorn factories for `verify_bench.py`.

Both answer `POST /verify {"token": ...}` with 200 when the token is good for
an upload to BENCH_PROJECT, and 403 otherwise:

- `create_floor`: bare Starlette. At start-up it reads mintgate's JWKS once and
  keeps the key object; per request it parses JSON, slices the prefix and the
  checksum off (no CRC) and runs `jwt.decode` (ES256, `aud`, `iss`, `exp`).
  Whatever the gateway spends beyond this is its own.
- `create_gateway`: what the upload gateway runs per upload
  (`service/gateway/app.py`): `registry_verifier(...)` over `jwks_cache`, then
  `verify_upload_token`: prefix and CRC32 checksum, key by kid from the cache,
  signature, registered claims with leeway, the `projects` scope. No Redis (no
  revocation store), no database: offline, as the gateway is with minted tokens.

Configured by BENCH_MINTGATE_URL (mintgate's URL, the tokens' `iss`),
BENCH_TOKEN_AUDIENCE and BENCH_PROJECT.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from service.minting.tokens import CHECKSUM_LENGTH, PREFIX
from service.publishers.base import Refusal
from service.upload_auth import verify_upload_token
from service.verifier import registry_verifier


def _config() -> tuple[str, str, str]:
    return (
        os.environ["BENCH_MINTGATE_URL"],
        os.environ.get("BENCH_TOKEN_AUDIENCE", "mintgate-upload"),
        os.environ.get("BENCH_PROJECT", "sampleproject"),
    )


Lifespan = Callable[[Starlette], AbstractAsyncContextManager[None]]


def _app(verify: Callable[[str], Awaitable[bool]], lifespan: Lifespan | None = None) -> Starlette:
    async def endpoint(request: Request) -> Response:
        token = json.loads(await request.body())["token"]
        if await verify(token):
            return JSONResponse({"ok": True})
        return JSONResponse({"ok": False}, status_code=403)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        lifespan=lifespan,
        routes=[
            Route("/verify", endpoint, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
    )


def create_floor() -> Starlette:
    url, audience, project = _config()
    jwks = httpx.get(f"{url}/.well-known/jwks.json", timeout=5).raise_for_status().json()
    key = jwt.PyJWK(jwks["keys"][0]).key  # the key object, not the PyJWK wrapper
    cut = len(PREFIX)

    async def verify(token: str) -> bool:
        claims = jwt.decode(
            token[cut : -(CHECKSUM_LENGTH + 1)],
            key,
            algorithms=["ES256"],
            audience=audience,
            issuer=url,
        )
        return project in claims["projects"]

    return _app(verify)


def create_gateway() -> Starlette:
    url, audience, project = _config()
    client = httpx.AsyncClient(follow_redirects=False)
    verifier = registry_verifier(url, audience, client, allow_loopback_http=True)

    async def verify(token: str) -> bool:
        result = await verify_upload_token(token, project, minted=verifier, api=None)
        return not isinstance(result, Refusal)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await client.aclose()

    return _app(verify, lifespan)
