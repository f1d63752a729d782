"""The relying-party side of WebAuthn, over the `webauthn` package. Pure, no storage.

Options go out as the JSON a browser passes to navigator.credentials; the
responses come back as the JSON of the resulting PublicKeyCredential.
Verification failures become VerifyError with the library's sentence, which
names what was expected and what arrived (origin, RP id hash, signature).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import webauthn
from webauthn.helpers import parse_client_data_json
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.parse_authentication_credential_json import (
    parse_authentication_credential_json,
)
from webauthn.helpers.parse_registration_credential_json import (
    parse_registration_credential_json,
)
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

CHALLENGE_BYTES = 32


class VerifyError(Exception):
    """The response does not verify; str() is safe to show (no key or secret in it)."""


@dataclass(frozen=True, slots=True)
class RelyingParty:
    rp_id: str
    origin: str
    name: str = "mintgate"
    # Long enough to find and touch a key, short enough that a leaked
    # challenge is soon worthless.
    challenge_ttl: timedelta = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Registered:
    credential_id: bytes
    public_key: bytes
    sign_count: int


@dataclass(frozen=True, slots=True)
class Asserted:
    credential_id: bytes
    sign_count: int


def new_challenge() -> bytes:
    return secrets.token_bytes(CHALLENGE_BYTES)


def user_handle(user_id: int) -> bytes:
    # An opaque row number, not the username or email (WebAuthn section 14.6.1).
    return user_id.to_bytes(8, "big")


def registration_options(
    rp: RelyingParty, user_id: int, username: str, challenge: bytes, existing: Sequence[bytes]
) -> str:
    options = webauthn.generate_registration_options(
        rp_id=rp.rp_id,
        rp_name=rp.name,
        user_id=user_handle(user_id),
        user_name=username,
        challenge=challenge,
        timeout=int(rp.challenge_ttl.total_seconds() * 1000),
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.DISCOURAGED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        # The browser refuses to register one authenticator twice for this user.
        exclude_credentials=[PublicKeyCredentialDescriptor(id=c) for c in existing],
    )
    return webauthn.options_to_json(options)


def authentication_options(rp: RelyingParty, challenge: bytes, allowed: Sequence[bytes]) -> str:
    options = webauthn.generate_authentication_options(
        rp_id=rp.rp_id,
        challenge=challenge,
        timeout=int(rp.challenge_ttl.total_seconds() * 1000),
        allow_credentials=[PublicKeyCredentialDescriptor(id=c) for c in allowed],
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    return webauthn.options_to_json(options)


def registration_challenge(response: str) -> bytes:
    """The challenge the response claims to answer (unverified: only to find it)."""
    try:
        credential = parse_registration_credential_json(response)
        return parse_client_data_json(credential.response.client_data_json).challenge
    except (WebAuthnException, ValueError, KeyError, TypeError):
        raise VerifyError("the registration response is not a WebAuthn credential") from None


def assertion_parts(response: str) -> tuple[bytes, bytes]:
    """(challenge, credential id) the response claims, to look both up before verifying."""
    try:
        credential = parse_authentication_credential_json(response)
        client_data = parse_client_data_json(credential.response.client_data_json)
        return client_data.challenge, credential.raw_id
    except (WebAuthnException, ValueError, KeyError, TypeError):
        raise VerifyError("the sign-in response is not a WebAuthn assertion") from None


def verify_registration(rp: RelyingParty, response: str, challenge: bytes) -> Registered:
    try:
        verified = webauthn.verify_registration_response(
            credential=response,
            expected_challenge=challenge,
            expected_rp_id=rp.rp_id,
            expected_origin=rp.origin,
            # Preferred, not required: plain U2F-style keys have no PIN.
            require_user_verification=False,
        )
    except WebAuthnException as exc:
        raise VerifyError(str(exc)) from None
    return Registered(verified.credential_id, verified.credential_public_key, verified.sign_count)


def verify_assertion(
    rp: RelyingParty, response: str, challenge: bytes, public_key: bytes
) -> Asserted:
    """Signature, origin, RP id and challenge; the sign counter is the caller's to judge.

    The library is given a stored count of 0, which disables its own counter
    check, so a regression can be refused with its own code and audited.
    """
    try:
        verified = webauthn.verify_authentication_response(
            credential=response,
            expected_challenge=challenge,
            expected_rp_id=rp.rp_id,
            expected_origin=rp.origin,
            credential_public_key=public_key,
            credential_current_sign_count=0,
            require_user_verification=False,
        )
    except WebAuthnException as exc:
        raise VerifyError(str(exc)) from None
    return Asserted(verified.credential_id, verified.new_sign_count)


def counter_regressed(stored: int, presented: int) -> bool:
    """WebAuthn section 6.1.1: a count that does not grow signals a cloned authenticator.

    Authenticators without a counter always send 0; both 0 is allowed.
    """
    return (presented > 0 or stored > 0) and presented <= stored
