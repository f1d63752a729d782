"""One ASGI middleware per app: a request id for every log line, and per-route latency.

Pure ASGI rather than BaseHTTPMiddleware: no extra task per request, and
streamed bodies (the gateway's uploads) pass through untouched.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterable

from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.observability.clientip import ClientAddress
from service.observability.logs import REQUEST_ID
from service.observability.metrics import Metrics

REQUEST_ID_HEADER = b"x-request-id"
# What a proxy's id looks like (nginx $request_id, Envoy's UUIDs, ...). Nothing that could
# break a log line or a header: no spaces, quotes, control characters; bounded length.
REQUEST_ID_PATTERN = re.compile(rb"[A-Za-z0-9][A-Za-z0-9._:-]{7,127}")
UNMATCHED = "unmatched"
# The method is the client's choice too: anything else is counted as "other".
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RouteTemplates:
    """Raw path -> the route's template, so a label never holds a caller-chosen path."""

    def __init__(self, routes: Iterable[BaseRoute]) -> None:
        self._routes = list(routes)
        self._static = {
            r.path: r.path for r in self._routes if isinstance(r, Route) and not r.param_convertors
        }

    def __call__(self, scope: Scope) -> str:
        path: str = scope["path"]
        found = self._static.get(path)
        if found is not None:
            return found
        for route in self._routes:
            if isinstance(route, Route) and route.param_convertors:
                match, _ = route.matches(scope)
                if match is not Match.NONE:
                    return route.path
        return UNMATCHED


class ObservabilityMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        routes: RouteTemplates,
        clients: ClientAddress,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes
        self.clients = clients

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = self._request_id(scope)
        header = (REQUEST_ID_HEADER, request_id.encode())
        status = 500  # what the server error middleware answers if the app raises

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        context = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self.metrics.in_flight.dec()
            elapsed = time.perf_counter() - started
            method = scope["method"] if scope["method"] in METHODS else "other"
            self.metrics.observe(self.routes(scope), method, status, elapsed)
            REQUEST_ID.reset(context)

    def _request_id(self, scope: Scope) -> str:
        client = scope.get("client")
        # Only a proxy we trust may name the request: a client-chosen id could collide with
        # another request's and muddle an investigation.
        if client and self.clients.is_trusted(client[0]):
            for name, value in scope["headers"]:
                if name == REQUEST_ID_HEADER and REQUEST_ID_PATTERN.fullmatch(value):
                    return str(value.decode("ascii"))
        return secrets.token_hex(16)
