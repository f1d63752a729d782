"""The second factor an approval carries: made for that approval, not borrowed from a session.

A session's earlier proof does not count: an approval publishes, so it needs
its own. An authenticator code travels with the approval and is spent by it
(RFC 6238 step replay refused by the account layer). A security key answers a
challenge issued for one staged release and the exact set of files it held
(their digest): an answer for another release, for files that have changed
since, or older than CHALLENGE_TTL is refused as stale.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field

from service.accounts import security_keys
from service.accounts import webauthn_rp as rp_
from service.accounts.accounts import Accounts
from service.accounts.core import Context, Deps
from service.accounts.security_keys import (
    COUNTER_REGRESSED,
    NOT_ENROLLED,
    UNKNOWN_CREDENTIAL,
    WEBAUTHN_INVALID,
    Options,
)
from service.accounts.webauthn_rp import RelyingParty, VerifyError
from service.publishers.base import Refusal
from service.staging.rules import (
    APPROVAL_CONFIRMATION_REQUIRED,
    APPROVAL_CONFIRMATION_STALE,
    CHALLENGE_TTL,
)
from service.store.base import Transaction, UserRecord
from service.store.records_staging import ApprovalChallenge, StagedReleaseRecord


@dataclass(frozen=True, slots=True)
class TotpProof:
    code: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class KeyProof:
    response: str  # the WebAuthn assertion, as JSON


Proof = TotpProof | KeyProof

REQUIRED = Refusal(
    APPROVAL_CONFIRMATION_REQUIRED,
    "approving publishes the release: confirm it with an authenticator app code (totp) or a"
    " security key answer for this release (credential)",
)


class Confirmations:
    """Checks the proof an approval carries, over the account layer's state."""

    def __init__(self, accounts: Accounts, rp: RelyingParty | None = None) -> None:
        self.accounts = accounts
        self.rp = rp

    @property
    def deps(self) -> Deps:
        return self.accounts.deps

    async def challenge(
        self, tx: Transaction, user: UserRecord, release: StagedReleaseRecord
    ) -> Options | Refusal:
        """Options for navigator.credentials.get(), good for this release's files only."""
        if self.rp is None:
            return Refusal(NOT_ENROLLED, "security keys are not configured on this service")
        keys = await tx.security_keys(user.id)
        if not keys:
            return Refusal(NOT_ENROLLED, "no security key is registered on this account")
        now = self.deps.now()
        # Random, and tied to what is approved, so the key signs over this release's digest.
        challenge = hashlib.sha256(
            secrets.token_bytes(32) + f"approve:{release.id}:{release.digest}".encode()
        ).digest()
        await tx.add_approval_challenge(
            user.id, release.id, release.digest, challenge, now=now, expires_at=now + CHALLENGE_TTL
        )
        return Options(
            rp_.authentication_options(self.rp, challenge, [k.credential_id for k in keys])
        )

    async def confirm(
        self, ctx: Context, user: UserRecord, release: StagedReleaseRecord, proof: Proof | None
    ) -> Refusal | None:
        if proof is None:
            return REQUIRED
        if isinstance(proof, TotpProof):
            accepted = await self.accounts.verify_totp(user.id, proof.code, ctx)
            return accepted if isinstance(accepted, Refusal) else None
        return await self._key(user, release, proof.response)

    async def _key(
        self, user: UserRecord, release: StagedReleaseRecord, response: str
    ) -> Refusal | None:
        if self.rp is None:
            return Refusal(NOT_ENROLLED, "security keys are not configured on this service")
        try:
            challenge, credential_id = rp_.assertion_parts(response)
        except VerifyError as exc:
            return Refusal(WEBAUTHN_INVALID, str(exc))
        now = self.deps.now()
        async with self.deps.store.transaction() as tx:
            issued = await tx.consume_approval_challenge(user.id, challenge, now)
            if not isinstance(issued, ApprovalChallenge):
                return _stale(issued)
            if issued.release_id != release.id or issued.digest != release.digest:
                return Refusal(
                    APPROVAL_CONFIRMATION_STALE,
                    "this security key answer was made for another release or for files that"
                    " have changed since: ask for a new challenge",
                )
            key = await tx.security_key_by_credential(credential_id)
            if key is None or key.user_id != user.id:
                return Refusal(UNKNOWN_CREDENTIAL, "this security key is not registered here")
            try:
                asserted = rp_.verify_assertion(self.rp, response, challenge, key.public_key)
            except VerifyError as exc:
                return Refusal(WEBAUTHN_INVALID, str(exc))
            moved = not rp_.counter_regressed(key.sign_count, asserted.sign_count)
            if not moved or not await tx.advance_sign_count(
                key.id, key.sign_count, asserted.sign_count, now
            ):
                return Refusal(COUNTER_REGRESSED, "sign count did not grow: this key may be cloned")
            await tx.mark_two_factor(user.id, now)
        return None


def _stale(outcome: str) -> Refusal:
    if outcome == "expired":
        return Refusal(
            APPROVAL_CONFIRMATION_STALE,
            f"the security key challenge is older than {CHALLENGE_TTL.seconds // 60} minutes:"
            " ask for a new one",
        )
    return Refusal(
        security_keys.CHALLENGE_UNKNOWN,
        "this security key challenge was not issued to you for an approval, or was used",
    )
