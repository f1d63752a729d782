"""TOTP enrolment and use, recovery codes, atomicity and secrecy, on both databases."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from accounts_helpers import CTX, PASSWORD
from fakeissuer import Clock

from service.accounts import recovery, totp
from service.accounts.accounts import (
    Accounts,
    RecoveryAccepted,
    RecoveryCodes,
    TotpAccepted,
)
from service.publishers.base import Refusal
from service.store import SqlStore, UserRecord

pytestmark = pytest.mark.anyio


async def _user(accounts: Accounts) -> UserRecord:
    user = await accounts.create_user("alice", "alice@example.org", PASSWORD, CTX)
    assert isinstance(user, UserRecord)
    return user


async def _begin(accounts: Accounts, user: UserRecord) -> bytes:
    enrolment = await accounts.begin_totp(user.id, CTX)
    assert isinstance(enrolment, totp.Enrolment)
    return totp_secret(enrolment)


def totp_secret(enrolment: totp.Enrolment) -> bytes:
    import base64

    key = enrolment.manual_key
    return base64.b32decode(key + "=" * (-len(key) % 8))


async def _enrolled(accounts: Accounts, clock: Clock) -> tuple[UserRecord, bytes, list[str]]:
    user = await _user(accounts)
    secret = await _begin(accounts, user)
    codes = await accounts.confirm_totp(user.id, totp.generate(secret, clock()), CTX)
    assert isinstance(codes, RecoveryCodes)
    clock.advance(totp.STEP)  # the confirming code is spent; move to the next step
    return user, secret, list(codes.codes)


async def test_a_first_valid_code_confirms_enrolment_and_issues_recovery_codes(
    accounts: Accounts, store: SqlStore, clock: Clock
) -> None:
    user = await _user(accounts)
    secret = await _begin(accounts, user)
    wrong = await accounts.confirm_totp(user.id, "000000", CTX)
    assert isinstance(wrong, Refusal)
    assert wrong.code == "invalid-totp"
    async with store.transaction() as tx:
        pending = await tx.user_by_id(user.id)
        assert pending is not None
        assert pending.two_factor_enabled_at is None
    codes = await accounts.confirm_totp(user.id, totp.generate(secret, clock()), CTX)
    assert isinstance(codes, RecoveryCodes)
    assert len(codes.codes) == 8
    async with store.transaction() as tx:
        enabled = await tx.user_by_id(user.id)
        credential = await tx.totp_for(user.id)
        assert await tx.unused_recovery_codes(user.id) == 8
        events = [e.event for e in await tx.audit_events(subject_user_id=user.id)]
    assert enabled is not None
    assert enabled.two_factor_enabled_at is not None
    assert credential is not None
    assert credential.confirmed_at is not None
    assert secret not in credential.secret_ciphertext  # encrypted at rest
    assert events == [
        "user:created",
        "totp:enrolment-started",
        "totp:confirmed",
        "recovery-codes:issued",
    ]
    again = await accounts.begin_totp(user.id, CTX)
    assert isinstance(again, Refusal)
    assert again.code == "totp-already-confirmed"


async def test_an_accepted_code_is_never_accepted_again(accounts: Accounts, clock: Clock) -> None:
    user, secret, _ = await _enrolled(accounts, clock)
    code = totp.generate(secret, clock())
    assert isinstance(await accounts.verify_totp(user.id, code, CTX), TotpAccepted)
    clock.advance(totp.STEP)  # still within drift: the code would otherwise match
    reused = await accounts.verify_totp(user.id, code, CTX)
    assert isinstance(reused, Refusal)
    assert reused.code == "reused-totp"
    # An older code than the last accepted one is refused too.
    newer = totp.generate(secret, clock())
    assert isinstance(await accounts.verify_totp(user.id, newer, CTX), TotpAccepted)
    older = totp.generate(secret, clock() - totp.STEP)
    refused = await accounts.verify_totp(user.id, older, CTX)
    assert isinstance(refused, Refusal)
    assert refused.code == "reused-totp"


async def test_concurrent_uses_of_one_code_let_exactly_one_in(
    accounts: Accounts, clock: Clock
) -> None:
    user, secret, _ = await _enrolled(accounts, clock)
    code = totp.generate(secret, clock())
    results = await asyncio.gather(*(accounts.verify_totp(user.id, code, CTX) for _ in range(6)))
    assert sum(isinstance(r, TotpAccepted) for r in results) == 1
    assert {r.code for r in results if isinstance(r, Refusal)} == {"reused-totp"}


async def test_concurrent_uses_on_postgres_with_separate_services(
    pg_store: SqlStore, clock: Clock, common: frozenset[str]
) -> None:
    """Two replicas (two Accounts, one database): the database, not Python, decides."""
    from accounts_helpers import make_accounts

    first = make_accounts(pg_store, clock, common)
    second = Accounts(
        pg_store,
        passwords=first.passwords,
        policy=first.policy,
        secrets=first.secrets,
        clock=clock,
    )
    user, secret, _ = await _enrolled(first, clock)
    code = totp.generate(secret, clock())
    results = await asyncio.gather(
        *(svc.verify_totp(user.id, code, CTX) for svc in (first, second) * 4)
    )
    assert sum(isinstance(r, TotpAccepted) for r in results) == 1


async def test_recovery_code_works_once_in_any_spelling(
    accounts: Accounts, store: SqlStore, clock: Clock
) -> None:
    user, _, codes = await _enrolled(accounts, clock)
    typed = codes[0].upper().replace("-", " ")
    assert await accounts.redeem_recovery_code(user.id, typed, CTX) == RecoveryAccepted(7)
    reused = await accounts.redeem_recovery_code(user.id, codes[0], CTX)
    assert isinstance(reused, Refusal)
    assert reused.code == "invalid-recovery-code"
    async with store.transaction() as tx:
        events = [e for e in await tx.audit_events(subject_user_id=user.id)]
    assert [e.event for e in events[-2:]] == ["recovery-code:used", "recovery-code:failed"]
    assert events[-2].details == {"remaining": 7}


async def test_concurrent_redemptions_of_one_code_let_exactly_one_in(
    accounts: Accounts, clock: Clock
) -> None:
    user, _, codes = await _enrolled(accounts, clock)
    results = await asyncio.gather(
        *(accounts.redeem_recovery_code(user.id, codes[3], CTX) for _ in range(6))
    )
    assert results.count(RecoveryAccepted(7)) == 1
    assert sum(isinstance(r, Refusal) for r in results) == 5


async def test_regenerating_invalidates_every_old_code(accounts: Accounts, clock: Clock) -> None:
    user, _, old = await _enrolled(accounts, clock)
    new = await accounts.regenerate_recovery_codes(user.id, CTX)
    assert isinstance(new, RecoveryCodes)
    assert not set(new.codes) & set(old)
    for code in old:
        assert isinstance(await accounts.redeem_recovery_code(user.id, code, CTX), Refusal)
    assert await accounts.redeem_recovery_code(user.id, new.codes[0], CTX) == RecoveryAccepted(7)


async def test_recovery_codes_need_two_factor_first(accounts: Accounts) -> None:
    user = await _user(accounts)
    refused = await accounts.regenerate_recovery_codes(user.id, CTX)
    assert isinstance(refused, Refusal)
    assert refused.code == "two-factor-required"


async def test_a_failure_midway_through_confirmation_writes_nothing(
    accounts: Accounts, store: SqlStore, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = await _user(accounts)
    secret = await _begin(accounts, user)
    # Inject a failure after the code is claimed and 2FA switched on: duplicate
    # recovery codes break the unique index while the codes are written.
    monkeypatch.setattr(recovery, "generate", lambda count=8: ["aaaa-bbbb"] * count)
    code = totp.generate(secret, clock())
    with pytest.raises(Exception, match=r"(?i)unique") as failure:
        await accounts.confirm_totp(user.id, code, CTX)
    assert recovery.hash_code("aaaa-bbbb") not in str(failure.value)  # parameters hidden
    async with store.transaction() as tx:
        after = await tx.user_by_id(user.id)
        credential = await tx.totp_for(user.id)
        assert await tx.unused_recovery_codes(user.id) == 0
        events = [e.event for e in await tx.audit_events(subject_user_id=user.id)]
    assert after is not None
    assert after.two_factor_enabled_at is None
    assert credential is not None
    assert credential.confirmed_at is None
    assert credential.last_used_step is None  # the code was not burnt either
    assert events == ["user:created", "totp:enrolment-started"]
    monkeypatch.undo()
    assert isinstance(await accounts.confirm_totp(user.id, code, CTX), RecoveryCodes)


async def test_secrets_are_never_logged_or_audited(
    accounts: Accounts, store: SqlStore, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    user = await _user(accounts)
    await accounts.check_password("alice", PASSWORD, CTX)
    await accounts.check_password("alice", "wrong " + PASSWORD, CTX)
    enrolment = await accounts.begin_totp(user.id, CTX)
    assert isinstance(enrolment, totp.Enrolment)
    secret = totp_secret(enrolment)
    first = totp.generate(secret, clock())
    codes = await accounts.confirm_totp(user.id, first, CTX)
    assert isinstance(codes, RecoveryCodes)
    await accounts.verify_totp(user.id, first, CTX)  # refused as reused
    await accounts.redeem_recovery_code(user.id, codes.codes[0], CTX)
    async with store.transaction() as tx:
        stored = await tx.user_by_id(user.id)
        audit = json.dumps([(e.event, e.actor, dict(e.details)) for e in await tx.audit_events()])
    assert stored is not None
    secrets = [
        PASSWORD,
        stored.password_hash,
        enrolment.manual_key,
        first,
        *codes.codes,
        *(c.replace("-", "") for c in codes.codes),
    ]
    shown = caplog.text + audit + repr(codes) + repr(enrolment)
    for secret_text in secrets:
        assert secret_text not in shown
