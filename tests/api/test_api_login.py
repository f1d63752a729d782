"""Signing in: password, then the second factor (TOTP, recovery code, security key)."""

from __future__ import annotations

import json

import pytest
from accounts.softkey import SoftKey
from api_helpers import PASSWORD, URL, Api, codes

from service.store import SqlStore

pytestmark = pytest.mark.anyio


async def test_a_user_without_2fa_gets_a_full_session_at_once(api: Api) -> None:
    await api.register("alice")
    signed_in = await api.login("alice")
    assert signed_in.status_code == 200
    assert signed_in.json()["session"]["two_factor_pending"] is False
    me = await api.get("/me", signed_in.json()["session_id"])
    assert me.status_code == 200
    assert me.json()["user"]["username"] == "alice"


async def test_login_with_totp_is_pending_until_the_code(api: Api) -> None:
    alice = await api.user("alice", two_factor=True)
    signed_in = await api.login("alice")
    assert signed_in.json()["session"]["two_factor_pending"] is True
    assert signed_in.json()["two_factor_methods"] == ["totp"]
    pending = signed_in.json()["session_id"]
    refused = await api.get("/me", pending)
    assert (refused.status_code, codes(refused)) == (403, ["two-factor-pending"])
    wrong = await api.post("/session/confirm/totp", pending, {"code": "000000"})
    assert (wrong.status_code, codes(wrong)) == (400, ["invalid-totp"])
    done = await api.confirm_totp(alice, pending)
    assert done.status_code == 200, done.text
    assert done.json()["session"]["two_factor_pending"] is False
    assert (await api.get("/me", pending)).status_code == 200


async def test_a_totp_code_is_accepted_once(api: Api) -> None:
    alice = await api.user("alice", two_factor=True)
    code = api.code(alice)
    first = await api.post("/session/confirm/totp", alice.session, {"code": code})
    again = await api.post("/session/confirm/totp", alice.session, {"code": code})
    assert first.status_code == 200
    assert (again.status_code, codes(again)) == (400, ["reused-totp"])


async def test_a_recovery_code_completes_a_login_once(api: Api) -> None:
    alice = await api.user("alice", two_factor=True)
    assert len(alice.recovery_codes) == 8
    code = alice.recovery_codes[0]
    pending = (await api.login("alice")).json()["session_id"]
    used = await api.post("/session/confirm/recovery-code", pending, {"code": code.upper()})
    assert used.status_code == 200, used.text
    assert used.json()["recovery_codes_remaining"] == 7
    again_session = (await api.login("alice")).json()["session_id"]
    again = await api.post("/session/confirm/recovery-code", again_session, {"code": code})
    assert (again.status_code, codes(again)) == (400, ["invalid-recovery-code"])


async def test_a_security_key_completes_a_login(api: Api) -> None:
    alice = await api.user("alice")
    key = SoftKey(URL, "mintgate.test")
    options = await api.post("/me/two-factor/security-keys/options", alice.session)
    assert options.status_code == 200, options.text
    attestation = key.register(json.dumps(options.json()["public_key"]))
    added = await api.post(
        "/me/two-factor/security-keys",
        alice.session,
        {"name": "yubikey", "credential": json.loads(attestation)},
    )
    assert added.status_code == 201, added.text
    assert len(added.json()["recovery_codes"]) == 8  # the first method turned 2FA on

    pending = (await api.login("alice")).json()["session_id"]
    challenge = await api.post("/session/confirm/security-key/options", pending)
    assertion = key.sign_in(json.dumps(challenge.json()["public_key"]))
    done = await api.post(
        "/session/confirm/security-key", pending, {"credential": json.loads(assertion)}
    )
    assert done.status_code == 200, done.text
    assert (await api.get("/me", pending)).status_code == 200


async def test_a_security_key_from_another_origin_is_refused(api: Api) -> None:
    alice = await api.user("alice")
    key = SoftKey(URL, "mintgate.test")
    options = await api.post("/me/two-factor/security-keys/options", alice.session)
    phished = key.register(json.dumps(options.json()["public_key"]), origin="https://evil.test")
    refused = await api.post(
        "/me/two-factor/security-keys",
        alice.session,
        {"name": "yubikey", "credential": json.loads(phished)},
    )
    assert (refused.status_code, codes(refused)) == (400, ["webauthn-invalid"])


async def test_every_login_is_audited_and_never_the_password(api: Api, store: SqlStore) -> None:
    await api.register("alice")
    assert (await api.login("alice", "wrong password!")).status_code == 401
    assert (await api.login("nobody", "wrong password!")).status_code == 401
    ok = await api.login("alice")
    trail = await api.get("/audit", ok.json()["session_id"])
    events = [e["event"] for e in trail.json()["events"]]
    assert "login:password-failed" in events
    assert "login:password-ok" in events
    async with store.transaction() as tx:
        everything = await tx.audit_events()
    assert "login:unknown-user" in [e.event for e in everything]
    dumped = json.dumps([dict(e.details) for e in everything] + [e.actor for e in everything])
    assert PASSWORD not in dumped
    assert "wrong password!" not in dumped
