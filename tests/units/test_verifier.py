"""Registry-side verification of minted tokens: scope, expiry, audience, issuer, keys."""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from fakeissuer import NOW, Clock

import jwks_cache
from service.minting.keys import SigningKeys, ephemeral_signing_keys
from service.minting.tokens import Grant, Minter, serialize, unwrap
from service.verifier import VerifiedToken, Verifier

pytestmark = pytest.mark.anyio

SERVICE = "https://mintgate.example"


class Keys:
    """mintgate's published keys, as jwks_cache would hand them out."""

    def __init__(self, keys: SigningKeys, *, down: bool = False) -> None:
        self.by_kid = {
            k["kid"]: jwks_cache.Key(kid=k["kid"], key=jwt.PyJWK(k).key, kty="EC", alg="ES256")
            for k in keys.public_jwks()["keys"]
        }
        self.down = down

    async def get_key(self, issuer: str, kid: str) -> jwks_cache.Key:
        if self.down:
            raise jwks_cache.KeysUnavailable(issuer)
        if issuer != SERVICE or kid not in self.by_kid:
            raise jwks_cache.KeyNotFound(kid)
        return self.by_kid[kid]


def mint(keys: SigningKeys, *, audience: str = "upload", issuer: str = SERVICE) -> str:
    minter = Minter(keys, issuer=issuer, audience=audience, ttl=900)
    grant = Grant(
        subject="github:x",
        provider="github",
        projects=["sampleproject"],
        publishers=["p"],
        provenance={},
    )
    return minter.mint(grant, now=NOW).token


@pytest.fixture
def signing() -> SigningKeys:
    return ephemeral_signing_keys()


def verifier(keys: SigningKeys, clock: Clock, **kw: Any) -> Verifier:
    return Verifier(Keys(keys, **kw), issuer=SERVICE, audience="upload", clock=clock)


async def test_token_is_good_for_its_project_only(signing: SigningKeys) -> None:
    check = verifier(signing, Clock())
    good = await check.verify(mint(signing), "SampleProject")
    assert isinstance(good, VerifiedToken)
    assert good.projects == ("sampleproject",)
    other = await check.verify(mint(signing), "otherproject")
    assert getattr(other, "code", None) == "project-not-in-scope"


def forged(signing: SigningKeys) -> str:
    """A well-formed token signed by a key mintgate never published."""
    return mint(ephemeral_signing_keys())


@pytest.mark.parametrize(
    ("make", "advance", "code"),
    [
        (lambda s: mint(s), 900, "invalid-token"),  # expired
        (lambda s: mint(s, audience="elsewhere"), 0, "invalid-token"),
        (lambda s: mint(s, issuer="https://evil.example"), 0, "invalid-token"),
        (forged, 0, "invalid-token"),
        (lambda s: "pypi-" + mint(s), 0, "invalid-token"),
        (lambda s: serialize(str(unwrap(mint(s)))[:-4] + "AAAA"), 0, "invalid-token"),
        (lambda s: mint(s) + "x", 0, "invalid-token"),
    ],
    ids=[
        "expired",
        "other-audience",
        "other-issuer",
        "unknown-key",
        "foreign-prefix",
        "tampered-signature-with-valid-checksum",
        "bad-checksum",
    ],
)
async def test_bad_tokens_are_refused(
    signing: SigningKeys, make: Any, advance: int, code: str
) -> None:
    clock = Clock()
    token = make(signing)
    clock.advance(advance)
    refusal = await verifier(signing, clock).verify(token, "sampleproject")
    assert getattr(refusal, "code", None) == code, refusal


async def test_keys_unavailable_is_a_retryable_refusal(signing: SigningKeys) -> None:
    refusal = await verifier(signing, Clock(), down=True).verify(mint(signing), "sampleproject")
    assert getattr(refusal, "code", None) == "service-unavailable"


async def test_retired_key_still_verifies_during_rotation(signing: SigningKeys) -> None:
    new = ephemeral_signing_keys().active
    rotated = SigningKeys(active=new, retired=(signing.active,))
    old_token = mint(signing)
    check = verifier(rotated, Clock())
    assert isinstance(await check.verify(old_token, "sampleproject"), VerifiedToken)
    header = jwt.get_unverified_header(str(unwrap(mint(rotated))))
    assert header["kid"] == new.kid
