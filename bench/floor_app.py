"""The floor: a bare Starlette app doing only what any mint must do.

Parse JSON, verify RS256 with a key object built once, `SET NX EXAT` the jti
in Redis, sign an ES256 token, answer in PyPI's shape. No issuer allow-list,
no publisher policies, no JWKS cache, no logging: whatever mintgate spends
beyond this is its own overhead.

Run by `mint_bench.py` as `uvicorn --factory floor_app:create_app`, configured
by BENCH_* variables (see `bench_env` there).
"""

from __future__ import annotations

import gc
import json
import os
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import jwt
import redis.asyncio as aioredis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

ISSUER = "https://token.actions.githubusercontent.com"
AUDIENCE = "mintgate"
TTL = 900
REPLAY_PREFIX = "benchfloor:jti:"


def create_app() -> Starlette:
    jwks = json.loads(Path(os.environ["BENCH_JWKS_FILE"]).read_bytes())
    verify_key = jwt.PyJWK(jwks["keys"][0]).key  # the key object, not the PyJWK wrapper
    signing_key = serialization.load_pem_private_key(
        Path(os.environ["BENCH_SIGNING_KEY"]).read_bytes(), password=None
    )
    assert isinstance(signing_key, ec.EllipticCurvePrivateKey)
    redis = aioredis.Redis.from_url(os.environ["BENCH_REDIS_URL"])

    async def mint_token(request: Request) -> Response:
        token = json.loads(await request.body())["token"]
        claims = jwt.decode(
            token, verify_key, algorithms=["RS256"], audience=AUDIENCE, issuer=ISSUER
        )
        first_use = await redis.set(
            REPLAY_PREFIX + claims["jti"], b"1", nx=True, exat=claims["exp"]
        )
        if not first_use:
            return JSONResponse({"message": "invalid-reuse-token"}, status_code=422)
        now = int(time.time())
        minted = jwt.encode(
            {
                "iss": "http://127.0.0.1",
                "aud": "mintgate-upload",
                "sub": claims["sub"],
                "jti": secrets.token_urlsafe(18),
                "iat": now,
                "exp": now + TTL,
            },
            signing_key,
            algorithm="ES256",
        )
        return JSONResponse({"success": True, "token": minted, "expires": now + TTL})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await redis.aclose()

    app = Starlette(
        lifespan=lifespan,
        routes=[
            Route("/_/oidc/mint-token", mint_token, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
    )
    # The same start-up heap freeze as mintgate gets (service.asgi.settle_heap): a fair floor.
    gc.collect()
    gc.freeze()
    return app
