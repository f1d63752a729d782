"""Issue 21, account security, at the account layer on both databases: an operator reset
revokes every session in its own transaction, the first second factor revokes the
sessions opened without it, TOTP codes have one spelling per time step, malformed
recovery codes are never hashed, and a sign-in from a new device is noticed."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from accounts_helpers import CTX, RecordingNotifier, ctx_for, enrol_totp, new_user
from fakeissuer import Clock
from softkey import SoftKey

from service.accounts import devices, recovery, totp
from service.accounts.accounts import INVALID_RECOVERY_CODE, INVALID_TOTP, REUSED_TOTP, Accounts
from service.accounts.core import Context, Deps
from service.accounts.security_keys import (
    KeyAdded,
    Options,
    begin_registration,
    finish_registration,
)
from service.accounts.sessions import Authenticated, Proven, Sessions, Started
from service.accounts.two_factor import reset_two_factor
from service.accounts.webauthn_rp import RelyingParty
from service.publishers.base import Refusal
from service.store import SqlStore, Store, Transaction, UserRecord

pytestmark = pytest.mark.anyio

OPERATOR = Context(actor="operator:test")
RP = RelyingParty(rp_id="pypi.example.org", origin="https://pypi.example.org")


def _sessions(deps: Deps) -> Sessions:
    return Sessions(deps, timedelta(hours=12))


async def _signed_in(sessions: Sessions, user: UserRecord, agent: str = "pytest") -> Started:
    return await sessions.start(user, replace(ctx_for(user), user_agent=agent))


async def _live(sessions: Sessions, started: Started) -> bool:
    return not isinstance(await sessions.resolve(started.session_id), Refusal)


# --- 1. an operator reset revokes every session, in the reset's own transaction ---


async def test_an_operator_reset_revokes_every_session_of_the_user(
    accounts: Accounts, deps: Deps, store: SqlStore
) -> None:
    bob = await new_user(accounts, "bob", two_factor=True)
    alice = await new_user(accounts, "alice", two_factor=True)
    sessions = _sessions(deps)
    bobs = [await _signed_in(sessions, bob) for _ in range(2)]
    alices = await _signed_in(sessions, alice)
    assert not isinstance(await reset_two_factor(deps, OPERATOR, "bob", "ticket 7"), Refusal)
    assert [await _live(sessions, s) for s in bobs] == [False, False]
    assert await _live(sessions, alices)  # nobody else's
    async with store.transaction() as tx:
        events = await tx.audit_events(subject_user_id=bob.id)
    assert events[-1].event == "operator:two-factor-reset"
    assert events[-1].details["sessions_revoked"] == 2


class Faulty:
    """The store, with one step of every transaction failing after it ran."""

    def __init__(self, store: Store, step: str) -> None:
        self.store = store
        self.step = step

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with self.store.transaction() as tx:
            yield _FailAfter(tx, self.step)  # type: ignore[misc]

    async def close(self) -> None:
        await self.store.close()


class _FailAfter:
    def __init__(self, tx: Transaction, step: str) -> None:
        self._tx = tx
        self._step = step

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._tx, name)
        if name != self._step:
            return found

        async def then_fail(*args: Any, **kwargs: Any) -> Any:
            await found(*args, **kwargs)
            raise RuntimeError(f"injected fault after {name}")

        return then_fail


@pytest.mark.parametrize(
    "step", ["clear_two_factor", "delete_sessions_of", "record"], ids=lambda s: f"after-{s}"
)
async def test_a_fault_during_a_reset_leaves_methods_and_sessions_as_they_were(
    accounts: Accounts, deps: Deps, store: SqlStore, clock: Clock, step: str
) -> None:
    bob = await new_user(accounts, "bob")
    await enrol_totp(accounts, clock, bob)
    sessions = _sessions(deps)
    started = await _signed_in(sessions, bob)
    faulty = replace(deps, store=Faulty(store, step))
    with pytest.raises(RuntimeError, match="injected fault"):
        await reset_two_factor(faulty, OPERATOR, "bob", "ticket 7")
    async with store.transaction() as tx:
        user = await tx.user_by_id(bob.id)
        credential = await tx.totp_for(bob.id)
        codes = await tx.unused_recovery_codes(bob.id)
    assert user is not None
    assert user.two_factor_enabled_at is not None
    assert credential is not None
    assert credential.confirmed_at is not None
    assert codes == recovery.COUNT
    assert await _live(sessions, started)


# --- 2. the first second factor revokes every other session ---


async def _full_sessions(deps: Deps, user: UserRecord) -> tuple[Sessions, Started, Started]:
    """Two password-only sessions of a user without 2FA: both full sessions."""
    sessions = _sessions(deps)
    mine, other = await _signed_in(sessions, user), await _signed_in(sessions, user, "stolen")
    assert not mine.session.pending
    assert not other.session.pending
    return sessions, mine, other


async def _acting(sessions: Sessions, started: Started) -> Context:
    auth = await sessions.resolve(started.session_id)
    assert isinstance(auth, Authenticated)
    return auth.context("192.0.2.10", "pytest")


async def test_confirming_a_first_authenticator_app_revokes_the_other_sessions(
    accounts: Accounts, deps: Deps, clock: Clock
) -> None:
    alice = await new_user(accounts, "alice")
    sessions, mine, other = await _full_sessions(deps, alice)
    ctx = await _acting(sessions, mine)
    enrolment = await accounts.begin_totp(alice.id, ctx)
    assert isinstance(enrolment, totp.Enrolment)
    secret = _secret(enrolment.manual_key)
    confirmed = await accounts.confirm_totp(alice.id, totp.generate(secret, clock()), ctx)
    assert not isinstance(confirmed, Refusal)
    assert not await _live(sessions, other)
    kept = await sessions.resolve(mine.session_id)
    assert isinstance(kept, Authenticated)
    assert not kept.session.pending


async def test_registering_a_first_security_key_revokes_the_other_sessions(
    accounts: Accounts, deps: Deps
) -> None:
    alice = await new_user(accounts, "alice")
    sessions, mine, other = await _full_sessions(deps, alice)
    ctx = await _acting(sessions, mine)
    key = SoftKey(RP.origin, RP.rp_id)
    options = await begin_registration(deps, RP, ctx)
    assert isinstance(options, Options)
    added = await finish_registration(deps, RP, ctx, "yubikey", key.register(options.json))
    assert isinstance(added, KeyAdded), added
    assert not await _live(sessions, other)
    kept = await sessions.resolve(mine.session_id)
    assert isinstance(kept, Authenticated)
    assert not kept.session.pending


async def test_a_second_method_revokes_nothing(accounts: Accounts, deps: Deps) -> None:
    alice = await new_user(accounts, "alice", two_factor=True)
    sessions = _sessions(deps)
    mine, other = await _signed_in(sessions, alice), await _signed_in(sessions, alice)
    ctx = await _acting(sessions, mine)
    key = SoftKey(RP.origin, RP.rp_id)
    options = await begin_registration(deps, RP, ctx)
    assert isinstance(options, Options)
    assert isinstance(
        await finish_registration(deps, RP, ctx, "backup", key.register(options.json)), KeyAdded
    )
    assert await _live(sessions, other)


def _secret(manual_key: str) -> bytes:
    return base64.b32decode(manual_key + "=" * (-len(manual_key) % 8))


# --- 3. one spelling per code, single use per time step ---


FULL_WIDTH = str.maketrans("0123456789", "".join(chr(0xFF10 + d) for d in range(10)))


@pytest.mark.parametrize(
    ("spell", "expected"),
    [
        (lambda c: c, None),
        (lambda c: f"{c[:3]} {c[3:]}", None),
        (lambda c: f"{c[:3]}-{c[3:]}", None),
        (lambda c: f" {c}\n", None),
        (lambda c: f"{c}\r\n", None),
        (lambda c: c.translate(FULL_WIDTH), INVALID_TOTP),
        (lambda c: f"{c[:3]}\u00a0{c[3:]}", INVALID_TOTP),
        (lambda c: f"\u3000{c}", INVALID_TOTP),
        (lambda c: f"{c[:3]}  {c[3:]}", INVALID_TOTP),
        (lambda c: f"{c[:2]} {c[2:4]} {c[4:]}", INVALID_TOTP),
        (lambda c: f"{c[:3]}_{c[3:]}", INVALID_TOTP),
        (lambda c: f"{c[:3]}--{c[3:]}", INVALID_TOTP),
        (lambda c: f"-{c}", INVALID_TOTP),
        (lambda c: f"{c}\x00", INVALID_TOTP),
        (lambda c: c[:5], INVALID_TOTP),
        (lambda c: c + "7", INVALID_TOTP),
        (lambda c: "+" + c, INVALID_TOTP),
    ],
    ids=[
        "plain",
        "space-in-the-middle",
        "hyphen-in-the-middle",
        "ascii-whitespace-around",
        "crlf-after",
        "full-width-digits",
        "no-break-space",
        "ideographic-space-before",
        "two-spaces",
        "three-groups",
        "underscore",
        "two-hyphens",
        "leading-hyphen",
        "nul-after",
        "five-digits",
        "seven-digits",
        "plus-sign",
    ],
)
def test_a_code_has_one_spelling(spell: Any, expected: str | None) -> None:
    secret = bytes(range(20))
    now = 1_800_000_000.0
    step = totp.matching_step(secret, spell(totp.generate(secret, now)), now)
    assert (step is None) is (expected is not None)
    if step is not None:
        assert step == totp.step_at(now)


def test_the_literal_full_width_code_is_not_a_code() -> None:
    assert totp.normalize("\uff11\uff12\uff13\uff14\uff15\uff16") is None
    assert totp.normalize("123456") == "123456"
    assert totp.normalize("123 456") == totp.normalize("123-456") == "123456"


@pytest.mark.parametrize(
    ("spell", "expected"),
    [
        (lambda c: c, REUSED_TOTP),
        (lambda c: f"{c[:3]} {c[3:]}", REUSED_TOTP),
        (lambda c: f"{c[:3]}-{c[3:]}", REUSED_TOTP),
        (lambda c: f"{c}\n", REUSED_TOTP),
        (lambda c: f"\t{c} ", REUSED_TOTP),
        (lambda c: c.translate(FULL_WIDTH), INVALID_TOTP),
        (lambda c: f"{c[:3]}\u2009{c[3:]}", INVALID_TOTP),
        (lambda c: f"{c[:3]} - {c[3:]}", INVALID_TOTP),
        (lambda c: "0" + c, INVALID_TOTP),
    ],
    ids=[
        "same-text",
        "space",
        "hyphen",
        "newline",
        "tab-and-space",
        "full-width",
        "thin-space",
        "spaced-hyphen",
        "leading-zero",
    ],
)
async def test_no_spelling_of_a_used_code_is_a_second_use(
    accounts: Accounts, clock: Clock, spell: Any, expected: str
) -> None:
    alice = await new_user(accounts, "alice")
    secret = await enrol_totp(accounts, clock, alice)
    code = totp.generate(secret, clock())
    accepted = await accounts.verify_totp(alice.id, code, CTX)
    assert not isinstance(accepted, Refusal), accepted
    refused = await accounts.verify_totp(alice.id, spell(code), CTX)
    assert isinstance(refused, Refusal)
    assert refused.code == expected


async def test_the_previous_steps_code_is_refused_once_the_current_one_was_used(
    accounts: Accounts, clock: Clock
) -> None:
    alice = await new_user(accounts, "alice")
    secret = await enrol_totp(accounts, clock, alice)
    previous = totp.generate(secret, clock() - totp.STEP)  # still within drift
    assert totp.matching_step(secret, previous, clock()) == totp.step_at(clock()) - 1
    current = await accounts.verify_totp(alice.id, totp.generate(secret, clock()), CTX)
    assert not isinstance(current, Refusal)
    for spelling in (previous, f"{previous[:3]} {previous[3:]}"):
        refused = await accounts.verify_totp(alice.id, spelling, CTX)
        assert isinstance(refused, Refusal)
        assert refused.code == REUSED_TOTP


async def test_a_fresh_code_with_a_separator_is_accepted(accounts: Accounts, clock: Clock) -> None:
    alice = await new_user(accounts, "alice")
    secret = await enrol_totp(accounts, clock, alice)
    code = totp.generate(secret, clock())
    accepted = await accounts.verify_totp(alice.id, f"{code[:3]}-{code[3:]}", CTX)
    assert not isinstance(accepted, Refusal), accepted


# --- 4. malformed recovery codes are refused before any hashing ---


@pytest.mark.parametrize(
    "code",
    [
        "",
        "abcd",
        "abcd-efgh-ijkl-mno",
        "abcd-efgh-ijkl-mnop-q",
        "a" * 64,
        "abcd-efgh-ijkl-mn01",  # 0 and 1 are not base32
        "abcd-efgh-ijkl-mn\u212a2",  # the Kelvin sign lower-cases to "k"
        "\uff41\uff42\uff43\uff44-efgh-ijkl-mnop",
    ],
    ids=[
        "empty",
        "four",
        "fifteen",
        "seventeen",
        "sixty-four",
        "outside-base32",
        "kelvin-sign",
        "full-width",
    ],
)
async def test_a_malformed_recovery_code_is_not_hashed_and_looks_wrong(
    accounts: Accounts,
    store: SqlStore,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
    code: str,
) -> None:
    alice = await new_user(accounts, "alice")
    await enrol_totp(accounts, clock, alice)
    calls: list[str] = []
    real = recovery.hash_code

    def counting(value: str) -> str:
        calls.append(value)
        return real(value)

    monkeypatch.setattr(recovery, "hash_code", counting)
    refused = await accounts.redeem_recovery_code(alice.id, code, CTX)
    assert calls == []
    wrong = await accounts.redeem_recovery_code(alice.id, "aaaa-bbbb-cccc-dddd", CTX)
    assert len(calls) == 1  # a well-formed wrong code is hashed and looked up
    assert isinstance(refused, Refusal)
    assert isinstance(wrong, Refusal)
    assert (refused.code, refused.description) == (wrong.code, wrong.description)
    assert refused.code == INVALID_RECOVERY_CODE
    async with store.transaction() as tx:
        events = [e.event for e in await tx.audit_events(subject_user_id=alice.id)]
    assert events[-2:] == ["recovery-code:failed", "recovery-code:failed"]


async def test_a_recovery_code_as_people_type_it_still_works(
    accounts: Accounts, clock: Clock
) -> None:
    alice = await new_user(accounts, "alice")
    enrolment = await accounts.begin_totp(alice.id, CTX)
    assert isinstance(enrolment, totp.Enrolment)
    secret = _secret(enrolment.manual_key)
    codes = await accounts.confirm_totp(alice.id, totp.generate(secret, clock()), CTX)
    assert not isinstance(codes, Refusal)
    typed = codes.codes[0].upper().replace("-", " ")
    assert not isinstance(await accounts.redeem_recovery_code(alice.id, typed, CTX), Refusal)


# --- 5. a sign-in from a new device is noticed ---


async def _sign_in(
    sessions: Sessions, user: UserRecord, device: str | None, agent: str = "Firefox/140"
) -> Proven:
    started = await _signed_in(sessions, user, agent)
    assert started.session.pending
    auth = await sessions.resolve(started.session_id)
    assert isinstance(auth, Authenticated)
    proven = await sessions.second_factor_proven(
        auth, auth.context("198.51.100.7", agent), "totp", device=device
    )
    assert proven is not None
    assert not proven.session.pending
    return proven


async def test_devices_are_remembered_per_user_and_forged_ones_notice(
    accounts: Accounts, deps: Deps, notices: RecordingNotifier
) -> None:
    alice = await new_user(accounts, "alice", two_factor=True)
    bob = await new_user(accounts, "bob", two_factor=True)
    sessions = _sessions(deps)
    first = await _sign_in(sessions, alice, None)
    assert first.device_token is not None
    again = await _sign_in(sessions, alice, first.device_token)
    assert again.device_token is None  # known: the browser keeps its cookie
    other = await _sign_in(sessions, alice, None)
    assert other.device_token not in (None, first.device_token)
    forged = await _sign_in(sessions, alice, devices.new_token())
    planted = "A" * 43
    fixed = await _sign_in(sessions, alice, planted)
    assert fixed.device_token != planted  # an unknown value is never adopted
    assert (await _sign_in(sessions, alice, planted)).device_token is not None
    not_bobs = await _sign_in(sessions, bob, first.device_token)
    assert forged.device_token is not None
    assert not_bobs.device_token is not None
    assert notices.events() == [("alice", "new-device-sign-in")] * 5 + [
        ("bob", "new-device-sign-in")
    ]


async def test_a_reconfirmation_is_no_sign_in(
    accounts: Accounts, deps: Deps, notices: RecordingNotifier
) -> None:
    alice = await new_user(accounts, "alice", two_factor=True)
    sessions = _sessions(deps)
    proven = await _sign_in(sessions, alice, None)
    full = Authenticated(proven.session, alice)
    again = await sessions.second_factor_proven(full, full.context(None, None), "totp")
    assert again is not None
    assert again.device_token is None
    assert len(notices.notices) == 1


async def test_the_notice_names_the_device_address_and_time_and_nothing_hostile(
    accounts: Accounts, deps: Deps, notices: RecordingNotifier
) -> None:
    alice = await new_user(accounts, "alice", two_factor=True)
    sessions = _sessions(deps)
    agent = "Evil/1.0\r\nBcc: everyone@example.org\x1b[2J\x07" + "x" * 300
    await _sign_in(sessions, alice, None, agent=agent)
    (notice,) = notices.notices
    assert notice.event == "new-device-sign-in"
    assert "198.51.100.7" in notice.detail
    assert f"{deps.now():%Y-%m-%d %H:%M} UTC" in notice.detail
    assert "an authenticator app" in notice.detail
    assert "Evil/1.0 Bcc: everyone@example.org" in notice.detail
    assert not any(ch in notice.detail for ch in "\r\n\x1b\x07")
    assert len(notice.detail) < 250
    assert "Sign-in from a new device" in notice.subject()


def test_only_printable_ascii_of_a_user_agent_is_quoted() -> None:
    assert devices.quoted("Mozilla/5.0 (X11)", 120, "-") == "Mozilla/5.0 (X11)"
    assert devices.quoted("\u202eevil\u202c", 120, "-") == "evil"
    assert devices.quoted("\n\t", 120, "-") == "-"
    assert devices.quoted(None, 120, "-") == "-"
    assert devices.quoted("a" * 200, 120, "-") == "a" * 117 + "..."


async def test_each_user_keeps_a_bounded_number_of_devices(
    accounts: Accounts, deps: Deps, store: SqlStore, clock: Clock
) -> None:
    alice = await new_user(accounts, "alice", two_factor=True)
    tokens = []
    for _ in range(devices.MAX_DEVICES + 2):
        clock.advance(1)
        async with store.transaction() as tx:
            seen = await devices.sign_in_from(tx, alice.id, None, deps.now())
        assert seen.token is not None
        tokens.append(seen.token)
    async with store.transaction() as tx:
        # The two seen least recently are forgotten; the newest still known.
        assert not await tx.touch_device(alice.id, devices.hash_token(tokens[0]), deps.now())
        assert not await tx.touch_device(alice.id, devices.hash_token(tokens[1]), deps.now())
        assert await tx.touch_device(alice.id, devices.hash_token(tokens[2]), deps.now())
        assert await tx.touch_device(alice.id, devices.hash_token(tokens[-1]), deps.now())
