"""Endpoints declared once: the Starlette route and its OpenAPI operation come from one value.

A handler module lists `Endpoint`s; `routes()` and `openapi.document()` both
read that list, so a route cannot exist undocumented or the other way round.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from service.http.api.errors import error_response
from service.publishers.base import Refusal

Schema = dict[str, Any]
# A handler answers a Response or a Refusal; the route turns refusals into the error shape.
Handler = Callable[[Request], Awaitable[Response | Refusal]]

STRING: Schema = {"type": "string"}
INTEGER: Schema = {"type": "integer"}
BOOLEAN: Schema = {"type": "boolean"}
TIME: Schema = {"type": "string", "format": "date-time"}
NULLABLE_TIME: Schema = {"type": ["string", "null"], "format": "date-time"}
ANY_OBJECT: Schema = {"type": "object"}


def string(max_length: int) -> Schema:
    return {"type": "string", "minLength": 1, "maxLength": max_length}


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def obj(required: dict[str, Schema], optional: dict[str, Schema] | None = None) -> Schema:
    properties = {**required, **(optional or {})}
    return {"type": "object", "properties": properties, "required": sorted(required)}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def routes(endpoints: Sequence[Endpoint]) -> list[Route]:
    """One Route per path, whatever its methods: a 405 then lists them all in Allow."""
    by_path: dict[str, dict[str, Endpoint]] = {}
    for endpoint in endpoints:
        by_path.setdefault(endpoint.path, {})[endpoint.method] = endpoint
    return [_route(path, methods) for path, methods in by_path.items()]


def _route(path: str, methods: dict[str, Endpoint]) -> Route:
    async def dispatch(request: Request) -> Response:
        # HEAD reaches here for GET routes (Starlette adds it): answer it as GET.
        method = "GET" if request.method == "HEAD" else request.method
        return await methods[method].respond(request)

    return Route(path, dispatch, methods=list(methods))


@dataclass(frozen=True, slots=True)
class Query:
    name: str
    schema: Schema
    description: str


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str  # Starlette syntax: /invitations/{invitation_id:int}
    handler: Handler
    summary: str
    responses: dict[int, Schema | None]  # success status -> body schema (None: no body)
    body: Schema | None = None
    signed_in: bool = True
    query: Sequence[Query] = field(default=())

    async def respond(self, request: Request) -> Response:
        result = await self.handler(request)
        return error_response(result) if isinstance(result, Refusal) else result

    @property
    def openapi_path(self) -> str:
        return re.sub(r"\{(\w+):\w+\}", r"{\1}", self.path)

    def operation(self) -> Schema:
        responses: Schema = {}
        for status, schema in self.responses.items():
            entry: Schema = {"description": "success"}
            if schema is not None:
                entry["content"] = {"application/json": {"schema": schema}}
            responses[str(status)] = entry
        # Every refusal has the one error shape; its code says which.
        responses["4XX"] = _error("refused: see errors[].code")
        responses["503"] = _error("the account database is unavailable")
        operation: Schema = {
            "operationId": f"{self.method.lower()}{_camel(self.openapi_path)}",
            "summary": self.summary,
            "responses": responses,
        }
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": _PATH_SCHEMA[kind]}
            for name, kind in re.findall(r"\{(\w+):?(\w*)\}", self.path)
        ] + [
            {
                "name": q.name,
                "in": "query",
                "required": False,
                "schema": q.schema,
                "description": q.description,
            }
            for q in self.query
        ]
        if parameters:
            operation["parameters"] = parameters
        if self.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": self.body}},
            }
        operation["security"] = [{"session": []}, {"cookie": []}] if self.signed_in else []
        return operation


# Starlette's convertors: `{id:int}`, and `{name}` (a str, one path segment).
_PATH_SCHEMA: dict[str, Schema] = {"int": INTEGER, "": string(200), "str": string(200)}


def _error(description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": ref("Error")}}}


def _camel(path: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", path.replace("api/v1", ""))
    return "".join(w[:1].upper() + w[1:] for w in words)
