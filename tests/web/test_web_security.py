"""Issue 21 on the pages: an operator reset signs the browser out, a second use of a code in
another spelling is refused, and a sign-in from a new browser is mailed (real local SMTP)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from api.api_helpers import PASSWORD
from fakeissuer import Clock
from web_helpers import Page, PageFactory

from service.accounts import totp
from service.accounts.core import Context, Deps
from service.accounts.two_factor import reset_two_factor
from service.publishers.base import Refusal
from service.store import SqlStore

pytestmark = pytest.mark.anyio

DEVICE = "__Host-mintgate-device"
NEW_DEVICE = "[mintgate] Sign-in from a new device"


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def inbox() -> Iterator[tuple[str, Inbox]]:
    """A real SMTP server on loopback (as tests/api/test_api_notices.py)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    found = Inbox()
    controller = Controller(found, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{port}", found
    finally:
        controller.stop()


async def _sign_in(browser: Page, code: str) -> None:
    await browser.post("/logout", {})
    after = await browser.post("/login", {"username": "alice", "password": PASSWORD})
    assert after.url.path == "/web/login/two-factor"
    done = await browser.post("/confirm/totp", {"code": code, "next": "/"})
    assert done.url.path == "/web/", done.text


async def test_a_browser_signed_in_before_an_operator_reset_is_signed_out(
    browser: Page, store: SqlStore, clock: Clock
) -> None:
    await browser.sign_up("alice")
    await browser.enrol_totp()
    assert (await browser.get("/account/two-factor")).url.path == "/web/account/two-factor"
    token = browser.token()
    reset = await reset_two_factor(Deps(store, clock), Context("operator:test"), "alice", "t-7")
    assert not isinstance(reset, Refusal)
    assert (await browser.get("/account/two-factor")).url.path == "/web/login"
    # The old cookie cannot start an enrolment either (the form it had is still in hand).
    answer = await browser.http.post(
        "/web/account/two-factor/totp", data={"csrf_token": token}, follow_redirects=False
    )
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/web/login")


async def test_another_spelling_of_a_used_code_does_not_sign_in(browser: Page) -> None:
    await browser.sign_up("alice")
    await browser.enrol_totp()
    code = browser.code()
    await _sign_in(browser, code)
    await browser.post("/logout", {})
    await browser.post("/login", {"username": "alice", "password": PASSWORD})
    for spelling in (f"{code[:3]} {code[3:]}", f"{code[:3]}-{code[3:]}", f" {code}\n"):
        again = await browser.post("/confirm/totp", {"code": spelling, "next": "/"})
        assert again.status_code == 401
        assert "already used" in again.text
    full_width = code.translate(
        str.maketrans("0123456789", "".join(chr(0xFF10 + d) for d in range(10)))
    )
    wrong = await browser.post("/confirm/totp", {"code": full_width, "next": "/"})
    assert wrong.status_code == 401
    assert "wrong or expired" in wrong.text


async def test_a_sign_in_from_a_new_browser_is_mailed_once(
    make_page: PageFactory, clock: Clock, inbox: tuple[str, Inbox]
) -> None:
    url, mails = inbox
    async with make_page(smtp_url=url) as browser:
        await browser.sign_up("alice")
        recovery_codes = await browser.enrol_totp()
        await _sign_in(browser, browser.code())
        assert browser.http.cookies.get(DEVICE) is not None
        clock.advance(totp.STEP)
        await _sign_in(browser, browser.code())  # the same browser: known
        # A new browser (no device cookie) signing in with a recovery code.
        browser.http.cookies.delete(DEVICE)
        await browser.post("/logout", {})
        await browser.post("/login", {"username": "alice", "password": PASSWORD})
        done = await browser.post(
            "/confirm/recovery-code", {"code": recovery_codes[0], "next": "/"}
        )
        assert done.url.path == "/web/"
    subjects = [m["Subject"] for m in mails.messages]
    assert subjects == [
        "[mintgate] Two-factor method added",
        NEW_DEVICE,
        "[mintgate] Recovery code used",
        NEW_DEVICE,
    ]
    assert "a recovery code" in str(mails.messages[3].get_payload())
