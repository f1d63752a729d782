"""The pages in a real browser: Debian's Chromium, headless, driven by Playwright, against
a real `mintgate serve` on loopback. Each page visited is kept as a screenshot under
tests/artifacts/web/ (ignored by git) for a person to look at."""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chromium import ensure_chromium
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP
from playwright.sync_api import Browser, Page, expect, sync_playwright
from servers import LOOPBACK, MINTGATE, free_port, serving

from service.accounts.secretbox import generate_key

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts" / "web"
PASSWORD = "correct horse battery staple"
TIMEOUT_MS = 10_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`mintgate serve` at http://localhost:PORT: WebAuthn needs a host name for its RP id
    (an IP address is not one), and localhost is a secure context over plain http."""
    home = tmp_path_factory.mktemp("web-serve")
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
    yield opened
    context.close()
    # A Content-Security-Policy violation shows up as a console error: none may happen.
    assert not [e for e in errors if "Content Security Policy" in e], errors


def shot(page: Page, name: str) -> None:
    page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


def sign_up(page: Page, name: str) -> None:
    page.goto("/web/signup")
    shot(page, "signup")
    page.fill("input[name=username]", name)
    page.fill("input[name=email]", f"{name}@example.org")
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Create account')")
    expect(page).to_have_url("/web/account/two-factor?done=welcome")
    expect(page.locator("#two-factor-banner")).to_be_visible()


def totp_code(manual_key: str) -> str:
    secret = base64.b32decode(manual_key + "=" * (-len(manual_key) % 8))
    totp = TOTP(secret, 6, SHA1(), 30, enforce_key_length=True)  # noqa: S303 (RFC 6238)
    return totp.generate(time.time()).decode()


def test_sign_up_totp_publisher_and_token(page: Page) -> None:
    name = f"alice{os.getpid()}"
    sign_up(page, name)
    shot(page, "two-factor-welcome")
    page.click("#totp-begin")
    expect(page.locator("#totp-qr svg")).to_be_visible()
    shot(page, "totp-enrol")
    page.fill("#totp-code", totp_code(page.inner_text("#totp-secret")))
    page.click("button:has-text('Confirm')")
    codes = page.inner_text("#recovery-codes-list").split()
    assert len(codes) == 8
    shot(page, "recovery-codes")
    page.click("#codes-saved")
    expect(page.locator("#two-factor-banner")).to_have_count(0)

    page.fill("input[name=name]", "sampleproject")
    page.click("button:has-text('Create project')")
    expect(page.locator("h1")).to_have_text("sampleproject")
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
    shot(page, "publisher-preview")
    page.click("#publisher-confirm")
    expect(page.locator("tr.publisher")).to_contain_text("github:octo-org/sampleproject")
    expect(page.locator("tr.publisher .last-used")).to_have_text("never")

    token_form = page.locator("#token-create")
    token_form.locator("input[name=name]").fill("laptop")
    token_form.locator("select[name=expires_days]").select_option("30")
    token_form.locator("button[type=submit]").click()
    token = page.inner_text("#new-token")
    assert token.startswith("mgapi_")
    shot(page, "token-created")
    page.locator("tr.token button:has-text('Revoke')").click()
    expect(page.locator("tr.token .state")).to_have_text("revoked")
    assert token not in page.content()
    expect(page.locator("#audit")).to_contain_text("publisher:added")
    shot(page, "project")

    page.click("header button:has-text('Sign out')")
    expect(page).to_have_url("/web/login?done=signed-out")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("main button:has-text('Sign in')")
    expect(page).to_have_url("/web/login/two-factor?next=/")
    shot(page, "sign-in-second-factor")
    # The TOTP code above is spent until the next step: a recovery code finishes instead.
    page.fill("input[name=code] >> nth=1", codes[0])
    page.click("button:has-text('Use recovery code')")
    expect(page.locator("#projects")).to_contain_text("sampleproject")
    shot(page, "home")


def virtual_authenticator(page: Page) -> Any:
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "usb",
                "hasResidentKey": False,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp


def test_security_key_enrolment_and_sign_in(page: Page) -> None:
    virtual_authenticator(page)
    name = f"bob{os.getpid()}"
    sign_up(page, name)
    page.fill("#security-key-add input[name=name]", "virtual key")
    page.click("#security-key-add button")
    expect(page.locator("#security-key-added")).to_be_visible()
    codes = page.locator("#recovery-codes-slot pre")
    expect(codes).to_be_visible()
    assert len(codes.inner_text().split()) == 8
    shot(page, "security-key-added")
    page.goto("/web/account/two-factor")
    expect(page.locator("#two-factor-state")).to_contain_text("security-key")

    page.click("header button:has-text('Sign out')")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("main button:has-text('Sign in')")
    page.click("#security-key-sign-in")
    expect(page).to_have_url("/web/")
    expect(page.locator("header .who")).to_have_text(name)
