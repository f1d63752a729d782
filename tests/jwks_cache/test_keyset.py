"""keyset.parse_jwks: public signing keys in, everything else refused."""

from __future__ import annotations

import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from jwks_cache import InvalidKeySet, parse_jwks


def test_rsa_ec_and_okp_keys_verify_tokens_they_signed(
    kit: Any, rsa_key: Any, ec_key: Any, ed_key: Any
) -> None:
    doc = kit.jwks(
        kit.public_jwk(rsa_key, "r1", alg="RS256"),
        kit.public_jwk(ec_key, "e1"),
        kit.public_jwk(ed_key, "o1"),
    )
    keys = parse_jwks(doc)
    assert sorted(keys) == ["e1", "o1", "r1"]
    assert (keys["r1"].kty, keys["r1"].alg) == ("RSA", "RS256")
    assert (keys["e1"].kty, keys["e1"].alg) == ("EC", None)
    assert keys["o1"].kty == "OKP"
    # The cached object is the cryptography key itself, not a PyJWK wrapper.
    assert isinstance(keys["r1"].key, rsa.RSAPublicKey)
    assert isinstance(keys["e1"].key, ec.EllipticCurvePublicKey)
    for kid, private, alg in [("r1", rsa_key, "RS256"), ("e1", ec_key, "ES256"),
                              ("o1", ed_key, "EdDSA")]:  # fmt: skip
        token = kit.sign(private, kid, alg)
        claims = jwt.decode(token, keys[kid].key, algorithms=[alg], options={"verify_aud": False})
        assert claims["sub"] == "repo:octo/pkg"


def test_a_key_from_another_pair_does_not_verify(kit: Any, rsa_key: Any, rsa_key2: Any) -> None:
    keys = parse_jwks(kit.jwks(kit.public_jwk(rsa_key2, "r1")))
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(kit.sign(rsa_key, "r1"), keys["r1"].key, algorithms=["RS256"])


def test_encryption_keys_are_skipped_not_fatal(kit: Any, rsa_key: Any, rsa_key2: Any) -> None:
    doc = kit.jwks(
        kit.public_jwk(rsa_key, "sig"),
        kit.public_jwk(rsa_key2, "enc", use="enc"),
        {**kit.public_jwk(rsa_key2, "wrap"), "key_ops": ["wrapKey"]},
    )
    assert list(parse_jwks(doc)) == ["sig"]


def test_key_without_use_is_a_signing_key(kit: Any, rsa_key: Any) -> None:
    jwk = kit.public_jwk(rsa_key, "r1")
    del jwk["use"]
    assert list(parse_jwks(kit.jwks(jwk))) == ["r1"]


def test_max_keys_is_a_limit_not_an_off_by_one(kit: Any, ec_key: Any) -> None:
    doc = kit.jwks(*(kit.public_jwk(ec_key, f"k{i}") for i in range(4)))
    assert len(parse_jwks(doc, max_keys=4)) == 4
    with pytest.raises(InvalidKeySet, match="4 keys, at most 3"):
        parse_jwks(doc, max_keys=3)


def _hostile(kit: Any, rsa_key: Any, ec_key: Any, weak_rsa: Any) -> dict[str, tuple[bytes, str]]:
    rsa_jwk = kit.public_jwk(rsa_key, "r1")
    private_rsa = {**RSAAlgorithm.to_jwk(rsa_key, as_dict=True), "kid": "p1"}
    private_ec = {**ECAlgorithm.to_jwk(ec_key, as_dict=True), "kid": "p2"}
    oct_key = {"kty": "oct", "kid": "h1", "k": "c2VjcmV0LWNob3Nlbi1ieS10aGUtYXR0YWNrZXI"}
    return {
        "not-json": (b"<html>", "not valid JSON"),
        "bad-utf8": (b'{"keys": ["\xff"]}', "not valid JSON"),
        "nesting-bomb": (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
        "array-document": (b"[]", "must be a JSON object"),
        "keys-missing": (b"{}", "'keys' must be a list"),
        "keys-not-list": (b'{"keys": {"kid": "r1"}}', "'keys' must be a list"),
        "empty-keys": (kit.jwks(), "no usable signing keys"),
        "only-enc-keys": (kit.jwks({**rsa_jwk, "use": "enc"}), "no usable signing keys"),
        "too-many-keys": (
            kit.jwks(*({**rsa_jwk, "kid": f"k{i}"} for i in range(33))),
            "33 keys, at most 32",
        ),
        "key-not-object": (kit.jwks(rsa_jwk, "r2"), "#1 is not an object"),
        "kid-missing": (kit.jwks({k: v for k, v in rsa_jwk.items() if k != "kid"}), "'kid'"),
        "kid-not-string": (kit.jwks({**rsa_jwk, "kid": 7}), "'kid'"),
        "kid-empty": (kit.jwks({**rsa_jwk, "kid": ""}), "'kid'"),
        "duplicate-kid": (kit.jwks(rsa_jwk, kit.public_jwk(ec_key, "r1")), "duplicate kid"),
        "private-rsa": (kit.jwks(rsa_jwk, private_rsa), "private or symmetric"),
        "private-ec": (kit.jwks(private_ec), "private or symmetric"),
        "private-marked-enc": (
            kit.jwks(rsa_jwk, {**private_ec, "use": "enc", "key_ops": ["decrypt"]}),
            "private or symmetric",
        ),
        "oct-hs-secret": (kit.jwks(rsa_jwk, oct_key), "private or symmetric"),
        "oct-without-k": (kit.jwks({"kty": "oct", "kid": "h2"}), "unsupported kty 'oct'"),
        "unknown-kty": (kit.jwks({**rsa_jwk, "kty": "AKP"}), "unsupported kty"),
        "kty-missing": (kit.jwks({"kid": "x", "n": "AQAB", "e": "AQAB"}), "unsupported kty"),
        "alg-hs256-on-rsa": (kit.jwks({**rsa_jwk, "alg": "HS256"}), "alg 'HS256' is not valid"),
        "alg-none": (kit.jwks({**rsa_jwk, "alg": "none"}), "alg 'none' is not valid"),
        "alg-of-other-kty": (kit.jwks({**rsa_jwk, "alg": "ES256"}), "not valid for kty RSA"),
        "rsa-modulus-garbage": (kit.jwks({**rsa_jwk, "n": "!!!"}), "malformed RSA key"),
        "ec-point-off-curve": (
            kit.jwks({**kit.public_jwk(ec_key, "e1"), "y": rsa_jwk["e"]}),
            "malformed EC key",
        ),
        "ec-unknown-curve": (
            kit.jwks({**kit.public_jwk(ec_key, "e1"), "crv": "P-192"}),
            "malformed EC key",
        ),
        "rsa-1024-bits": (kit.jwks(kit.public_jwk(weak_rsa, "w1")), "1024 bits is too short"),
    }


HOSTILE_IDS = [
    "not-json", "bad-utf8", "nesting-bomb", "array-document", "keys-missing", "keys-not-list",
    "empty-keys", "only-enc-keys", "too-many-keys", "key-not-object", "kid-missing",
    "kid-not-string", "kid-empty", "duplicate-kid", "private-rsa", "private-ec",
    "private-marked-enc", "oct-hs-secret", "oct-without-k", "unknown-kty", "kty-missing",
    "alg-hs256-on-rsa", "alg-none", "alg-of-other-kty", "rsa-modulus-garbage",
    "ec-point-off-curve", "ec-unknown-curve", "rsa-1024-bits",
]  # fmt: skip


@pytest.fixture(scope="module")
def weak_rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - the weak key under test


@pytest.mark.parametrize("case", HOSTILE_IDS)
def test_hostile_document_is_refused(
    case: str, kit: Any, rsa_key: Any, ec_key: Any, weak_rsa: Any
) -> None:
    cases = _hostile(kit, rsa_key, ec_key, weak_rsa)
    assert set(cases) == set(HOSTILE_IDS)
    document, message = cases[case]
    with pytest.raises(InvalidKeySet, match=message):
        parse_jwks(document)


def test_refusal_never_echoes_private_key_material(kit: Any, rsa_key: Any) -> None:
    private = {**RSAAlgorithm.to_jwk(rsa_key, as_dict=True), "kid": "p1"}
    with pytest.raises(InvalidKeySet) as excinfo:
        parse_jwks(kit.jwks(private))
    assert private["d"] not in str(excinfo.value)
    assert private["d"] not in json.dumps([str(a) for a in excinfo.value.args])


def test_only_public_keys_leave_even_if_the_member_check_is_bypassed(
    kit: Any, ec_key: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jwks_cache import keyset

    monkeypatch.setattr(keyset, "_SECRET_MEMBERS", frozenset())
    private = {**ECAlgorithm.to_jwk(ec_key, as_dict=True), "kid": "p1"}
    private.pop("key_ops", None)  # would make the key skipped, not refused
    with pytest.raises(InvalidKeySet, match="not a public key"):
        parse_jwks(kit.jwks(private))
