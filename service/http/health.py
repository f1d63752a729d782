"""Liveness and readiness. Ready means a mint could succeed: replay protection answers."""

from __future__ import annotations

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
    return JSONResponse({"status": "ok", "replay": "ok"})


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
]
