"""The pages in process: every form refuses a missing or foreign CSRF token, cookies carry
their flags, every answer its Content-Security-Policy, and the 2FA banner says what is held."""

from __future__ import annotations

import re
from datetime import date

import pytest
from api.api_helpers import PASSWORD
from web_helpers import Page, PageFactory

from service import web
from service.accounts.core import Context, Deps
from service.accounts.two_factor import reset_two_factor
from service.publishers.base import Refusal
from service.store import SqlStore
from service.web.render import CSP

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
# Every form the pages post, with fields that would otherwise be accepted.
FORMS = [
    pytest.param(path, id=path)
    for path in [
        "/signup",
        "/login",
        "/logout",
        "/confirm/totp",
        "/confirm/recovery-code",
        "/account/two-factor/totp",
        "/account/two-factor/totp/confirm",
        "/account/recovery-codes",
        "/projects",
        "/pending-publishers/preview",
        "/pending-publishers",
        "/projects/sampleproject/publishers/preview",
        "/projects/sampleproject/publishers",
        "/projects/sampleproject/publishers/1/remove",
        "/projects/sampleproject/publishers/1/freeze",
        "/projects/sampleproject/publishers/1/unfreeze",
        "/projects/sampleproject/publishers/1/stage-only",
        "/projects/sampleproject/state",
        "/projects/sampleproject/trusted-publishing-only",
        "/projects/sampleproject/tokens",
        "/projects/sampleproject/tokens/x/revoke",
        "/projects/sampleproject/staging",
        "/staged/1/approve",
        "/staged/1/reject",
    ]
]


def test_the_list_covers_every_form_route() -> None:
    posted = {r.path for r in web.ROUTES if "POST" in (r.methods or ())}
    listed = {
        re.sub(r"/(sampleproject|1|x)(?=/|$)", "", p.values[0])  # type: ignore[arg-type]
        for p in FORMS
    }
    expected = {re.sub(r"/\{[^}]+\}", "", p) for p in posted}
    assert listed == expected


@pytest.mark.parametrize("path", FORMS)
async def test_a_form_without_its_csrf_token_changes_nothing(
    make_page: PageFactory, path: str
) -> None:
    async with make_page() as victim, make_page() as attacker:
        await victim.owner()
        await attacker.sign_up("mallory")
        await attacker.get("/")
        before = (await victim.get("/projects/sampleproject")).text.count("<tr")
        fields = {**GITHUB, "name": "other", "enabled": "on", "scope": "all", "code": "000000"}
        fields |= {"username": "eve", "email": "eve@example.org", "password": PASSWORD}
        fields |= {"expires_days": "1", "project": "newproject"}
        for attack, token in [
            ("no token", None),
            ("forged token", "0" * 64),
            ("mallory's valid token, bound to her session", attacker.token()),
        ]:
            sent = fields if token is None else {**fields, "csrf_token": token}
            answer = await victim.raw_post(path, sent)
            assert answer.status_code == 403, (attack, answer.status_code, answer.text[:300])
            assert "csrf-invalid" in answer.text
        # Still signed in, nothing added: the publisher table, tokens and audit are as before.
        assert (await victim.get("/projects/sampleproject")).text.count("<tr") == before


async def test_a_form_from_another_origin_is_refused_even_with_a_token(browser: Page) -> None:
    await browser.owner()
    await browser.get("/")
    answer = await browser.http.post(
        "/web/projects",
        data={"name": "other", "csrf_token": browser.token()},
        headers={"Origin": "https://evil.example"},
    )
    assert answer.status_code == 403
    assert "other" not in (await browser.get("/")).text


async def test_cookies_are_secure_httponly_and_same_site_strict(browser: Page) -> None:
    first = await browser.get("/signup")
    cookies = first.headers.get_list("set-cookie")
    answer = await browser.raw_post(
        "/signup",
        {
            "username": "alice",
            "email": "alice@example.org",
            "password": PASSWORD,
            "csrf_token": browser.token(),
        },
    )
    assert answer.status_code == 303
    cookies += answer.headers.get_list("set-cookie")
    names = {c.split("=", 1)[0] for c in cookies}
    # __Host-: Secure, Path=/ and no Domain, or the browser drops it.
    assert names == {"__Host-mintgate-session", "__Host-mintgate-csrf"}
    for cookie in cookies:
        flags = {f.strip().lower() for f in cookie.split(";")[1:]}
        assert {"secure", "httponly", "samesite=strict", "path=/"} <= flags, cookie
        assert not any(f.startswith("domain=") for f in flags), cookie


@pytest.mark.parametrize(
    "path",
    ["/", "/login", "/signup", "/account/two-factor", "/projects/sampleproject", "/staged"],
)
async def test_every_page_carries_the_content_security_policy(browser: Page, path: str) -> None:
    await browser.owner()
    answer = await browser.get(path)
    assert answer.status_code == 200
    assert answer.headers["content-security-policy"] == CSP
    assert "script-src 'self'" in CSP
    assert "unsafe-inline" not in CSP
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["cache-control"] == "no-store"
    # No inline script or handler anywhere: the policy would block it, so none may be needed.
    assert not re.search(r"<script(?![^>]*\bsrc=)", answer.text)
    assert not re.search(r"\son[a-z]+=", answer.text)


async def test_static_files_carry_the_policy_too(browser: Page) -> None:
    answer = await browser.http.get("/web/static/app.js")
    assert answer.status_code == 200
    assert answer.headers["content-security-policy"] == CSP
    assert "navigator.credentials.create" in answer.text


async def test_a_user_without_2fa_sees_the_banner_until_enrolled(browser: Page) -> None:
    await browser.sign_up("alice")
    assert "Enable two-factor authentication before you can create projects" in browser.text
    refused = await browser.post("/projects", {"name": "sampleproject"})
    assert refused.status_code == 403
    assert "two-factor-required" in refused.text
    codes = await browser.enrol_totp()
    assert len(codes) == 8
    assert "two-factor-banner" not in (await browser.get("/")).text


async def test_the_banner_names_the_policy_that_holds_a_maintainer(
    make_page: PageFactory, store: SqlStore
) -> None:
    async with make_page(two_factor_required_from=date(2000, 1, 1)) as browser:
        await browser.owner()
        assert "two-factor-banner" not in browser.text
        # An operator resets alice's 2FA: she still owns the project, without a second factor.
        reset = await reset_two_factor(Deps(store), Context(actor="operator"), "alice", "ticket 7")
        assert not isinstance(reset, Refusal)
        await browser.get("/login")
        await browser.post("/login", {"username": "alice", "password": PASSWORD})
        assert "before you can do anything else here: every project and organization" in (
            browser.text
        )


async def test_sign_in_asks_for_the_second_factor_then_lands_on_the_page(browser: Page) -> None:
    await browser.owner()
    await browser.post("/logout", {})
    assert (await browser.get("/")).url.path == "/web/login"
    after = await browser.post(
        "/login", {"username": "alice", "password": PASSWORD, "next": "/projects/sampleproject"}
    )
    assert after.url.path == "/web/login/two-factor"
    wrong = await browser.post("/confirm/totp", {"code": "000000", "next": "/x"})
    assert wrong.status_code == 401
    assert "wrong or expired" in wrong.text
    done = await browser.post(
        "/confirm/totp", {"code": browser.code(), "next": "/projects/sampleproject"}
    )
    assert done.url.path == "/web/projects/sampleproject"


async def test_a_wrong_password_is_refused_without_a_session(browser: Page) -> None:
    await browser.sign_up("alice")
    await browser.post("/logout", {})
    await browser.get("/login")
    answer = await browser.post("/login", {"username": "alice", "password": "nope" * 4})
    assert answer.status_code == 401
    assert "username or password is wrong" in answer.text
    assert (await browser.get("/")).url.path == "/web/login"


@pytest.mark.parametrize("target", ["//evil.example/x", "/\\evil.example", "https://evil.example"])
async def test_next_never_leaves_the_site(browser: Page, target: str) -> None:
    await browser.sign_up("alice")
    await browser.post("/logout", {})
    await browser.get("/login")
    fields = {"username": "alice", "password": PASSWORD, "csrf_token": browser.token()}
    answer = await browser.raw_post("/login", {**fields, "next": target})
    assert answer.headers["location"] == "/web/"


async def test_a_publisher_is_previewed_with_its_claims_then_trusted(browser: Page) -> None:
    await browser.owner()
    preview = await browser.post("/projects/sampleproject/publishers/preview", GITHUB)
    assert preview.status_code == 200
    text = browser.text
    for expected in (
        "octo-org/sampleproject",
        "1234567",
        "octo-org/sampleproject/.github/workflows/release.yml@<ref>",
        "'refs/tags/v*'",
        "pull_request_target or workflow_run",
    ):
        assert expected in text, expected
    # Nothing is trusted by the preview alone.
    assert "No trusted publisher yet" in (await browser.get("/projects/sampleproject")).text
    await browser.post("/projects/sampleproject/publishers/preview", GITHUB)
    # The preview's own hidden fields go back, as its button would send them.
    hidden = dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', browser.text))
    hidden.pop("csrf_token")
    assert hidden == GITHUB | {"t_refs": "refs/tags/v*"}
    added = await browser.post("/projects/sampleproject/publishers", hidden)
    assert "Trusted publisher added." in browser.text
    assert added.status_code == 200
    assert "github:octo-org/sampleproject:release.yml:env=pypi" in browser.text
    assert "never" in browser.text  # last use
    assert "publisher:added" in browser.text  # the audit log


async def test_a_bad_publisher_table_is_refused_naming_the_key(browser: Page) -> None:
    await browser.owner()
    bad = {**GITHUB, "t_repository": "not a repo"}
    answer = await browser.post("/projects/sampleproject/publishers/preview", bad)
    assert answer.status_code == 400
    assert "invalid-publisher-config" in answer.text
    assert "repository" in answer.text


async def test_the_switch_turns_trusted_publishing_only_on_and_off(browser: Page) -> None:
    await browser.owner()
    await browser.get("/projects/sampleproject")
    await browser.post("/projects/sampleproject/trusted-publishing-only", {"enabled": "on"})
    assert "API tokens are refused for this project now" in browser.text
    await browser.post("/projects/sampleproject/trusted-publishing-only", {"enabled": "off"})
    assert "API tokens may upload again" in browser.text
    assert browser.text.count("project:trusted-publishing-only") == 2


async def test_a_stale_proof_sends_the_owner_to_confirm_then_back(browser: Page) -> None:
    await browser.owner()
    browser.clock.advance(16 * 60)
    answer = await browser.get("/projects/sampleproject")
    assert answer.url.path == "/web/confirm"
    back = await browser.post(
        "/confirm/totp", {"code": browser.code(), "next": "/projects/sampleproject"}
    )
    assert back.url.path == "/web/projects/sampleproject"
    assert "Trusted publishers" in back.text


async def test_a_pending_publisher_is_registered_for_a_free_name(browser: Page) -> None:
    await browser.owner()
    await browser.get("/")
    fields = {**GITHUB, "project": "brand-new"}
    await browser.post("/pending-publishers/preview", fields)
    assert "for brand-new" in browser.text
    await browser.post("/pending-publishers", fields)
    assert "Pending publisher registered" in browser.text
    assert "waiting for the first upload" in browser.text


async def test_recovery_codes_come_with_copy_and_download(browser: Page) -> None:
    await browser.sign_up("alice")
    codes = await browser.enrol_totp()
    assert browser.last is not None
    page = browser.last.text
    assert 'data-copy="recovery-codes-list"' in page
    assert 'download="mintgate-recovery-codes.txt"' in page
    assert "%0A".join(codes) in page
    # Shown once: the account page never shows them again.
    again = await browser.get("/account/two-factor")
    assert codes[0] not in again.text
    assert "8 recovery codes left" in again.text


async def test_a_non_member_sees_nothing_of_a_project(make_page: PageFactory) -> None:
    async with make_page() as alice, make_page() as bob:
        await alice.owner()
        await bob.sign_up("bob")
        answer = await bob.get("/projects/sampleproject")
        assert answer.status_code == 403
        assert "not-a-maintainer" in answer.text
