"""First use of the pages (issue 20), in process: what a new maintainer met on the way
through, each held here where no browser is needed (tests/web/test_web_browser.py holds
the layout ones)."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta

import pytest
from api.api_helpers import PASSWORD
from starlette.requests import Request
from starlette.responses import Response
from web_helpers import NEW_TOKEN, SECRET, Page, PageFactory

from service.accounts import totp
from service.publishers import PROVIDERS
from service.web.once import EXPIRES, OneTime, Shown
from service.web.publisher_forms import LABELS

pytestmark = pytest.mark.anyio

BASE = "/projects/sampleproject"
TOKEN = {"name": "laptop", "scope": "project", "expires_days": "30"}
GITHUB = {
    "provider": "github",
    "issuer": "https://token.actions.githubusercontent.com",
    "t_repository": "octo-org/sampleproject",
    "t_repository_owner_id": "1234567",
    "t_workflow": "release.yml",
}
BANNER = 'id="two-factor-banner"'
REMOVE = re.compile(r'action="/web(/projects/sampleproject/publishers/\d+/remove)"')
REVOKE = re.compile(r'action="/web(/projects/sampleproject/tokens/[^"/]+/revoke)"')


def wrong_code(secret: bytes, page: Page) -> str:
    # Ten steps away: outside the one step of drift either side, so never accepted.
    right = totp.generate(secret, page.clock())
    far = totp.generate(secret, page.clock() + 10 * totp.STEP)
    return far if far != right else str((int(far) + 1) % 10**6).zfill(6)


async def begin_totp(browser: Page) -> tuple[str, bytes]:
    await browser.sign_up("alice")
    await browser.get("/account/two-factor")
    begun = await browser.post("/account/two-factor/totp", {})
    found = SECRET.search(begun.text)
    assert found is not None
    key = found[1]
    return key, base64.b32decode(key + "=" * (-len(key) % 8))


def carried(page: Page) -> dict[str, str]:
    """The confirm form's hidden fields but the CSRF token, as a browser would send them."""
    hidden = dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    hidden.pop("csrf_token")
    return hidden


async def test_a_wrong_enrolment_code_keeps_the_qr_code_and_the_key(browser: Page) -> None:
    key, secret = await begin_totp(browser)

    wrong = await browser.post(
        "/account/two-factor/totp/confirm",
        {**carried(browser), "code": wrong_code(secret, browser)},
    )

    assert wrong.status_code == 400
    assert "wrong or expired" in browser.text
    assert 'id="totp-qr"' in wrong.text
    assert "<svg" in wrong.text
    assert SECRET.search(wrong.text) is not None
    assert SECRET.search(wrong.text)[1] == key  # type: ignore[index]
    # The same enrolment, so a code from the app that scanned it goes through.
    browser.totp_secret = secret
    right = await browser.post(
        "/account/two-factor/totp/confirm", {**carried(browser), "code": browser.code()}
    )
    assert right.status_code == 200
    assert "Two-factor authentication is on" in right.text


async def test_a_key_the_page_did_not_issue_is_never_shown_as_a_qr_code(browser: Page) -> None:
    _, secret = await begin_totp(browser)
    planted = base64.b32encode(b"\x01" * totp.SECRET_BYTES).decode().rstrip("=")
    fields = {
        "code": wrong_code(secret, browser),
        "manual_key": planted,
        "manual_key_mac": "0" * 64,
    }

    wrong = await browser.post("/account/two-factor/totp/confirm", fields)

    assert wrong.status_code == 400
    assert planted not in wrong.text
    assert 'id="totp-qr"' not in wrong.text


async def test_the_qr_code_has_an_accessible_name(browser: Page) -> None:
    await begin_totp(browser)
    figure = re.search(r'<figure class="qr" id="totp-qr"[^>]*>', browser.text)
    assert figure is not None
    assert 'role="img"' in figure[0]
    assert 'aria-label="QR code for your authenticator app"' in figure[0]


async def test_the_recovery_codes_page_does_not_ask_to_enable_what_is_on(browser: Page) -> None:
    await browser.sign_up("alice")
    assert BANNER in (await browser.get("/account/two-factor")).text

    await browser.enrol_totp()

    assert "Two-factor authentication is on" in browser.text
    assert BANNER not in browser.text


async def test_signing_out_says_so(browser: Page) -> None:
    await browser.owner()
    await browser.get("/")

    out = await browser.post("/logout", {})

    assert out.url.path == "/web/login"
    assert out.url.query == b"done=signed-out"
    assert '<p class="notice" role="status">You are signed out.</p>' in out.text


async def test_while_the_second_factor_is_pending_the_header_offers_only_sign_out(
    browser: Page,
) -> None:
    await browser.owner()
    await browser.get("/")
    await browser.post("/logout", {})
    half = await browser.post("/login", {"username": "alice", "password": PASSWORD, "next": "/"})
    assert half.url.path == "/web/login/two-factor"

    header = half.text.split("</header>", 1)[0]

    assert 'href="/web/staged"' not in header
    assert 'href="/web/account/two-factor"' not in header
    assert "alice" not in header
    assert 'id="sign-out-pending"' in header
    assert BANNER not in half.text


@pytest.mark.parametrize(
    ("provider", "label"),
    [
        ("github", "GitHub"),
        ("gitlab", "GitLab"),
        ("google", "Google"),
        ("activestate", "ActiveState"),
        ("circleci", "CircleCI"),
        ("buildkite", "Buildkite"),
        ("semaphore", "Semaphore"),
    ],
)
def test_providers_are_named_as_their_owners_write_them(provider: str, label: str) -> None:
    assert provider in PROVIDERS
    assert LABELS[provider] == label


def test_every_provider_has_a_written_name() -> None:
    assert set(PROVIDERS) <= set(LABELS)


async def test_the_forms_say_github_and_gitlab(browser: Page) -> None:
    await browser.owner()
    for path in ("/", BASE):
        text = (await browser.get(path)).text
        assert "Add a GitHub publisher" in text
        assert "Add a GitLab publisher" in text
        assert "Add a github publisher" not in text


@pytest.mark.parametrize(
    ("action", "fields", "back"),
    [
        pytest.param(f"{BASE}/publishers/preview", GITHUB, f"/web{BASE}", id="project"),
        pytest.param(
            "/pending-publishers/preview", {**GITHUB, "project": "brand-new"}, "/web/", id="pending"
        ),
    ],
)
async def test_the_publisher_preview_can_be_cancelled(
    browser: Page, action: str, fields: dict[str, str], back: str
) -> None:
    await browser.owner()
    await browser.get(BASE)

    preview = await browser.post(action, fields)

    assert preview.status_code == 200
    assert f'<a href="{back}" id="publisher-cancel"' in preview.text
    cancelled = await browser.get(back.removeprefix("/web"))
    assert "github:octo-org/sampleproject" not in cancelled.text.split('id="audit"')[0]


async def add_publisher(browser: Page) -> str:
    await browser.get(BASE)
    await browser.post(f"{BASE}/publishers", GITHUB)
    found = REMOVE.search(browser.text)
    assert found is not None
    return found[1]


async def test_removing_a_publisher_asks_first(browser: Page) -> None:
    await browser.owner()
    remove = await add_publisher(browser)
    assert re.search(r'class="danger remove">Remove…<', browser.text)

    asked = await browser.post(remove, {})

    assert asked.status_code == 200
    assert "will mint no more tokens for sampleproject" in asked.text
    assert f'<a href="/web{BASE}" class="button secondary" id="cancel">Cancel</a>' in asked.text
    still = await browser.get(BASE)
    assert 'class="publisher' in still.text
    assert "publisher:removed" not in still.text

    await browser.post(remove, {"confirmed": "yes"})

    assert "Trusted publisher removed." in browser.text
    assert 'class="publisher' not in browser.text
    assert "publisher:removed" in browser.text


async def create_token(browser: Page) -> str:
    await browser.get(BASE)
    made = await browser.post(f"{BASE}/tokens", TOKEN)
    assert made.status_code == 200
    token = NEW_TOKEN.search(made.text)
    assert token is not None
    return token[1]


async def test_revoking_a_token_asks_first(browser: Page) -> None:
    await browser.owner()
    await create_token(browser)
    assert re.search(r'class="danger revoke">Revoke…<', browser.text)
    revoke = REVOKE.search(browser.text)
    assert revoke is not None

    asked = await browser.post(revoke[1], {})

    assert asked.status_code == 200
    assert "Revoke the API token “laptop”?" in asked.text
    assert re.search(r'class="state">active<', (await browser.get(BASE)).text)

    await browser.post(revoke[1], {"confirmed": "yes"})

    assert "API token revoked." in browser.text
    assert re.search(r'class="state">revoked<', browser.text)
    assert "token:revoked" in browser.text.split('id="audit"')[1]


async def test_a_new_token_comes_after_a_redirect_never_in_its_url(browser: Page) -> None:
    await browser.owner()
    await browser.get(BASE)

    answer = await browser.raw_post(f"{BASE}/tokens", {**TOKEN, "csrf_token": browser.token()})

    assert answer.status_code == 303
    location = answer.headers["location"]
    assert location == f"/web{BASE}?done=token-created#created-token"
    (cookie,) = answer.headers.get_list("set-cookie")
    assert "mgapi_" not in cookie
    flags = {f.strip().lower() for f in cookie.split(";")[1:]}
    assert {"secure", "httponly", "samesite=strict", f"path=/web{BASE}"} <= flags
    assert not any(f.startswith(("max-age", "expires")) for f in flags), "kept in memory only"

    shown = await browser.http.get(location)
    token = NEW_TOKEN.search(shown.text)
    assert token is not None
    assert token[1].startswith("mgapi_")
    assert token[1] not in cookie
    assert "Your new API token “laptop”" in shown.text


async def test_reloading_the_page_shows_the_token_no_more_and_makes_no_second(
    browser: Page,
) -> None:
    await browser.owner()
    token = await create_token(browser)

    again = await browser.get(BASE)

    assert token not in again.text
    assert again.text.count('data-token-id="') == 1
    assert 'id="created-token"' not in again.text


async def test_the_token_made_here_is_in_the_projects_audit_log(browser: Page) -> None:
    await browser.owner()
    await create_token(browser)

    audit = (await browser.get(BASE)).text.split('id="audit"')[1]

    assert "token:created" in audit
    assert "name=laptop" in audit


async def test_a_token_that_waited_too_long_is_not_shown_and_the_page_says_so(
    browser: Page,
) -> None:
    await browser.owner()
    await browser.get(BASE)
    answer = await browser.raw_post(f"{BASE}/tokens", {**TOKEN, "csrf_token": browser.token()})
    browser.clock.advance(121)

    late = await browser.http.get(answer.headers["location"])

    assert NEW_TOKEN.search(late.text) is None
    assert "mgapi_" not in late.text
    assert "this page could not show it" in late.text
    assert "Revoke it below" in late.text


async def test_the_favicon_is_served_and_linked_from_every_page(browser: Page) -> None:
    for path in ("/login", "/signup"):
        text = (await browser.get(path)).text
        assert '<link rel="icon" href="/web/static/favicon.svg" type="image/svg+xml">' in text
    icon = await browser.http.get("/web/static/favicon.svg")
    assert icon.status_code == 200
    assert icon.headers["content-type"].startswith("image/svg+xml")
    assert icon.text.startswith("<svg")
    # A browser asks for /favicon.ico by itself (a JSON answer, a raw file): not a 404.
    bare = await browser.http.get("/favicon.ico")
    assert (bare.status_code, bare.headers["location"]) == (303, "/web/static/favicon.svg")


async def test_security_keys_are_said_not_to_work_on_an_ip_address(
    make_page: PageFactory,
) -> None:
    origin = "http://127.0.0.1:8000"
    async with make_page(webauthn_rp_id="127.0.0.1", webauthn_origin=origin) as browser:
        await browser.sign_up("alice")
        page = (await browser.get("/account/two-factor")).text

    notice = re.search(r'<p class="banner" id="security-key-unavailable"[^>]*>([^\n]+)</p>', page)
    assert notice is not None
    assert " hidden" not in notice[0].split(">")[0]
    assert "IP address" in notice[1]
    assert "MINTGATE_URL" in notice[1]


async def test_the_address_check_is_left_to_the_browser_on_a_host_name(browser: Page) -> None:
    await browser.sign_up("alice")
    page = (await browser.get("/account/two-factor")).text

    notice = re.search(r'<p class="banner" id="security-key-unavailable"([^>]*)>', page)

    assert notice is not None
    assert 'data-rp-id="mintgate.test"' in notice[1]
    assert notice[1].endswith(" hidden")


NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
PAGE = "/web/projects/sampleproject"


def sealed(once: OneTime, path: str = PAGE, session: str = "session-a") -> str:
    response = Response()
    once.put(response, path, session, Shown("laptop", "mgapi_secret"), NOW)
    cookie = response.headers["set-cookie"]
    return cookie.split(";", 1)[0].split("=", 1)[1]


def asking(once: OneTime, value: str) -> Request:
    header = f"{once.cookie_name}={value}".encode()
    return Request({"type": "http", "method": "GET", "headers": [(b"cookie", header)]})


@pytest.mark.parametrize(
    ("path", "session", "at"),
    [
        pytest.param(PAGE, "session-b", NOW, id="another session"),
        pytest.param("/web/projects/other", "session-a", NOW, id="another project's page"),
        pytest.param(PAGE, "session-a", NOW + timedelta(seconds=EXPIRES + 1), id="too late"),
    ],
)
def test_a_carried_token_opens_only_for_its_session_page_and_moment(
    path: str, session: str, at: datetime
) -> None:
    once = OneTime(b"k" * 32, secure=True)
    value = sealed(once)
    assert "mgapi_" not in value
    assert once.take(asking(once, value), PAGE, "session-a", NOW) == Shown("laptop", "mgapi_secret")

    assert once.take(asking(once, value), path, session, at) is None


@pytest.mark.parametrize("value", ["", "x", "A" * 40, "%%%", "A" * 5000], ids=repr)
def test_a_mangled_cookie_shows_nothing(value: str) -> None:
    once = OneTime(b"k" * 32, secure=False)
    assert once.take(asking(once, value), PAGE, "session-a", NOW) is None
