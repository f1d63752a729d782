"""Security keys: both ceremonies driven by a software authenticator, on both databases."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from accounts_helpers import RecordingNotifier, ctx_for, new_user
from fakeissuer import Clock
from softkey import SoftKey

from service.accounts.accounts import Accounts
from service.accounts.core import Deps
from service.accounts.security_keys import (
    KeyAdded,
    KeyUsed,
    Options,
    begin_authentication,
    begin_registration,
    finish_authentication,
    finish_registration,
)
from service.accounts.webauthn_rp import RelyingParty
from service.publishers.base import Refusal
from service.store import SqlStore, UserRecord

pytestmark = pytest.mark.anyio

RP = RelyingParty(rp_id="pypi.example.org", origin="https://pypi.example.org")


def softkey() -> SoftKey:
    return SoftKey(RP.origin, RP.rp_id)


async def _options(deps: Deps, user: UserRecord, register: bool) -> str:
    begin = begin_registration if register else begin_authentication
    options = await begin(deps, RP, ctx_for(user))
    assert isinstance(options, Options), options
    return options.json


async def _register(deps: Deps, user: UserRecord, key: SoftKey, name: str = "yubikey") -> KeyAdded:
    response = key.register(await _options(deps, user, register=True))
    added = await finish_registration(deps, RP, ctx_for(user), name, response)
    assert isinstance(added, KeyAdded), added
    return added


async def test_a_registered_key_turns_on_2fa_and_signs_in(
    accounts: Accounts, deps: Deps, store: SqlStore, clock: Clock, notices: RecordingNotifier
) -> None:
    alice = await new_user(accounts, "alice")
    key = softkey()
    added = await _register(deps, alice, key)
    assert added.key.name == "yubikey"
    assert len(added.recovery_codes.codes) == 8  # the first method issues the codes
    clock.advance(3600)
    for expected_count in (1, 2):
        response = key.sign_in(await _options(deps, alice, register=False))
        used = await finish_authentication(deps, RP, ctx_for(alice), response)
        assert used == KeyUsed(added.key.id, expected_count)
    second = await _register(deps, alice, softkey(), name="backup key")
    assert second.recovery_codes.codes == ()  # 2FA was already on
    async with store.transaction() as tx:
        user = await tx.user_by_id(alice.id)
        keys = await tx.security_keys(alice.id)
        events = [e.event for e in await tx.audit_events(subject_user_id=alice.id)]
    assert user is not None
    assert user.two_factor_enabled_at is not None
    assert user.last_two_factor_at == deps.now()
    assert [(k.name, k.sign_count) for k in keys] == [("yubikey", 2), ("backup key", 0)]
    assert events.count("webauthn:used") == 2
    assert events.count("webauthn:registered") == 2
    assert notices.events() == [("alice", "two-factor-added")] * 2


async def test_an_authenticator_without_a_counter_is_allowed(
    accounts: Accounts, deps: Deps
) -> None:
    alice = await new_user(accounts, "alice")
    key = softkey()
    await _register(deps, alice, key)
    for _ in range(2):  # WebAuthn 6.1.1: a count of 0 every time means "no counter"
        response = key.sign_in(await _options(deps, alice, register=False), count=0)
        assert isinstance(await finish_authentication(deps, RP, ctx_for(alice), response), KeyUsed)


Attack = Callable[[SoftKey, str], str]

REGISTRATION_ATTACKS: list[tuple[str, Attack, float, str]] = [
    (
        "wrong-origin",
        lambda k, o: k.register(o, origin="https://evil.example"),
        0,
        "webauthn-invalid",
    ),
    ("wrong-rp-id", lambda k, o: k.register(o, rp_id="evil.example"), 0, "webauthn-invalid"),
    ("expired-challenge", lambda k, o: k.register(o), 301, "webauthn-challenge-expired"),
]


@pytest.mark.parametrize(
    ("attack", "wait", "code"),
    [pytest.param(a, w, c, id=i) for i, a, w, c in REGISTRATION_ATTACKS],
)
async def test_hostile_registrations_are_refused(
    accounts: Accounts,
    deps: Deps,
    store: SqlStore,
    clock: Clock,
    attack: Attack,
    wait: float,
    code: str,
) -> None:
    alice = await new_user(accounts, "alice")
    options = await _options(deps, alice, register=True)
    clock.advance(wait)
    refused = await finish_registration(deps, RP, ctx_for(alice), "key", attack(softkey(), options))
    assert isinstance(refused, Refusal)
    assert refused.code == code
    async with store.transaction() as tx:
        assert await tx.security_keys(alice.id) == []
        user = await tx.user_by_id(alice.id)
        [failure] = [e for e in await tx.audit_events(alice.id) if e.event.endswith("failed")]
    assert user is not None
    assert user.two_factor_enabled_at is None
    assert failure.details == {"reason": code}


async def test_a_registration_challenge_is_good_for_one_answer(
    accounts: Accounts, deps: Deps
) -> None:
    alice = await new_user(accounts, "alice")
    response = softkey().register(await _options(deps, alice, register=True))
    assert isinstance(await finish_registration(deps, RP, ctx_for(alice), "a", response), KeyAdded)
    replayed = await finish_registration(deps, RP, ctx_for(alice), "b", response)
    assert isinstance(replayed, Refusal)
    assert replayed.code == "webauthn-challenge-unknown"


# Each row: how the answer is forged, seconds waited, the refusal code.
SIGN_IN_ATTACKS: list[tuple[str, str, float, str]] = [
    ("wrong-origin", "origin", 0, "webauthn-invalid"),
    ("wrong-rp-id", "rp_id", 0, "webauthn-invalid"),
    ("replayed-challenge", "replay", 0, "webauthn-challenge-unknown"),
    ("expired-challenge", "none", 301, "webauthn-challenge-expired"),
    ("counter-regression", "counter", 0, "webauthn-counter-regressed"),
    ("unknown-credential", "unknown", 0, "webauthn-unknown-credential"),
    ("another-users-credential", "bob", 0, "webauthn-unknown-credential"),
]


@pytest.mark.parametrize(
    ("forge", "wait", "code"), [pytest.param(f, w, c, id=i) for i, f, w, c in SIGN_IN_ATTACKS]
)
async def test_hostile_sign_ins_are_refused(
    accounts: Accounts,
    deps: Deps,
    store: SqlStore,
    clock: Clock,
    forge: str,
    wait: float,
    code: str,
) -> None:
    alice, bob = await new_user(accounts, "alice"), await new_user(accounts, "bob")
    key, bobs_key = softkey(), softkey()
    await _register(deps, alice, key)
    await _register(deps, bob, bobs_key)
    good = key.sign_in(await _options(deps, alice, register=False))  # count 1 accepted
    assert isinstance(await finish_authentication(deps, RP, ctx_for(alice), good), KeyUsed)
    options = await _options(deps, alice, register=False)
    clock.advance(wait)
    response = {
        "origin": lambda: key.sign_in(options, origin="https://evil.example"),
        "rp_id": lambda: key.sign_in(options, rp_id="evil.example"),
        "replay": lambda: good,
        "none": lambda: key.sign_in(options),
        "counter": lambda: key.sign_in(options, count=1),
        "unknown": lambda: softkey().sign_in(options),
        # Bob's own key, signing Alice's challenge: his credential, not hers.
        "bob": lambda: bobs_key.sign_in(options),
    }[forge]()
    refused = await finish_authentication(deps, RP, ctx_for(alice), response)
    assert isinstance(refused, Refusal)
    assert refused.code == code
    async with store.transaction() as tx:
        [stored] = await tx.security_keys(alice.id)
        events = await tx.audit_events(alice.id)
    assert stored.sign_count == 1  # nothing moved
    assert events[-1].event == "webauthn:failed"
    assert events[-1].details == {"reason": code}
