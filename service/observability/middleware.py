"""One ASGI middleware per app: request ids, per-route latency, and the address gate.

Every request gets an id for its log lines and is timed per route template; the
per-address rate limits (`gate`) are asked inside, so a 429 is timed and
carries a request id like any answer.

Pure ASGI rather than BaseHTTPMiddleware: no extra task per request, and
streamed bodies (the gateway's uploads) pass through untouched. One layer, not
one per concern: every request passes each layer's coroutine frame on every
await, and with sixteen mints in flight a second layer cost a mint about
3% of its CPU (bench/inprocess.py --concurrency 16).
"""

from __future__ import annotations

import itertools
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable

from starlette.responses import Response
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
# Asked before the app with the request's scope: a response to send instead, or None.
Gate = Callable[[Scope], Awaitable[Response | None]]


class RequestIds:
    """Ids unique across processes and requests, without a system call each.

    A random prefix per process and a counter: a request id names a request in
    the logs, it guards nothing, so it need not be unpredictable, only unique
    (`secrets.token_hex` per request reads the kernel's generator every time).
    """

    def __init__(self) -> None:
        self._prefix = secrets.token_hex(8)
        self._next = itertools.count(1).__next__

    def __call__(self) -> str:
        return f"{self._prefix}{self._next():016x}"  # 32 hex digits, as before


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
        gate: Gate | None = None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes
        self.clients = clients
        self.gate = gate
        self.new_id = RequestIds()

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
        self.metrics.request_started()
        try:
            refused = None if self.gate is None else await self.gate(scope)
            if refused is None:
                await self.app(scope, receive, send_with_id)
            else:
                await refused(scope, receive, send_with_id)
        finally:
            self.metrics.request_finished()
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
        return self.new_id()
