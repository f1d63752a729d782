"""Security keys (WebAuthn): registration and sign-in ceremonies, each options -> verify.

Challenges are stored and consumed (deleted) in the transaction that checks
the answer, so each is good for one attempt only, and only until it expires.
A refused answer still burns its challenge: a second try starts over.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from service.accounts import webauthn_rp as rp_
from service.accounts.core import Context, Deps, acting_user, audit
from service.accounts.notify import Notice
from service.accounts.two_factor import RecoveryCodes, method_added
from service.accounts.webauthn_rp import RelyingParty, VerifyError
from service.publishers.base import Refusal
from service.store.base import ChallengeOutcome, Duplicate, SecurityKeyRecord, Transaction

WEBAUTHN_INVALID: Final = "webauthn-invalid"
CHALLENGE_UNKNOWN: Final = "webauthn-challenge-unknown"
CHALLENGE_EXPIRED: Final = "webauthn-challenge-expired"
UNKNOWN_CREDENTIAL: Final = "webauthn-unknown-credential"
COUNTER_REGRESSED: Final = "webauthn-counter-regressed"
NOT_ENROLLED: Final = "webauthn-not-enrolled"
KEY_EXISTS: Final = "security-key-exists"
INVALID_KEY_NAME: Final = "invalid-security-key-name"

MAX_NAME = 64


@dataclass(frozen=True, slots=True)
class Options:
    """The JSON for navigator.credentials.create()/get(); holds no secret."""

    json: str


@dataclass(frozen=True, slots=True)
class KeyAdded:
    key: SecurityKeyRecord
    recovery_codes: RecoveryCodes  # empty unless this key turned 2FA on


@dataclass(frozen=True, slots=True)
class KeyUsed:
    key_id: int
    sign_count: int


def _challenge_refusal(outcome: ChallengeOutcome) -> Refusal | None:
    if outcome == "expired":
        return Refusal(CHALLENGE_EXPIRED, "the security key challenge expired: start again")
    if outcome == "unknown":
        return Refusal(
            CHALLENGE_UNKNOWN, "this security key challenge was not issued to you or was used"
        )
    return None


async def begin_registration(deps: Deps, rp: RelyingParty, ctx: Context) -> Options | Refusal:
    """Open to users without 2FA: adding a key is how they enrol."""
    now = deps.now()
    challenge = rp_.new_challenge()
    async with deps.store.transaction() as tx:
        user = await acting_user(tx, ctx)
        if isinstance(user, Refusal):
            return user
        existing = [k.credential_id for k in await tx.security_keys(user.id)]
        await tx.add_challenge(user.id, "register", challenge, now, now + rp.challenge_ttl)
    return Options(rp_.registration_options(rp, user.id, user.username, challenge, existing))


async def finish_registration(
    deps: Deps, rp: RelyingParty, ctx: Context, name: str, response: str
) -> KeyAdded | Refusal:
    name = name.strip()
    if not name or len(name) > MAX_NAME or not name.isprintable():
        return Refusal(INVALID_KEY_NAME, f"name: expected 1-{MAX_NAME} printable characters")
    try:
        challenge = rp_.registration_challenge(response)
    except VerifyError as exc:
        return Refusal(WEBAUTHN_INVALID, str(exc))
    now = deps.now()
    async with deps.store.transaction() as tx:
        user = await acting_user(tx, ctx)
        if isinstance(user, Refusal):
            return user
        outcome = await tx.consume_challenge(user.id, "register", challenge, now)
        refused = _challenge_refusal(outcome)
        if refused is None:
            try:
                registered = rp_.verify_registration(rp, response, challenge)
            except VerifyError as exc:
                refused = Refusal(WEBAUTHN_INVALID, str(exc))
        if refused is not None:
            await _failed(tx, deps, ctx, user.id, "webauthn:registration-failed", refused)
            return refused
        try:
            key = await tx.add_security_key(
                user.id,
                name,
                registered.credential_id,
                registered.public_key,
                registered.sign_count,
                now,
            )
        except Duplicate:
            return Refusal(KEY_EXISTS, f"this key, or a key named {name!r}, is already registered")
        await audit(tx, deps, ctx, "webauthn:registered", subject=user.id, name=name)
        codes = await method_added(tx, deps, ctx, user, now)
    await deps.notify(Notice(user.email, user.username, "two-factor-added", f"security key {name}"))
    return KeyAdded(key, codes)


async def begin_authentication(deps: Deps, rp: RelyingParty, ctx: Context) -> Options | Refusal:
    now = deps.now()
    challenge = rp_.new_challenge()
    async with deps.store.transaction() as tx:
        user = await acting_user(tx, ctx)
        if isinstance(user, Refusal):
            return user
        keys = await tx.security_keys(user.id)
        if not keys:
            return Refusal(NOT_ENROLLED, "no security key is registered on this account")
        await tx.add_challenge(user.id, "authenticate", challenge, now, now + rp.challenge_ttl)
    allowed = [k.credential_id for k in keys]
    return Options(rp_.authentication_options(rp, challenge, allowed))


async def finish_authentication(
    deps: Deps, rp: RelyingParty, ctx: Context, response: str
) -> KeyUsed | Refusal:
    try:
        challenge, credential_id = rp_.assertion_parts(response)
    except VerifyError as exc:
        return Refusal(WEBAUTHN_INVALID, str(exc))
    now = deps.now()
    async with deps.store.transaction() as tx:
        user = await acting_user(tx, ctx)
        if isinstance(user, Refusal):
            return user
        result = await _assert(tx, deps, rp, user.id, response, challenge, credential_id)
        if isinstance(result, Refusal):
            await _failed(tx, deps, ctx, user.id, "webauthn:failed", result)
            return result
        await tx.mark_two_factor(user.id, now)
        await audit(tx, deps, ctx, "webauthn:used", subject=user.id, key_id=result.key_id)
    return result


async def _assert(
    tx: Transaction,
    deps: Deps,
    rp: RelyingParty,
    user_id: int,
    response: str,
    challenge: bytes,
    credential_id: bytes,
) -> KeyUsed | Refusal:
    now = deps.now()
    refused = _challenge_refusal(
        await tx.consume_challenge(user_id, "authenticate", challenge, now)
    )
    if refused is not None:
        return refused
    key = await tx.security_key_by_credential(credential_id)
    if key is None or key.user_id != user_id:
        # Another user's key gets the same answer as no key: nothing to learn here.
        return Refusal(UNKNOWN_CREDENTIAL, "this security key is not registered on this account")
    try:
        asserted = rp_.verify_assertion(rp, response, challenge, key.public_key)
    except VerifyError as exc:
        return Refusal(WEBAUTHN_INVALID, str(exc))
    regressed = rp_.counter_regressed(key.sign_count, asserted.sign_count)
    if regressed or not await tx.advance_sign_count(
        key.id, key.sign_count, asserted.sign_count, now
    ):
        return Refusal(
            COUNTER_REGRESSED,
            f"sign count: expected more than {key.sign_count}, got {asserted.sign_count};"
            " this key may have been cloned",
        )
    return KeyUsed(key.id, asserted.sign_count)


async def _failed(
    tx: Transaction, deps: Deps, ctx: Context, user_id: int, event: str, refusal: Refusal
) -> None:
    await audit(tx, deps, ctx, event, subject=user_id, reason=refusal.code)
