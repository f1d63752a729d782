"""Liveness and readiness. Ready means a mint could succeed: replay protection answers,
and the trusted publishers have been read (service.wiring.TrustSources.loaded)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from service.replay import ReplayStore


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    replay: ReplayStore = request.app.state.exchange.replay
    if not await replay.ping():
        return JSONResponse({"status": "unavailable", "replay": "unreachable"}, status_code=503)
    loaded: Callable[[], Awaitable[bool]] = request.app.state.trust_loaded
    if not await loaded():
        body = {"status": "unavailable", "replay": "ok", "trust": "not loaded"}
        return JSONResponse(body, status_code=503)
    return JSONResponse({"status": "ok", "replay": "ok", "trust": "ok"})


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
]
