"""Reading a request: JSON bodies and their fields, who is asking, and from where.

Every problem becomes a Refusal, so a handler has one path for all of them
and no malformed input can reach the account layer or turn into a 500.
"""

from __future__ import annotations

import json
from typing import Any, Final

from starlette.requests import Request

from service.accounts.core import NOT_SIGNED_IN, Context
from service.accounts.sessions import Authenticated, pending_refusal
from service.http.api.errors import (
    CROSS_ORIGIN,
    PAYLOAD_TOO_LARGE,
    UNSUPPORTED_MEDIA_TYPE,
    invalid,
)
from service.http.api.state import api_state
from service.publishers.base import Refusal
from service.textjson import NotText, loads

# WebAuthn answers are the largest bodies we take, a few KiB each.
MAX_BODY = 64 * 1024
MAX_USER_AGENT = 512
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})

Body = dict[str, Any]


async def json_body(request: Request) -> Body | Refusal:
    """The JSON object sent, read to at most MAX_BODY bytes."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    # Only JSON: an HTML form cannot send it cross-site without a CORS preflight.
    if media != "application/json":
        return Refusal(UNSUPPORTED_MEDIA_TYPE, "send the body as application/json")
    raw = bytearray()
    async for chunk in request.stream():
        raw.extend(chunk)
        if len(raw) > MAX_BODY:
            return Refusal(PAYLOAD_TOO_LARGE, f"the body must be at most {MAX_BODY} bytes")
    try:
        body = loads(raw)
    except NotText as exc:  # every string, keys and nested values too: see textjson
        return invalid(f"the body is not UTF-8 text: {exc}")
    except (ValueError, RecursionError):
        return invalid("the body is not JSON")
    if not isinstance(body, dict):
        return invalid("the body must be a JSON object")
    return body


def text(body: Body, name: str, *, max_length: int, required: bool = True) -> str | Refusal:
    value = body.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value or len(value) > max_length:
        return invalid(f"{name}: expected a string of 1-{max_length} characters")
    return value


def flag(body: Body, name: str) -> bool | Refusal:
    value = body.get(name, False)
    if not isinstance(value, bool):
        return invalid(f"{name}: expected true or false")
    return value


def credential(body: Body, name: str) -> str | Refusal:
    """A WebAuthn PublicKeyCredential as the browser produced it, re-encoded for the verifier."""
    value = body.get(name)
    if not isinstance(value, dict):
        return invalid(f"{name}: expected the PublicKeyCredential as a JSON object")
    return json.dumps(value)


def path_id(request: Request, name: str, missing: Refusal) -> int | Refusal:
    """A row id from the path; beyond a 32-bit key it cannot exist (and must not reach SQL)."""
    value: int = request.path_params[name]
    return value if 0 < value < 2**31 else missing


def client_ip(request: Request) -> str:
    return api_state(request).clients.of(request.scope)


def context(request: Request, auth: Authenticated | None = None) -> Context:
    ip = client_ip(request)
    agent = request.headers.get("user-agent", "")[:MAX_USER_AGENT] or None
    if auth is None:
        return Context(actor="anonymous", ip=ip, user_agent=agent)
    return auth.context(ip, agent)


def same_origin(request: Request, *, required: bool) -> Refusal | None:
    """The CSRF check: a browser names the page's origin on every cross-site write.

    Required for requests a cookie authenticates; for the rest (login,
    register) a foreign Origin is still refused, so another site cannot sign a
    visitor into an account of its choosing.
    """
    if request.method in SAFE_METHODS:
        return None
    origin = request.headers.get("origin")
    if origin is None and not required:
        return None
    if origin != api_state(request).origin:
        return Refusal(
            CROSS_ORIGIN,
            f"Origin: expected {api_state(request).origin!r} for a request signed in with the"
            " session cookie; API clients send Authorization: Bearer instead",
        )
    return None


async def authenticate(request: Request, *, pending_ok: bool = False) -> Authenticated | Refusal:
    """The session behind the request: `Authorization: Bearer` or the session cookie."""
    api = api_state(request)
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, session_id = header.partition(" ")
        if scheme.lower() != "bearer" or not session_id.strip():
            return Refusal(NOT_SIGNED_IN, "Authorization: expected 'Bearer <session id>'")
        session_id = session_id.strip()
    else:
        cookie = request.cookies.get(api.cookie_name)
        if not cookie:
            return Refusal(
                NOT_SIGNED_IN,
                "sign in first (POST /api/v1/login), then send the session cookie or"
                " Authorization: Bearer",
            )
        refused = same_origin(request, required=True)
        if refused is not None:
            return refused
        session_id = cookie
    if len(session_id) > 128:  # ours are 43 characters; do not hash a megabyte
        return Refusal(NOT_SIGNED_IN, "sign in first: no such session")
    auth = await api.sessions.resolve(session_id)
    if isinstance(auth, Refusal):
        return auth
    if auth.session.pending and not pending_ok:
        return pending_refusal()
    return auth


async def authenticate_recent(request: Request) -> Authenticated | Refusal:
    """The session, for a sensitive action: its own second-factor proof must be recent.

    Judged per session, on top of the account layer's user-level check: a proof
    made in one browser does not vouch for a stolen cookie used in another.
    """
    auth = await authenticate(request)
    if isinstance(auth, Refusal):
        return auth
    stale = api_state(request).sessions.require_recent(auth)
    return auth if stale is None else stale
