"""Sensitive forms need a second factor proven in *this* browser's session, as /api/v1 does.

Alice signs in twice (browsers A and B). Later she confirms again in A only: the
account's latest proof is fresh, B's own is not. Every sensitive form posted from
B must send her to /web/confirm and change nothing, until she confirms in B too.
"""

from __future__ import annotations

import re

import pytest
from api.api_helpers import PASSWORD
from web_helpers import Fields, Page, PageFactory

from service.accounts import totp
from service.accounts.policy import RECENT_WINDOW

pytestmark = pytest.mark.anyio

GITHUB = {
    "provider": "github",
    "issuer": "https://token.actions.githubusercontent.com",
    "t_repository": "octo-org/sampleproject",
    "t_repository_owner_id": "1234567",
    "t_workflow": "release.yml",
    "t_environment": "pypi",
    "t_refs": "refs/tags/v*",
}
BASE = "/projects/sampleproject"
REMOVE = re.compile(r'action="/web/projects/sampleproject/(publishers/\d+/remove)"')
# (path, fields): {remove} is the path that removes the publisher alice trusted beforehand,
# {publisher} that publisher's own path.
SENSITIVE = [
    pytest.param(f"{BASE}/publishers", {**GITHUB, "t_workflow": "other.yml"}, id="add a publisher"),
    pytest.param(f"{BASE}/{{remove}}", {"confirmed": "yes"}, id="remove a publisher"),
    pytest.param(f"{BASE}/trusted-publishing-only", {"enabled": "on"}, id="publishing only"),
    pytest.param(
        f"{BASE}/tokens",
        {"name": "stolen", "scope": "all", "expires_days": "365"},
        id="create a token",
    ),
    pytest.param("/pending-publishers", {**GITHUB, "project": "brand-new"}, id="pending publisher"),
    pytest.param(f"{BASE}/staging", {"enabled": "off"}, id="staging setting"),
    pytest.param(f"{BASE}/{{publisher}}/freeze", {"confirmed": "yes"}, id="freeze a publisher"),
    pytest.param(f"{BASE}/{{publisher}}/stage-only", {"enabled": "on"}, id="stage only"),
    pytest.param(f"{BASE}/state", {"state": "archived", "confirmed": "yes"}, id="project state"),
]


async def confirm(browser: Page, next_path: str = "/") -> None:
    await browser.get(f"/confirm?next={next_path}")
    done = await browser.post("/confirm/totp", {"code": browser.code(), "next": next_path})
    assert done.status_code == 200, done.text
    browser.clock.advance(totp.STEP)  # that code is spent


async def second_browser(a: Page, b: Page) -> None:
    """Alice signs in on B with her password and her authenticator app."""
    b.totp_secret = a.totp_secret
    await b.get("/login")
    half = await b.post("/login", {"username": "alice", "password": PASSWORD, "next": "/"})
    assert half.url.path == "/web/login/two-factor"
    await confirm(b)


async def snapshot(a: Page) -> tuple[str, str]:
    return (await a.get(BASE)).text, (await a.get("/")).text


@pytest.mark.parametrize(("path", "fields"), SENSITIVE)
async def test_a_proof_made_in_another_session_does_not_vouch_for_this_one(
    make_page: PageFactory, path: str, fields: Fields
) -> None:
    async with make_page() as a, make_page() as b:
        await a.owner()
        await a.get(BASE)
        await a.post(f"{BASE}/publishers", GITHUB)
        found = REMOVE.search(a.text)
        assert found is not None
        path = path.format(remove=found[1], publisher=found[1].removesuffix("/remove"))
        # Staging on, so that switching it off is a change B must not make.
        await a.post(f"{BASE}/staging", {"enabled": "on"})
        await second_browser(a, b)

        a.clock.advance(RECENT_WINDOW.total_seconds() + 60)
        await confirm(a)  # the account's proof is fresh again; B's own is not
        before = await snapshot(a)

        await b.get("/")  # a page with a form, for B's own CSRF token
        answer = await b.raw_post(path, {**fields, "csrf_token": b.token()})
        assert answer.status_code == 303, answer.text[:300]
        page_of_form = "/" if path.startswith("/pending") else BASE
        assert answer.headers["location"] == f"/web/confirm?next={page_of_form}"
        assert await snapshot(a) == before

        # Confirmed in B itself, the same form goes through: the refusal was the stale proof.
        await confirm(b, page_of_form)
        await b.post(path, fields)
        assert b.last is not None
        assert b.last.status_code in (200, 201), b.text[:300]
        assert await snapshot(a) != before


async def test_the_publisher_list_is_not_shown_on_another_sessions_proof(
    make_page: PageFactory,
) -> None:
    async with make_page() as a, make_page() as b:
        await a.owner()
        await second_browser(a, b)
        a.clock.advance(RECENT_WINDOW.total_seconds() + 60)
        await confirm(a)
        assert (await a.get(BASE)).url.path == f"/web{BASE}"
        shown = await b.get(BASE)
        assert shown.url.path == "/web/confirm"
        assert "Trusted publishers" not in shown.text
