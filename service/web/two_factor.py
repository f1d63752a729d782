"""My second factors: enrol an authenticator app (QR code, confirmation), see security keys
(added by static/webauthn.js through /api/v1), get a new set of recovery codes.

Recovery codes are rendered into the answer of the request that made them and
nowhere else: nothing keeps them for a later page.
"""

from __future__ import annotations

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response

from service.accounts.accounts import TOTP_ALREADY_CONFIRMED
from service.accounts.queries import two_factor_summary
from service.accounts.sessions import Authenticated
from service.http.api.request import authenticate, client_ip, context
from service.publishers.base import Refusal
from service.web.render import form, page, redirect, refused, web

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
    return await page(request, "two_factor.html", {"summary": summary, "notice": notice}, auth=auth)


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
    data = {
        # segno's SVG of our own otpauth URI: markup we made, shown inline (no script, no style).
        "qr_svg": Markup(enrolment.qr_svg.decode()),  # noqa: S704
        "manual_key": enrolment.manual_key,
        "otpauth_uri": enrolment.uri,
    }
    return await page(request, "totp_enrol.html", data, auth=auth)


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
        # The same QR code stays valid: ask for the next code rather than start over.
        return await page(
            request,
            "totp_enrol.html",
            {"qr_svg": None, "manual_key": None, "otpauth_uri": None},
            auth=auth,
            status=400,
            error=codes.description,
        )
    # The code just proved the factor: this session counts as freshly confirmed.
    await api.sessions.second_factor_proven(auth, ctx, "totp")
    if not codes.codes:
        return redirect("/account/two-factor?done=totp-added")
    return await page(request, "recovery_codes.html", {"codes": list(codes.codes)}, auth=auth)


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
