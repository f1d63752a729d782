"""Register, sign in and out, who am I, change my password."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from service.accounts import devices
from service.accounts.accounts import EMAIL as EMAIL_RULE
from service.accounts.accounts import USERNAME as USERNAME_RULE
from service.accounts.passwords import MAX_LENGTH as MAX_PASSWORD
from service.accounts.passwords import MIN_LENGTH as MIN_PASSWORD
from service.accounts.queries import two_factor_summary
from service.accounts.sessions import Started, change_password
from service.http.api import views
from service.http.api.errors import reply
from service.http.api.request import (
    Body,
    authenticate,
    client_ip,
    context,
    flag,
    json_body,
    same_origin,
    text,
)
from service.http.api.spec import BOOLEAN, INTEGER, STRING, Endpoint, obj, string
from service.http.api.state import ApiState, api_state
from service.publishers.base import Refusal

# The account layer's rules, as patterns, so a client can check before sending.
USERNAME = {**string(50), "pattern": f"^(?:{USERNAME_RULE.pattern})$"}
EMAIL = {**string(254), "pattern": f"^(?:{EMAIL_RULE.pattern})$"}
PASSWORD = string(MAX_PASSWORD)
NEW_PASSWORD = {**PASSWORD, "minLength": MIN_PASSWORD}


async def _signed_out_body(request: Request) -> Body | Refusal:
    """The JSON body of a request no session backs, after the optional origin check."""
    body = await json_body(request)
    if isinstance(body, Refusal):
        return body
    refused = same_origin(request, required=False)
    return body if refused is None else refused


async def register(request: Request) -> Response | Refusal:
    body = await _signed_out_body(request)
    if isinstance(body, Refusal):
        return body
    username = text(body, "username", max_length=50)
    if isinstance(username, Refusal):
        return username
    email = text(body, "email", max_length=254)
    if isinstance(email, Refusal):
        return email
    password = text(body, "password", max_length=MAX_PASSWORD)
    if isinstance(password, Refusal):
        return password
    api = api_state(request)
    # Registration hashes a password too: the same per-address budget as login.
    limited = await api.attempts.check("register", client_ip(request), None)
    if limited is not None:
        return limited
    created = await api.accounts.create_user(username, email, password, context(request))
    if isinstance(created, Refusal):
        return created
    return reply(views.user(created), 201)


async def login(request: Request) -> Response | Refusal:
    body = await _signed_out_body(request)
    if isinstance(body, Refusal):
        return body
    username = text(body, "username", max_length=50)
    if isinstance(username, Refusal):
        return username
    password = text(body, "password", max_length=MAX_PASSWORD)
    if isinstance(password, Refusal):
        return password
    bearer = flag(body, "bearer")
    if isinstance(bearer, Refusal):
        return bearer
    api = api_state(request)
    limited = await api.attempts.check("login", client_ip(request), username)
    if limited is not None:
        return limited
    started = await api.sessions.login(api.accounts, username, password, context(request))
    if isinstance(started, Refusal):
        return started
    return await _signed_in(api, started, bearer)


async def _signed_in(api: ApiState, started: Started, bearer: bool) -> Response:
    summary = await two_factor_summary(api.deps, started.session.user_id)
    data: dict[str, object] = {
        "session": views.session(started.session),
        "two_factor_methods": summary.methods if started.session.pending else [],
    }
    if bearer:
        # Asked for explicitly: an API client keeps it; a browser page never
        # sees the id, which stays in the HttpOnly cookie.
        data["session_id"] = started.session_id
        return reply(data)
    response = reply(data)
    response.set_cookie(
        api.cookie_name,
        started.session_id,
        max_age=max(1, int((started.session.expires_at - api.deps.now()).total_seconds())),
        path="/",
        secure=api.secure_cookie,
        httponly=True,
        samesite="strict",
    )
    return response


def device_cookie_name(api: ApiState) -> str:
    # As the session cookie: __Host- (no sibling subdomain can plant or shadow it)
    # except on plain loopback http, where a browser refuses Secure cookies.
    return "__Host-mintgate-device" if api.secure_cookie else "mintgate-device"


def device_cookie(request: Request, api: ApiState) -> str | None:
    """The browser's device cookie, if any: only ever compared with stored hashes."""
    return request.cookies.get(device_cookie_name(api))


def set_device_cookie(api: ApiState, response: Response, token: str | None) -> None:
    """Hand the browser its device cookie after a sign-in from a new device.

    HttpOnly: no script (an injected one included) can read it to carry it
    elsewhere. SameSite=Lax: it only spares a notice, and the sign-in it is read
    at is a same-site POST anyway. Long-lived, as "this browser" is.
    """
    if token is None:
        return
    response.set_cookie(
        device_cookie_name(api),
        token,
        max_age=int(devices.COOKIE_AGE.total_seconds()),
        path="/",
        secure=api.secure_cookie,
        httponly=True,
        samesite="lax",
    )


async def logout(request: Request) -> Response | Refusal:
    auth = await authenticate(request, pending_ok=True)
    if isinstance(auth, Refusal):
        return auth
    api = api_state(request)
    await api.sessions.logout(auth, context(request, auth))
    response = Response(status_code=204, headers={"Cache-Control": "no-store"})
    response.delete_cookie(
        api.cookie_name, path="/", secure=api.secure_cookie, httponly=True, samesite="strict"
    )
    return response


async def me(request: Request) -> Response | Refusal:
    auth = await authenticate(request)
    if isinstance(auth, Refusal):
        return auth
    summary = await two_factor_summary(api_state(request).deps, auth.user.id)
    return reply(
        {
            "user": views.user(auth.user),
            "session": views.session(auth.session),
            "two_factor": views.two_factor(summary),
        }
    )


async def password(request: Request) -> Response | Refusal:
    auth = await authenticate(request)
    if isinstance(auth, Refusal):
        return auth
    body = await json_body(request)
    if isinstance(body, Refusal):
        return body
    current = text(body, "current_password", max_length=MAX_PASSWORD)
    if isinstance(current, Refusal):
        return current
    new = text(body, "new_password", max_length=MAX_PASSWORD)
    if isinstance(new, Refusal):
        return new
    api = api_state(request)
    # A wrong current password is a password guess: it spends the login budget.
    limited = await api.attempts.check("login", client_ip(request), auth.user.username)
    if limited is not None:
        return limited
    revoked = await change_password(
        api.accounts, api.sessions, auth, current, new, context(request, auth)
    )
    if isinstance(revoked, Refusal):
        return revoked
    return reply({"other_sessions_revoked": revoked})


SIGNED_IN = obj(
    {"session": views.SESSION, "two_factor_methods": {"type": "array", "items": STRING}},
    {"session_id": STRING},
)

ENDPOINTS = [
    Endpoint(
        "POST",
        "/register",
        register,
        "Create an account (password rules and breach check)",
        {201: views.USER},
        body=obj({"username": USERNAME, "email": EMAIL, "password": NEW_PASSWORD}),
        signed_in=False,
    ),
    Endpoint(
        "POST",
        "/login",
        login,
        "Sign in with a password; with 2FA the session stays pending until a second factor",
        {200: SIGNED_IN},
        body=obj({"username": USERNAME, "password": PASSWORD}, {"bearer": BOOLEAN}),
        signed_in=False,
    ),
    Endpoint("POST", "/logout", logout, "Revoke this session", {204: None}),
    Endpoint(
        "GET",
        "/me",
        me,
        "The signed-in user, this session and the 2FA methods",
        {200: obj({"user": views.USER, "session": views.SESSION, "two_factor": views.TWO_FACTOR})},
    ),
    Endpoint(
        "POST",
        "/me/password",
        password,
        "Change the password (needs a recent second factor); revokes every other session",
        {200: obj({"other_sessions_revoked": INTEGER})},
        body=obj({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
    ),
]
