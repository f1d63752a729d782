"""My second factors: enrol an authenticator app (QR code, confirmation), see security keys
(added by static/webauthn.js through /api/v1), get a new set of recovery codes.

Recovery codes are rendered into the answer of the request that made them and
nowhere else: nothing keeps them for a later page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Any

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response

from service.accounts import totp
from service.accounts.accounts import TOTP_ALREADY_CONFIRMED
from service.accounts.queries import two_factor_summary
from service.accounts.sessions import Authenticated
from service.http.api.request import authenticate, client_ip, context
from service.publishers.base import Refusal
from service.web.key_place import key_place
from service.web.render import Form, form, page, redirect, refused, web

DONE = {
    "welcome": "Welcome! Set up a second factor: an authenticator app or a security key.",
    "totp-added": "Authenticator app added.",
}


async def _enrolling(request: Request) -> Authenticated | Response:
    """Signed in; with 2FA on, a second factor proven in this session just now (as the API)."""
    auth = await authenticate(request)
    if isinstance(auth, Refusal):
        return await refused(request, auth)
    stale = web(request).api.sessions.require_recent(auth)
    return auth if stale is None else await refused(request, stale, auth)


async def account_page(request: Request) -> Response:
    auth = await authenticate(request)
    if isinstance(auth, Refusal):
        return await refused(request, auth)
    summary = await two_factor_summary(web(request).api.deps, auth.user.id)
    notice = DONE.get(request.query_params.get("done", ""))
    data = {"summary": summary, "notice": notice, "keys": key_place(request)}
    return await page(request, "two_factor.html", data, auth=auth)


async def totp_begin(request: Request) -> Response:
    auth = await _enrolling(request)
    if isinstance(auth, Response):
        return auth
    fields = await form(request)
    if isinstance(fields, Refusal):
        return await refused(request, fields, auth)
    api = web(request).api
    enrolment = await api.accounts.begin_totp(auth.user.id, context(request, auth))
    if isinstance(enrolment, Refusal):
        return await refused(request, enrolment, auth)
    return await page(request, "totp_enrol.html", _shown(request, auth, enrolment), auth=auth)


def _seal(request: Request, auth: Authenticated, manual_key: str) -> str:
    # The key rides back with the code so a wrong code can show the same QR code again;
    # the MAC (under the pages' own key, its prefix apart from any CSRF token's) means the
    # page only ever shows a key it issued to this user, never one a crafted form chose.
    message = f"totp-enrolment\x00{auth.user.id}\x00{manual_key}".encode()
    return hmac.new(web(request).csrf.key, message, hashlib.sha256).hexdigest()


def _shown(request: Request, auth: Authenticated, enrolment: totp.Enrolment) -> dict[str, Any]:
    return {
        # segno's SVG of our own otpauth URI: markup we made, shown inline (no script, no style).
        "qr_svg": Markup(enrolment.qr_svg.decode()),  # noqa: S704
        "manual_key": enrolment.manual_key,
        "manual_key_mac": _seal(request, auth, enrolment.manual_key),
    }


def _again(request: Request, auth: Authenticated, fields: Form) -> dict[str, Any]:
    """The enrolment the confirm form carried back, when its MAC holds; else none."""
    key = fields.get("manual_key", "")[:64]
    mac = fields.get("manual_key_mac", "")[:64]
    if not key or not hmac.compare_digest(_seal(request, auth, key), mac):
        return {"qr_svg": None, "manual_key": None}
    try:
        secret = base64.b32decode(key + "=" * (-len(key) % 8))
    except (binascii.Error, ValueError):
        return {"qr_svg": None, "manual_key": None}
    issuer = web(request).api.accounts.issuer
    return _shown(request, auth, totp.enrolment(secret, auth.user.username, issuer))


async def totp_confirm(request: Request) -> Response:
    auth = await authenticate(request)
    if isinstance(auth, Refusal):
        return await refused(request, auth)
    fields = await form(request)
    if isinstance(fields, Refusal):
        return await refused(request, fields, auth)
    api = web(request).api
    limited = await api.attempts.check("two-factor", client_ip(request), str(auth.user.id))
    if limited is not None:
        return await refused(request, limited, auth)
    # As typed (the account layer's rules decide); never cut: a cut could turn junk into a code.
    code = fields.get("code", "")
    code = code if len(code) <= 64 else ""
    ctx = context(request, auth)
    codes = await api.accounts.confirm_totp(auth.user.id, code, ctx)
    if isinstance(codes, Refusal):
        if codes.code == TOTP_ALREADY_CONFIRMED:
            return await refused(request, codes, auth)
        # The same QR code stays valid: ask for the next code rather than start over, with
        # the QR code and key still there for a person who had not scanned it yet.
        return await page(
            request,
            "totp_enrol.html",
            _again(request, auth, fields),
            auth=auth,
            status=400,
            error=codes.description,
        )
    # The code just proved the factor: this session counts as freshly confirmed.
    await api.sessions.second_factor_proven(auth, ctx, "totp")
    if not codes.codes:
        return redirect("/account/two-factor?done=totp-added")
    # Read again: `auth` holds the user as before this code, with 2FA off, and the page
    # would ask to enable what it just announced is on.
    now_on = await authenticate(request)
    shown = auth if isinstance(now_on, Refusal) else now_on
    return await page(request, "recovery_codes.html", {"codes": list(codes.codes)}, auth=shown)


async def recovery_codes(request: Request) -> Response:
    auth = await _enrolling(request)
    if isinstance(auth, Response):
        return auth
    fields = await form(request)
    if isinstance(fields, Refusal):
        return await refused(request, fields, auth)
    api = web(request).api
    codes = await api.accounts.regenerate_recovery_codes(auth.user.id, context(request, auth))
    if isinstance(codes, Refusal):
        return await refused(request, codes, auth)
    return await page(request, "recovery_codes.html", {"codes": list(codes.codes)}, auth=auth)
