"""Prove a second factor in this session: finishes a login, or re-confirms for a
sensitive action (the same proof, so one set of endpoints serves both)."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response

from service.accounts import security_keys
from service.accounts.core import NOT_SIGNED_IN
from service.accounts.sessions import Authenticated, Proven
from service.http.api import views
from service.http.api.errors import reply
from service.http.api.request import authenticate, client_ip, context, credential, json_body, text
from service.http.api.session import device_cookie, set_device_cookie
from service.http.api.spec import ANY_OBJECT, INTEGER, Endpoint, obj, string
from service.http.api.state import api_state
from service.publishers.base import Refusal


async def _attempt(request: Request) -> Authenticated | Refusal:
    """The session (pending allowed), after the per-address and per-account budgets."""
    auth = await authenticate(request, pending_ok=True)
    if isinstance(auth, Refusal):
        return auth
    limited = await api_state(request).attempts.check(
        "two-factor", client_ip(request), str(auth.user.id)
    )
    return auth if limited is None else limited


async def _code(request: Request, max_length: int) -> tuple[Authenticated, str] | Refusal:
    """The session (after the budgets) and the code its body carries."""
    auth = await _attempt(request)
    if isinstance(auth, Refusal):
        return auth
    body = await json_body(request)
    if isinstance(body, Refusal):
        return body
    code = text(body, "code", max_length=max_length)
    return code if isinstance(code, Refusal) else (auth, code)


async def _proven(request: Request, auth: Authenticated, method: str) -> Proven | Refusal:
    api = api_state(request)
    proven = await api.sessions.second_factor_proven(
        auth, context(request, auth), method, device=device_cookie(request, api)
    )
    if proven is None:
        return Refusal(NOT_SIGNED_IN, "the session was revoked meanwhile: sign in again")
    return proven


def _reply(request: Request, proven: Proven, data: dict[str, object]) -> Response:
    response = reply(data)
    set_device_cookie(api_state(request), response, proven.device_token)
    return response


def _answer(request: Request, proven: Proven | Refusal) -> Response | Refusal:
    if isinstance(proven, Refusal):
        return proven
    return _reply(request, proven, {"session": views.session(proven.session)})


async def totp(request: Request) -> Response | Refusal:
    proof = await _code(request, 16)
    if isinstance(proof, Refusal):
        return proof
    auth, code = proof
    accepted = await api_state(request).accounts.verify_totp(
        auth.user.id, code, context(request, auth)
    )
    if isinstance(accepted, Refusal):
        return accepted
    return _answer(request, await _proven(request, auth, "totp"))


async def recovery_code(request: Request) -> Response | Refusal:
    proof = await _code(request, 64)
    if isinstance(proof, Refusal):
        return proof
    auth, code = proof
    accepted = await api_state(request).accounts.redeem_recovery_code(
        auth.user.id, code, context(request, auth)
    )
    if isinstance(accepted, Refusal):
        return accepted
    proven = await _proven(request, auth, "recovery-code")
    if isinstance(proven, Refusal):
        return proven
    # The user is told to regenerate (and notified by mail) as codes run out.
    data = {
        "session": views.session(proven.session),
        "recovery_codes_remaining": accepted.remaining,
    }
    return _reply(request, proven, data)


async def security_key_options(request: Request) -> Response | Refusal:
    auth = await _attempt(request)
    if isinstance(auth, Refusal):
        return auth
    api = api_state(request)
    options = await security_keys.begin_authentication(api.deps, api.rp, context(request, auth))
    if isinstance(options, Refusal):
        return options
    return reply({"public_key": json.loads(options.json)})


async def security_key(request: Request) -> Response | Refusal:
    auth = await _attempt(request)
    if isinstance(auth, Refusal):
        return auth
    body = await json_body(request)
    if isinstance(body, Refusal):
        return body
    answer = credential(body, "credential")
    if isinstance(answer, Refusal):
        return answer
    api = api_state(request)
    used = await security_keys.finish_authentication(
        api.deps, api.rp, context(request, auth), answer
    )
    if isinstance(used, Refusal):
        return used
    return _answer(request, await _proven(request, auth, "security-key"))


PROVEN = obj({"session": views.SESSION})
CODE = obj({"code": string(16)})

ENDPOINTS = [
    Endpoint(
        "POST",
        "/session/confirm/totp",
        totp,
        "Prove an authenticator app code: completes a login or re-confirms",
        {200: PROVEN},
        body=CODE,
    ),
    Endpoint(
        "POST",
        "/session/confirm/recovery-code",
        recovery_code,
        "Spend a recovery code as the second factor",
        {200: obj({"session": views.SESSION, "recovery_codes_remaining": INTEGER})},
        body=obj({"code": string(64)}),
    ),
    Endpoint(
        "POST",
        "/session/confirm/security-key/options",
        security_key_options,
        "WebAuthn authentication options (navigator.credentials.get)",
        {200: obj({"public_key": ANY_OBJECT})},
    ),
    Endpoint(
        "POST",
        "/session/confirm/security-key",
        security_key,
        "Verify a WebAuthn assertion as the second factor",
        {200: PROVEN},
        body=obj({"credential": ANY_OBJECT}),
    ),
]
