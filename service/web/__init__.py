"""Server-rendered pages for maintainers under /web: Jinja2 templates over the account layer.

The pages call the same account functions as /api/v1 and share its session
cookie; forms carry a CSRF token (csrf.py), every answer a Content-Security-Policy
with no inline script (render.py); security keys use static/webauthn.js, which
talks to the API's WebAuthn endpoints.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from service.http.api.state import ApiState
from service.settings import Settings
from service.store.base import StoreError
from service.web import auth, dashboard, incident, project, staged, tokens, two_factor
from service.web.csrf import Csrf, derive_key
from service.web.once import OneTime
from service.web.render import HERE, PREFIX, SecurityHeaders, WebState, html, redirect

ROUTES: list[Route] = [
    Route("/", dashboard.home, methods=["GET"]),
    Route("/signup", auth.signup_page, methods=["GET"]),
    Route("/signup", auth.signup, methods=["POST"]),
    Route("/login", auth.login_page, methods=["GET"]),
    Route("/login", auth.login, methods=["POST"]),
    Route("/login/two-factor", auth.second_factor_page, methods=["GET"]),
    Route("/confirm", auth.second_factor_page, methods=["GET"]),
    Route("/confirm/totp", auth.prove_totp, methods=["POST"]),
    Route("/confirm/recovery-code", auth.prove_recovery_code, methods=["POST"]),
    Route("/logout", auth.logout, methods=["POST"]),
    Route("/account/two-factor", two_factor.account_page, methods=["GET"]),
    Route("/account/two-factor/totp", two_factor.totp_begin, methods=["POST"]),
    Route("/account/two-factor/totp/confirm", two_factor.totp_confirm, methods=["POST"]),
    Route("/account/recovery-codes", two_factor.recovery_codes, methods=["POST"]),
    Route("/projects", dashboard.create_project, methods=["POST"]),
    Route("/pending-publishers/preview", dashboard.pending_preview, methods=["POST"]),
    Route("/pending-publishers", dashboard.add_pending, methods=["POST"]),
    Route("/projects/{project}", project.show, methods=["GET"]),
    Route("/projects/{project}/publishers/preview", project.publisher_preview, methods=["POST"]),
    Route("/projects/{project}/publishers", project.add_publisher, methods=["POST"]),
    Route(
        "/projects/{project}/publishers/{publisher_id:int}/remove",
        project.remove_publisher,
        methods=["POST"],
    ),
    Route(
        "/projects/{project}/publishers/{publisher_id:int}/freeze",
        incident.freeze,
        methods=["POST"],
    ),
    Route(
        "/projects/{project}/publishers/{publisher_id:int}/unfreeze",
        incident.unfreeze,
        methods=["POST"],
    ),
    Route(
        "/projects/{project}/publishers/{publisher_id:int}/stage-only",
        incident.stage_only,
        methods=["POST"],
    ),
    Route("/projects/{project}/state", incident.set_state, methods=["POST"]),
    Route("/projects/{project}/trusted-publishing-only", project.switch, methods=["POST"]),
    Route("/projects/{project}/tokens", tokens.create_token, methods=["POST"]),
    Route("/projects/{project}/tokens/{token_id}/revoke", tokens.revoke_token, methods=["POST"]),
    Route("/projects/{project}/staging", staged.set_staging, methods=["POST"]),
    Route("/staged", staged.index, methods=["GET"]),
    Route("/staged/{release_id:int}", staged.show, methods=["GET"]),
    Route("/staged/{release_id:int}/approve", staged.approve, methods=["POST"]),
    Route("/staged/{release_id:int}/reject", staged.reject, methods=["POST"]),
]


async def _unavailable(request: Request, exc: Exception) -> Response:
    # The database is down: say so and let the person retry, never a bare 500.
    return html("<h1>Service unavailable</h1><p>The account database does not answer.</p>", 503)


def mount(api: ApiState, settings: Settings) -> Mount:
    """A sub-application, so its headers, state and error pages stay its own."""
    app = Starlette(
        routes=[*ROUTES, Mount("/static", app=StaticFiles(directory=HERE / "static"))],
        exception_handlers={StoreError: _unavailable},
    )
    keyfile = settings.secret_key_file
    app.state.web = WebState(
        api,
        Csrf(derive_key(keyfile), api.secure_cookie),
        OneTime(derive_key(keyfile, b"mintgate web one-time token v1"), api.secure_cookie),
    )
    # Same state key as the API's app: the API's request helpers (authenticate, context)
    # read it there, and the pages reuse them.
    app.state.api = api
    app.add_middleware(SecurityHeaders)
    return Mount(PREFIX, app=app)


def root() -> list[Route]:
    """`/` sends a person to the pages; `/favicon.ico`, which browsers ask for on their
    own wherever a page does not name its icon, to the pages' icon."""

    async def to_pages(request: Request) -> Response:
        return redirect("/")

    async def to_icon(request: Request) -> Response:
        return redirect("/static/favicon.svg")

    return [
        Route("/", to_pages, methods=["GET"]),
        Route("/favicon.ico", to_icon, methods=["GET"]),
    ]


def template_routes() -> list[BaseRoute]:
    """The routes with their full paths, for metric labels (which do not look into mounts)."""
    return [Route(PREFIX + r.path, r.endpoint, methods=list(r.methods or ())) for r in ROUTES]
