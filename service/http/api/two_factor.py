"""My second-factor methods: list, enrol (TOTP, security keys), remove, recovery codes.

Enrolment is open to users without 2FA (that is how they get it). Once 2FA
is on, adding a method needs a recent proof in this session too: a stolen
session must not be able to plant its own way back in.
"""

from __future__ import annotations

import base64
import json

from starlette.requests import Request
from starlette.responses import Response

from service.accounts import security_keys, two_factor
from service.accounts.queries import two_factor_summary
from service.accounts.sessions import Authenticated
from service.http.api import views
from service.http.api.errors import reply
from service.http.api.request import (
    authenticate,
    client_ip,
    context,
    credential,
    json_body,
    path_id,
    text,
)
from service.http.api.spec import ANY_OBJECT, INTEGER, STRING, Endpoint, array, obj, string
from service.http.api.state import api_state
from service.publishers.base import Refusal


async def _enrolling(request: Request) -> Authenticated | Refusal:
    auth = await authenticate(request)
    if isinstance(auth, Refusal):
        return auth
    stale = api_state(request).sessions.require_recent(auth)
    return auth if stale is None else stale


async def methods(request: Request) -> Response | Refusal:
    auth = await authenticate(request)
    if isinstance(auth, Refusal):
        return auth
    return reply(views.two_factor(await two_factor_summary(api_state(request).deps, auth.user.id)))


async def totp_begin(request: Request) -> Response | Refusal:
    auth = await _enrolling(request)
    if isinstance(auth, Refusal):
        return auth
    enrolment = await api_state(request).accounts.begin_totp(auth.user.id, context(request, auth))
    if isinstance(enrolment, Refusal):
        return enrolment
    qr = base64.b64encode(enrolment.qr_svg).decode()
    return reply(
        {
            "otpauth_uri": enrolment.uri,
            "qr_svg": f"data:image/svg+xml;base64,{qr}",
            "manual_key": enrolment.manual_key,
        }
    )


async def totp_confirm(request: Request) -> Response | Refusal:
    auth = await authenticate(request)
    if isinstance(auth, Refusal):
        return auth
    body = await json_body(request)
    if isinstance(body, Refusal):
        return body
    code = text(body, "code", max_length=16)
    if isinstance(code, Refusal):
        return code
    api = api_state(request)
    limited = await api.attempts.check("two-factor", client_ip(request), str(auth.user.id))
    if limited is not None:
        return limited
    ctx = context(request, auth)
    codes = await api.accounts.confirm_totp(auth.user.id, code, ctx)
    if isinstance(codes, Refusal):
        return codes
    # The code just proved the factor: this session counts as freshly confirmed.
    await api.sessions.second_factor_proven(auth, ctx, "totp")
    return reply({"recovery_codes": list(codes.codes)})


async def totp_remove(request: Request) -> Response | Refusal:
    auth = await _enrolling(request)
    if isinstance(auth, Refusal):
        return auth
    removed = await two_factor.remove_totp(api_state(request).deps, context(request, auth))
    if isinstance(removed, Refusal):
        return removed
    return reply({"remaining_methods": removed.remaining})


async def key_options(request: Request) -> Response | Refusal:
    auth = await _enrolling(request)
    if isinstance(auth, Refusal):
        return auth
    api = api_state(request)
    options = await security_keys.begin_registration(api.deps, api.rp, context(request, auth))
    if isinstance(options, Refusal):
        return options
    return reply({"public_key": json.loads(options.json)})


async def key_add(request: Request) -> Response | Refusal:
    auth = await _enrolling(request)
    if isinstance(auth, Refusal):
        return auth
    body = await json_body(request)
    if isinstance(body, Refusal):
        return body
    name = text(body, "name", max_length=security_keys.MAX_NAME)
    if isinstance(name, Refusal):
        return name
    answer = credential(body, "credential")
    if isinstance(answer, Refusal):
        return answer
    api = api_state(request)
    ctx = context(request, auth)
    added = await security_keys.finish_registration(api.deps, api.rp, ctx, name, answer)
    if isinstance(added, Refusal):
        return added
    await api.sessions.second_factor_proven(auth, ctx, "security-key")
    return reply(
        {
            "security_key": views.security_key(added.key),
            "recovery_codes": list(added.recovery_codes.codes),
        },
        201,
    )


async def key_remove(request: Request) -> Response | Refusal:
    auth = await _enrolling(request)
    if isinstance(auth, Refusal):
        return auth
    key_id = path_id(
        request,
        "key_id",
        Refusal(two_factor.NO_SUCH_METHOD, "no such security key on this account"),
    )
    if isinstance(key_id, Refusal):
        return key_id
    removed = await two_factor.remove_security_key(
        api_state(request).deps, context(request, auth), key_id
    )
    if isinstance(removed, Refusal):
        return removed
    return reply({"remaining_methods": removed.remaining})


async def recovery_codes(request: Request) -> Response | Refusal:
    auth = await _enrolling(request)
    if isinstance(auth, Refusal):
        return auth
    api = api_state(request)
    codes = await api.accounts.regenerate_recovery_codes(auth.user.id, context(request, auth))
    if isinstance(codes, Refusal):
        return codes
    return reply({"recovery_codes": list(codes.codes)})


REMAINING = obj({"remaining_methods": INTEGER})
OPTIONS = obj({"public_key": ANY_OBJECT})
# Shown once: empty unless this method turned two-factor authentication on.
CODES = obj({"recovery_codes": array(STRING)})

ENDPOINTS = [
    Endpoint("GET", "/me/two-factor", methods, "My second-factor methods", {200: views.TWO_FACTOR}),
    Endpoint(
        "POST",
        "/me/two-factor/totp",
        totp_begin,
        "Start authenticator app enrolment: otpauth URI, QR code (SVG data URI), manual key",
        {200: obj({"otpauth_uri": STRING, "qr_svg": STRING, "manual_key": STRING})},
    ),
    Endpoint(
        "POST",
        "/me/two-factor/totp/confirm",
        totp_confirm,
        "Confirm the enrolment with a first code; the first method returns recovery codes",
        {200: CODES},
        body=obj({"code": string(16)}),
    ),
    Endpoint(
        "DELETE",
        "/me/two-factor/totp",
        totp_remove,
        "Remove the authenticator app (recent proof; not the last method of a maintainer)",
        {200: REMAINING},
    ),
    Endpoint(
        "POST",
        "/me/two-factor/security-keys/options",
        key_options,
        "WebAuthn registration options (navigator.credentials.create)",
        {200: OPTIONS},
    ),
    Endpoint(
        "POST",
        "/me/two-factor/security-keys",
        key_add,
        "Register a security key from its attestation",
        {201: obj({"security_key": views.SECURITY_KEY, "recovery_codes": array(STRING)})},
        body=obj({"name": string(security_keys.MAX_NAME), "credential": ANY_OBJECT}),
    ),
    Endpoint(
        "DELETE",
        "/me/two-factor/security-keys/{key_id:int}",
        key_remove,
        "Remove a security key (recent proof; not the last method of a maintainer)",
        {200: REMAINING},
    ),
    Endpoint(
        "POST",
        "/me/recovery-codes",
        recovery_codes,
        "A new set of recovery codes (recent proof); the old set stops working",
        {200: CODES},
    ),
]
