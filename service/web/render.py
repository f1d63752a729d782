"""Pages out, forms in: templates, security headers, the CSRF check, refusals as pages.

Every page is rendered through `page`, which adds the form token, the signed-in
user and the 2FA banner; every form is read through `form`, which refuses a
missing or wrong token before a handler sees a field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, quote

from jinja2 import Environment, FileSystemLoader
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.accounts.core import NOT_SIGNED_IN
from service.accounts.policy import RECENT_TWO_FACTOR_REQUIRED
from service.accounts.sessions import SESSION_EXPIRED, TWO_FACTOR_PENDING, Authenticated
from service.http.api.errors import STATUS
from service.http.api.request import authenticate, same_origin
from service.http.api.state import ApiState
from service.publishers.base import Refusal
from service.web.banner import banner
from service.web.csrf import FIELD, Csrf
from service.web.once import OneTime

HERE = Path(__file__).parent
PREFIX: Final = "/web"
MAX_FORM = 64 * 1024
MAX_FIELDS = 100
FORM_MEDIA = "application/x-www-form-urlencoded"
CSRF_INVALID: Final = "csrf-invalid"
INVALID_FORM: Final = "invalid-form"

# No inline script or style anywhere: scripts and styles are files under /web/static,
# so an injected <script> does not run. data: images are the recovery-code download
# and nothing else; connect-src 'self' is the WebAuthn script talking to /api/v1.
CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS: Final = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
}
NO_STORE: Final = {"Cache-Control": "no-store"}

# Autoescaping everywhere: every value a user typed reaches a page through here.
templates = Jinja2Templates(
    env=Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True)
)


class SecurityHeaders:
    """Adds the headers above to every response of the pages' app, static files included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers += [
                    (k.encode(), v.encode())
                    for k, v in SECURITY_HEADERS.items()
                    if k.encode() not in present
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def web(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state


@dataclass(frozen=True, slots=True)
class WebState:
    api: ApiState
    csrf: Csrf
    once: OneTime

    def session_cookie(self, request: Request) -> str | None:
        return request.cookies.get(self.api.cookie_name)


def url(path: str) -> str:
    return PREFIX + path


async def page(
    request: Request,
    template: str,
    data: Mapping[str, Any] | None = None,
    *,
    auth: Authenticated | None = None,
    status: int = 200,
    error: str | None = None,
) -> Response:
    state = web(request)
    token, fresh = state.csrf.token(request, state.session_cookie(request))
    shown = auth is not None and not auth.session.pending
    held = await banner(state.api, request, auth) if shown and auth is not None else None
    context = {
        "csrf_field": FIELD,
        "csrf_token": token,
        # Half signed in (the second factor is pending): no navigation into pages the
        # session cannot open yet, only the way out.
        "user": auth.user if shown and auth is not None else None,
        "signing_in": auth is not None and auth.session.pending,
        "banner": held,
        "error": error,
        "url": url,
        "quote": quote,
        **(data or {}),
    }
    response = templates.TemplateResponse(request, template, context, status_code=status)
    response.headers.update(NO_STORE)
    if fresh is not None:
        state.csrf.set_cookie(response, fresh)
    return response


def redirect(path: str) -> RedirectResponse:
    # 303: the browser follows a form POST with a GET.
    return RedirectResponse(url(path), status_code=303, headers=NO_STORE)


Form = dict[str, str]


async def form(request: Request) -> Form | Refusal:
    """The posted fields (first value of each name), after the content type, size,
    Origin and CSRF checks."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != FORM_MEDIA:
        return Refusal(INVALID_FORM, f"send the form as {FORM_MEDIA}")
    raw = bytearray()
    async for chunk in request.stream():
        raw.extend(chunk)
        if len(raw) > MAX_FORM:
            return Refusal(INVALID_FORM, f"the form must be at most {MAX_FORM} bytes")
    try:
        pairs = parse_qsl(
            raw.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=False,
            max_num_fields=MAX_FIELDS,
            # By default a percent-encoded byte that is not UTF-8 (%ED%A0%80, a surrogate;
            # %FF) silently becomes U+FFFD: a password would arrive changed.
            errors="strict",
        )
    except (UnicodeDecodeError, ValueError):
        return Refusal(INVALID_FORM, "the form is not UTF-8 URL-encoded fields")
    fields: Form = {}
    for name, value in pairs:
        fields.setdefault(name, value)
    # A browser names the page's origin on every form POST; a foreign one is refused
    # even before the token (defence in depth for the same attack).
    refused = same_origin(request, required=False)
    if refused is not None:
        return Refusal(CSRF_INVALID, refused.description)
    state = web(request)
    if not state.csrf.valid(request, fields.get(FIELD), state.session_cookie(request)):
        return Refusal(
            CSRF_INVALID,
            "this form is stale or did not come from this site: reload the page and try again",
        )
    return fields


async def signed_in_form(
    request: Request, *, recent: bool
) -> tuple[Authenticated, Form] | Response:
    """The session and its form; with `recent`, a sensitive action: this session's own
    second factor must be recent (Sessions.require_recent, the rule /api/v1 applies).

    The account calls only check the user's latest proof, which a proof made in
    another browser satisfies; a stolen cookie must not ride on it. The form's CSRF
    check comes first, so a forged request learns nothing and is sent nowhere.
    """
    auth = await authenticate(request)
    if isinstance(auth, Refusal):
        return await refused(request, auth)
    fields = await form(request)
    if isinstance(fields, Refusal):
        return await refused(request, fields, auth)
    stale = web(request).api.sessions.require_recent(auth) if recent else None
    if stale is not None:
        return await refused(request, stale, auth)
    return auth, fields


def status_of(refusal: Refusal) -> int:
    if refusal.code == CSRF_INVALID:
        return 403
    return STATUS.get(refusal.code, 400)


async def refused(
    request: Request, refusal: Refusal, auth: Authenticated | None = None
) -> Response:
    """A refusal as the next step a person can take: sign in, finish 2FA, confirm, or read why."""
    if refusal.code in (NOT_SIGNED_IN, SESSION_EXPIRED):
        return redirect(f"/login?next={quote(_here(request))}")
    if refusal.code == TWO_FACTOR_PENDING:
        return redirect(f"/login/two-factor?next={quote(_here(request))}")
    if refusal.code == RECENT_TWO_FACTOR_REQUIRED:
        return redirect(f"/confirm?next={quote(_here(request))}")
    return await page(
        request,
        "error.html",
        {"refusal": refusal},
        auth=auth,
        status=status_of(refusal),
    )


def _here(request: Request) -> str:
    """The page to come back to: for a refused POST, the page that showed its form."""
    path = request.url.path.removeprefix(PREFIX) or "/"
    if request.method == "GET":
        return path
    parts = path.split("/")
    # /projects/{name}/... and /staged/{id}/...: forms of those pages, however deep.
    if len(parts) > 3 and parts[1] in ("projects", "staged"):
        return "/".join(parts[:3])
    return path.rsplit("/", 1)[0] if path.count("/") > 1 else "/"


def safe_next(value: str | None) -> str:
    """Only our own pages: '/x' but never '//evil' or '/\\evil' (open redirect)."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return "/"
    if any(c in value for c in "\r\n\\") or len(value) > 300:
        return "/"
    return value


def html(text: str, status: int) -> HTMLResponse:
    return HTMLResponse(text, status_code=status, headers=NO_STORE)
