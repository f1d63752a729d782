"""The pages in a real browser: Debian's Chromium, headless, driven by Playwright, against
a real `mintgate serve` on loopback. Each page visited is kept as a screenshot at 1280x900
and at 390x844 (a phone) under tests/artifacts/web/ (ignored by git) for a person to look
at, and at 390 px none may scroll sideways (browser_helpers.shot)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from browser_helpers import (
    ARTIFACTS,
    PASSWORD,
    beside,
    shot,
    sign_up,
    totp_code,
    virtual_authenticator,
)
from chromium import ensure_chromium
from playwright.sync_api import Browser, Page, Response, expect, sync_playwright
from servers import LOOPBACK, MINTGATE, free_port, serving
from staging.stagingkit import stage

from service.accounts.secretbox import generate_key
from service.staging.area import FileStagingArea
from service.staging.intake import Intake
from service.store.sql import open_store

TIMEOUT_MS = 10_000


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("web-serve")


@pytest.fixture(scope="module")
def server(home: Path) -> Iterator[str]:
    """`mintgate serve` at http://localhost:PORT: WebAuthn needs a host name for its RP id
    (an IP address is not one), and localhost is a secure context over plain http."""
    key = home / "secret.key"
    key.write_text(generate_key() + "\n")
    port = free_port()
    url = f"http://localhost:{port}"
    env = {
        "MINTGATE_HOST": LOOPBACK,
        "MINTGATE_PORT": str(port),
        "MINTGATE_URL": url,
        "MINTGATE_DATABASE_URL": f"sqlite:///{home / 'mintgate.sqlite3'}",
        "MINTGATE_SECRET_KEY_FILE": str(key),
        "MINTGATE_PWNED_PASSWORDS_URL": "off",
        "MINTGATE_SECRET_SCANNING_KEYS_URL": "off",
        "MINTGATE_LOG_FORMAT": "text",
    }
    ready = f"http://{LOOPBACK}:{port}/healthz"
    with serving([str(MINTGATE), "serve"], env, ready=ready, log=home / "serve.log"):
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = ensure_chromium()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(executable), headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, server: str) -> Iterator[Page]:
    context = browser.new_context(base_url=server)
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    # Whatever a page loads by itself (style, script, icon) must be there: a 404 for
    # /favicon.ico on every page was one of issue 20's findings.
    missing: list[str] = []

    def loaded(response: Response) -> None:
        if response.request.resource_type != "document" and response.status >= 400:
            missing.append(f"{response.status} {response.url}")

    opened.on("response", loaded)
    yield opened
    context.close()
    # A Content-Security-Policy violation shows up as a console error: none may happen.
    assert not [e for e in errors if "Content Security Policy" in e], errors
    assert not missing, missing


async def stage_one(home: Path) -> int:
    store = await open_store(f"sqlite+aiosqlite:///{home / 'mintgate.sqlite3'}")
    try:
        intake = Intake(store, FileStagingArea(home / "staging"))
        return (await stage(intake, store)).id
    finally:
        await store.close()


def staged_one(home: Path) -> int:
    # Playwright's sync API runs an event loop in this thread: the store gets its own.
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(lambda: asyncio.run(stage_one(home))).result()


def test_sign_up_totp_publisher_and_token(page: Page, home: Path) -> None:
    name = f"alice{os.getpid()}"
    sign_up(page, name)
    shot(page, "two-factor-welcome")
    page.click("#totp-begin")
    qr = page.get_by_role("img", name="QR code for your authenticator app")
    expect(qr).to_be_visible()
    key = page.inner_text("#totp-secret")
    shot(page, "totp-enrol")
    # Ten steps on: a wrong code. The QR code and the key stay for another try.
    page.fill("#totp-code", totp_code(key, later=300))
    page.click("button:has-text('Confirm')")
    expect(page.locator("main .error")).to_contain_text("wrong or expired")
    expect(qr).to_be_visible()
    expect(page.locator("#totp-secret")).to_have_text(key)
    shot(page, "totp-enrol-wrong-code")
    page.fill("#totp-code", totp_code(key))
    page.click("button:has-text('Confirm')")
    codes = page.inner_text("#recovery-codes-list").split()
    assert len(codes) == 8
    expect(page.locator("h1")).to_have_text("Two-factor authentication is on")
    expect(page.locator("#two-factor-banner")).to_have_count(0)
    shot(page, "recovery-codes")
    page.click("#codes-saved")
    expect(page.locator("#two-factor-banner")).to_have_count(0)
    shot(page, "home-empty")

    page.fill("input[name=name]", "sampleproject")
    page.click("button:has-text('Create project')")
    expect(page.locator("h1")).to_have_text("sampleproject")
    # Each radio button and check box right before its words, not floating away.
    assert beside(page, "#staging-form") == []
    assert beside(page, "#state-form") == []
    expect(page.locator("#provider-github summary")).to_have_text("Add a GitHub publisher")
    page.click("#provider-github summary")
    form = page.locator("#provider-github form")
    form.locator("input[name=t_repository]").fill("octo-org/sampleproject")
    form.locator("input[name=t_repository_owner_id]").fill("1234567")
    form.locator("input[name=t_workflow]").fill("release.yml")
    form.locator("input[name=t_environment]").fill("pypi")
    shot(page, "project-publisher-form")
    form.locator("button[type=submit]").click()
    checks = page.locator("#claim-checks")
    expect(checks).to_contain_text("octo-org/sampleproject/.github/workflows/release.yml@<ref>")
    expect(checks).to_contain_text("1234567")
    expect(page.locator("#publisher-cancel")).to_have_attribute(
        "href", "/web/projects/sampleproject"
    )
    shot(page, "publisher-preview")
    page.click("#publisher-confirm")
    expect(page.locator("tr.publisher")).to_contain_text("github:octo-org/sampleproject")
    expect(page.locator("tr.publisher .last-used")).to_have_text("never")

    token_form = page.locator("#token-create")
    primary = token_form.locator("button[type=submit]")
    background = "e => getComputedStyle(e).backgroundColor"
    remove = page.locator("tr.publisher button.remove")
    assert remove.evaluate(background) != primary.evaluate(background)
    token_form.locator("input[name=name]").fill("laptop")
    token_form.locator("select[name=expires_days]").select_option("30")
    primary.click()
    expect(page).to_have_url("/web/projects/sampleproject?done=token-created#created-token")
    token = page.inner_text("#new-token")
    assert token.startswith("mgapi_")
    expect(page.locator("#new-token")).to_be_in_viewport()
    shot(page, "token-created")
    page.reload()
    expect(page.locator("#new-token")).to_have_count(0)
    expect(page.locator("tr.token")).to_have_count(1)
    expect(page.locator("#audit")).to_contain_text("token:created")
    revoke = page.locator("tr.token button.revoke")
    assert revoke.evaluate(background) != primary.evaluate(background)
    revoke.click()
    expect(page.locator("h1")).to_contain_text("Revoke the API token")
    shot(page, "token-revoke-confirm")
    page.click("#confirm-revoke")
    expect(page.locator("tr.token .state")).to_have_text("revoked")
    assert token not in page.content()
    expect(page.locator("#audit")).to_contain_text("publisher:added")

    remove.click()
    expect(page.locator("h1")).to_contain_text("Remove")
    shot(page, "publisher-remove-confirm")
    page.click("#cancel")
    expect(page.locator("tr.publisher")).to_have_count(1)
    page.click("tr.publisher button.freeze")
    shot(page, "publisher-freeze-confirm")
    page.click("text=Cancel")
    page.check("#state-form input[value=archived]")
    page.click("#state-form button")
    shot(page, "project-state-confirm")
    page.click("text=Cancel")
    shot(page, "project")
    # Staging on from the form (its radio buttons, in a browser), then an upload waits: the
    # gateway's own intake writes it into the database `mintgate serve` reads.
    page.check("#staging-form input[name=enabled][value=on]")
    page.click("#staging-form button[type=submit]")
    expect(page.locator("main .notice")).to_contain_text("Staged publishing on")
    release = staged_one(home)
    page.goto("/web/staged")
    expect(page.locator("tr.staged-release")).to_have_count(1)
    shot(page, "staged-list")
    page.click("tr.staged-release a >> nth=0")
    expect(page).to_have_url(f"/web/staged/{release}")
    expect(page.locator("#staged-files")).to_contain_text("sampleproject-1.0.0-py3-none-any.whl")
    shot(page, "staged-release")
    page.goto("/web/projects/not-mine")
    expect(page.locator("#refusal")).to_be_visible()
    shot(page, "error")
    page.goto("/web/confirm?next=/")
    shot(page, "confirm")

    page.click("header button:has-text('Sign out')")
    expect(page).to_have_url("/web/login?done=signed-out")
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
    shot(page, "login-signed-out")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("main button:has-text('Sign in')")
    expect(page).to_have_url("/web/login/two-factor?next=/")
    # Half signed in: nothing in the header leads into pages the session cannot open yet.
    expect(page.locator("header nav a")).to_have_count(0)
    expect(page.locator("header #sign-out-pending")).to_be_visible()
    shot(page, "sign-in-second-factor")
    # The TOTP code above is spent until the next step: a recovery code finishes instead.
    page.fill("input[name=code] >> nth=1", codes[0])
    page.click("button:has-text('Use recovery code')")
    expect(page.locator("#projects")).to_contain_text("sampleproject")
    shot(page, "home")


def test_security_key_enrolment_and_sign_in(page: Page, server: str) -> None:
    virtual_authenticator(page)
    name = f"bob{os.getpid()}"
    sign_up(page, name)
    expect(page.locator("#security-key-unavailable")).to_be_hidden()
    page.fill("#security-key-add input[name=name]", "virtual key")
    page.click("#security-key-add button")
    expect(page.locator("#security-key-added")).to_be_visible()
    codes = page.locator("#recovery-codes-slot pre")
    expect(codes).to_be_visible()
    assert len(codes.inner_text().split()) == 8
    # The key was the first factor: the banner asking for one is gone.
    expect(page.locator("#two-factor-banner")).to_have_count(0)
    shot(page, "security-key-added")
    page.goto("/web/account/two-factor")
    expect(page.locator("#two-factor-state")).to_contain_text("security-key")
    shot(page, "two-factor")

    # The same session at 127.0.0.1, where browsers refuse security keys: the page says so.
    at_ip = server.replace("localhost", LOOPBACK)
    cookies = [
        {"name": c["name"], "value": c["value"], "url": at_ip} for c in page.context.cookies()
    ]
    page.context.add_cookies(cookies)  # type: ignore[arg-type]
    page.goto(f"{at_ip}/web/account/two-factor")
    notice = page.locator("#security-key-unavailable")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("IP address such as 127.0.0.1")
    expect(notice.locator("a")).to_have_attribute("href", f"{server}/web/account/two-factor")
    expect(page.locator("#security-key-add button")).to_be_disabled()
    expect(page.locator("#security-key-add input[name=name]")).to_be_disabled()
    shot(page, "security-key-at-ip")

    page.goto("/web/account/two-factor")
    page.click("header button:has-text('Sign out')")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("main button:has-text('Sign in')")
    page.click("#security-key-sign-in")
    expect(page).to_have_url("/web/")
    expect(page.locator("header .who")).to_have_text(name)
