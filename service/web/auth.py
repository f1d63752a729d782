"""Sign up, sign in (password, then a second factor), confirm again, sign out.

The same account calls and attempt budgets as /api/v1/register, /login and
/session/confirm/...; the session is the API's cookie, so the security-key script
can call the API's WebAuthn endpoints with it.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from service.accounts.accounts import INVALID_CREDENTIALS
from service.accounts.core import NOT_SIGNED_IN
from service.accounts.passwords import MAX_LENGTH as MAX_PASSWORD
from service.accounts.queries import two_factor_summary
from service.accounts.sessions import Authenticated, Started
from service.http.api.request import authenticate, client_ip, context
from service.http.api.session import device_cookie, set_device_cookie
from service.http.api.state import ApiState
from service.publishers.base import Refusal
from service.web.key_place import key_place
from service.web.render import Form, form, page, redirect, refused, safe_next, url, web

SIGN_IN_FIELDS = ("username", "email", "password")
DONE: Final = {"signed-out": "You are signed out."}


def _field(fields: Form, name: str, max_length: int) -> str | Refusal:
    value = fields.get(name, "")
    if not value or len(value) > max_length:
        return Refusal("invalid-form", f"{name}: expected 1-{max_length} characters")
    return value


def set_session(api: ApiState, response: Response, started: Started) -> None:
    # The API's cookie, with its attributes: HttpOnly (no script reads it), SameSite=Strict
    # (no other site's request carries it), Secure and __Host- off plain loopback.
    response.set_cookie(
        api.cookie_name,
        started.session_id,
        max_age=max(1, int((started.session.expires_at - api.deps.now()).total_seconds())),
        path="/",
        secure=api.secure_cookie,
        httponly=True,
        samesite="strict",
    )


async def signup_page(request: Request) -> Response:
    return await page(request, "signup.html")


async def signup(request: Request) -> Response:
    fields = await form(request)
    if isinstance(fields, Refusal):
        return await refused(request, fields)
    api = web(request).api
    values = [_field(fields, n, 254 if n == "email" else MAX_PASSWORD) for n in SIGN_IN_FIELDS]
    bad = next((v for v in values if isinstance(v, Refusal)), None)
    if bad is not None:
        return await _again(request, "signup.html", bad, fields)
    username, email, password = (str(v) for v in values)
    ctx = context(request)
    limited = await api.attempts.check("register", client_ip(request), None)
    if limited is not None:
        return await _again(request, "signup.html", limited, fields)
    created = await api.accounts.create_user(username, email, password, ctx)
    if isinstance(created, Refusal):
        return await _again(request, "signup.html", created, fields)
    started = await api.sessions.start(created, ctx)
    response = redirect("/account/two-factor?done=welcome")
    set_session(api, response, started)
    return response


async def _again(request: Request, template: str, refusal: Refusal, fields: Form) -> Response:
    """The form again with the reason, keeping what was typed except the password."""
    kept = {k: v for k, v in fields.items() if k in ("username", "email", "next")}
    status = 401 if refusal.code == INVALID_CREDENTIALS else 400
    if refusal.code == "rate-limited":
        status = 429
    return await page(request, template, {"form": kept}, status=status, error=refusal.description)


async def login_page(request: Request) -> Response:
    data = {
        "form": {"next": request.query_params.get("next")},
        "notice": DONE.get(request.query_params.get("done", "")),
    }
    return await page(request, "login.html", data)


async def login(request: Request) -> Response:
    fields = await form(request)
    if isinstance(fields, Refusal):
        return await refused(request, fields)
    username = _field(fields, "username", 50)
    password = _field(fields, "password", MAX_PASSWORD)
    if isinstance(username, Refusal) or isinstance(password, Refusal):
        bad = username if isinstance(username, Refusal) else password
        assert isinstance(bad, Refusal)
        return await _again(request, "login.html", bad, fields)
    api = web(request).api
    limited = await api.attempts.check("login", client_ip(request), username)
    if limited is not None:
        return await _again(request, "login.html", limited, fields)
    started = await api.sessions.login(api.accounts, username, password, context(request))
    if isinstance(started, Refusal):
        return await _again(request, "login.html", started, fields)
    after = safe_next(fields.get("next"))
    target = f"/login/two-factor?next={quote(after)}" if started.session.pending else after
    response = redirect(target)
    set_session(api, response, started)
    return response


async def second_factor_page(request: Request) -> Response:
    """The login's second step, and the re-confirmation before sensitive actions."""
    auth = await authenticate(request, pending_ok=True)
    if isinstance(auth, Refusal):
        return await refused(request, auth)
    summary = await two_factor_summary(web(request).api.deps, auth.user.id)
    data = {
        "methods": summary.methods,
        "pending": auth.session.pending,
        "next": safe_next(request.query_params.get("next")),
        "keys": key_place(request),
    }
    return await page(request, "two_factor_prove.html", data, auth=auth)


async def _proving(request: Request) -> tuple[Authenticated, Form, str] | Response:
    auth = await authenticate(request, pending_ok=True)
    if isinstance(auth, Refusal):
        return await refused(request, auth)
    fields = await form(request)
    if isinstance(fields, Refusal):
        return await refused(request, fields, auth)
    api = web(request).api
    limited = await api.attempts.check("two-factor", client_ip(request), str(auth.user.id))
    if limited is not None:
        return await refused(request, limited, auth)
    # Passed on as typed: the account layer decides what surrounds a code (ASCII
    # spaces only; str.strip() would also take Unicode ones).
    code = fields.get("code", "")
    if not code.strip() or len(code) > 64:
        return await refused(request, Refusal("invalid-form", "code: expected the code"), auth)
    return auth, fields, code


async def _proven(request: Request, auth: Authenticated, fields: Form, method: str) -> Response:
    api = web(request).api
    proven = await api.sessions.second_factor_proven(
        auth, context(request, auth), method, device=device_cookie(request, api)
    )
    if proven is None:
        return await refused(request, Refusal(NOT_SIGNED_IN, "the session was revoked"))
    response = redirect(safe_next(fields.get("next")))
    set_device_cookie(api, response, proven.device_token)
    return response


async def prove_totp(request: Request) -> Response:
    got = await _proving(request)
    if isinstance(got, Response):
        return got
    auth, fields, code = got
    api = web(request).api
    accepted = await api.accounts.verify_totp(auth.user.id, code, context(request, auth))
    if isinstance(accepted, Refusal):
        return await _retry(request, auth, fields, accepted)
    return await _proven(request, auth, fields, "totp")


async def prove_recovery_code(request: Request) -> Response:
    got = await _proving(request)
    if isinstance(got, Response):
        return got
    auth, fields, code = got
    api = web(request).api
    accepted = await api.accounts.redeem_recovery_code(auth.user.id, code, context(request, auth))
    if isinstance(accepted, Refusal):
        return await _retry(request, auth, fields, accepted)
    return await _proven(request, auth, fields, "recovery-code")


def _prove_path(auth: Authenticated) -> str:
    return "/login/two-factor" if auth.session.pending else "/confirm"


async def _retry(request: Request, auth: Authenticated, fields: Form, refusal: Refusal) -> Response:
    after = safe_next(fields.get("next"))
    summary = await two_factor_summary(web(request).api.deps, auth.user.id)
    data = {
        "methods": summary.methods,
        "pending": auth.session.pending,
        "next": after,
        "keys": key_place(request, url(f"{_prove_path(auth)}?next={quote(after)}")),
    }
    return await page(
        request, "two_factor_prove.html", data, auth=auth, status=401, error=refusal.description
    )


async def logout(request: Request) -> Response:
    auth = await authenticate(request, pending_ok=True)
    if isinstance(auth, Refusal):
        return redirect("/login")
    fields = await form(request)
    if isinstance(fields, Refusal):
        return await refused(request, fields, auth)
    api = web(request).api
    await api.sessions.logout(auth, context(request, auth))
    response = redirect("/login?done=signed-out")
    response.delete_cookie(
        api.cookie_name, path="/", secure=api.secure_cookie, httponly=True, samesite="strict"
    )
    return response
