"""Issue 21 over /api/v1: an operator reset ends every session, the first second factor
ends the password-only sessions, and a sign-in from a new device is mailed (through a real
local SMTP server) with the device cookie's attributes checked."""

from __future__ import annotations

import json
from http.cookies import SimpleCookie

import httpx
import pytest
from accounts.softkey import SoftKey
from api_helpers import URL, Api, ApiFactory, User, codes
from fakeissuer import Clock
from test_api_notices import Inbox, inbox

from service.accounts import devices
from service.accounts.core import Context, Deps
from service.accounts.two_factor import reset_two_factor
from service.publishers.base import Refusal
from service.store import SqlStore

__all__ = ["inbox"]

pytestmark = pytest.mark.anyio

DEVICE = "__Host-mintgate-device"
NEW_DEVICE = "Sign-in from a new device"


async def test_a_session_opened_before_an_operator_reset_is_refused_after_it(
    api: Api, store: SqlStore, clock: Clock
) -> None:
    bob = await api.user("bob", two_factor=True)
    assert (await api.confirm_totp(bob)).status_code == 200
    stolen = await api.session("bob")  # pending: the thief had the password
    assert (await api.confirm_totp(bob, stolen)).status_code == 200  # ... and the factor
    reset = await reset_two_factor(Deps(store, clock), Context("operator:test"), "bob", "t-7")
    assert not isinstance(reset, Refusal)
    for session in (bob.session, stolen):
        me = await api.get("/me", session)
        assert (me.status_code, codes(me)) == (401, ["not-signed-in"])
        enrol = await api.post("/me/two-factor/totp", session)
        assert (enrol.status_code, codes(enrol)) == (401, ["not-signed-in"])
    # bob signs in afresh and enrols again, as the reset asks.
    fresh = await api.session("bob")
    assert (await api.post("/me/two-factor/totp", fresh)).status_code == 200


async def test_a_first_authenticator_app_ends_the_other_password_only_sessions(
    api: Api,
) -> None:
    alice = await api.user("alice")
    other = await api.session("alice")
    assert (await api.get("/me", other)).status_code == 200
    await api.enrol_totp(alice)
    refused = await api.get("/me", other)
    assert (refused.status_code, codes(refused)) == (401, ["not-signed-in"])
    me = await api.get("/me", alice.session)
    assert me.status_code == 200, me.text
    assert me.json()["session"]["two_factor_pending"] is False


async def test_a_first_security_key_ends_the_other_password_only_sessions(api: Api) -> None:
    alice = await api.user("alice")
    other = await api.session("alice")
    key = SoftKey(URL, "mintgate.test")
    options = await api.post("/me/two-factor/security-keys/options", alice.session)
    attestation = key.register(json.dumps(options.json()["public_key"]))
    added = await api.post(
        "/me/two-factor/security-keys",
        alice.session,
        {"name": "yubikey", "credential": json.loads(attestation)},
    )
    assert added.status_code == 201, added.text
    refused = await api.get("/me", other)
    assert (refused.status_code, codes(refused)) == (401, ["not-signed-in"])
    me = await api.get("/me", alice.session)
    assert me.status_code == 200
    assert me.json()["session"]["two_factor_pending"] is False


def _device_cookie(response: httpx.Response) -> SimpleCookie | None:
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(f"{DEVICE}="):
            cookie: SimpleCookie = SimpleCookie()
            cookie.load(header)
            return cookie
    return None


async def _sign_in_with_totp(api: Api, user: User) -> httpx.Response:
    pending = await api.session(user.name)
    done = await api.confirm_totp(user, pending)
    assert done.status_code == 200, done.text
    return done


async def test_new_devices_are_mailed_and_known_ones_are_not(
    make_api: ApiFactory, inbox: tuple[str, Inbox]
) -> None:
    url, mails = inbox
    async with make_api(smtp_url=url, smtp_from="security@pypi.example.org") as api:
        alice = await api.user("alice", two_factor=True)
        added = len(mails.messages)  # "two-factor method added"

        first = await _sign_in_with_totp(api, alice)
        cookie = _device_cookie(first)
        assert cookie is not None
        morsel = cookie[DEVICE]
        assert morsel["httponly"]
        assert morsel["secure"]
        assert (morsel["samesite"].lower(), morsel["path"]) == ("lax", "/")
        assert int(morsel["max-age"]) == int(devices.COOKIE_AGE.total_seconds())
        assert len(mails.messages) == added + 1

        # The same browser (httpx keeps the cookie) signs in again: no mail, no new cookie.
        again = await _sign_in_with_totp(api, alice)
        assert _device_cookie(again) is None
        assert len(mails.messages) == added + 1

        # A recovery code from the same browser is a known device too.
        pending = await api.session("alice")
        code = {"code": alice.recovery_codes[0]}
        assert (await api.post("/session/confirm/recovery-code", pending, code)).status_code == 200
        assert [m["Subject"] for m in mails.messages[added + 1 :]] == [
            "[mintgate] Recovery code used"
        ]

        # Another browser: no cookie.
        api.http.cookies.clear()
        other = await _sign_in_with_totp(api, alice)
        assert _device_cookie(other) is not None

        # A forged cookie is just an unknown device, and is replaced by one of ours.
        api.http.cookies.clear()
        forged = devices.new_token()
        api.http.cookies.set(DEVICE, forged, domain="mintgate.test")
        replaced = _device_cookie(await _sign_in_with_totp(api, alice))
        assert replaced is not None
        assert replaced[DEVICE].value != forged

    subjects = [m["Subject"].removeprefix("[mintgate] ") for m in mails.messages[added:]]
    assert subjects == [NEW_DEVICE, "Recovery code used", NEW_DEVICE, NEW_DEVICE]
    body = mails.messages[added].get_payload()
    assert isinstance(body, str)
    assert "192.0.2.10" in body
    assert "python-httpx" in body
    assert "authenticator app" in body


async def test_a_security_key_sign_in_from_a_new_device_is_mailed(
    make_api: ApiFactory, inbox: tuple[str, Inbox]
) -> None:
    url, mails = inbox
    async with make_api(smtp_url=url) as api:
        alice = await api.user("alice")
        key = SoftKey(URL, "mintgate.test")
        options = await api.post("/me/two-factor/security-keys/options", alice.session)
        attestation = key.register(json.dumps(options.json()["public_key"]))
        body = {"name": "yubikey", "credential": json.loads(attestation)}
        assert (
            await api.post("/me/two-factor/security-keys", alice.session, body)
        ).status_code == 201
        for _ in range(2):
            pending = await api.session("alice")
            challenge = await api.post("/session/confirm/security-key/options", pending)
            assertion = key.sign_in(json.dumps(challenge.json()["public_key"]))
            done = await api.post(
                "/session/confirm/security-key", pending, {"credential": json.loads(assertion)}
            )
            assert done.status_code == 200, done.text
    subjects = [m["Subject"].removeprefix("[mintgate] ") for m in mails.messages]
    assert subjects == ["Two-factor method added", NEW_DEVICE]
    assert "a security key" in str(mails.messages[1].get_payload())


async def test_a_reconfirmation_sets_no_device_cookie_and_mails_nothing(
    make_api: ApiFactory, inbox: tuple[str, Inbox]
) -> None:
    url, mails = inbox
    async with make_api(smtp_url=url) as api:
        alice = await api.user("alice", two_factor=True)
        done = await api.confirm_totp(alice)  # a full session proving again
        assert done.status_code == 200
        assert _device_cookie(done) is None
    assert [m["Subject"] for m in mails.messages] == ["[mintgate] Two-factor method added"]
