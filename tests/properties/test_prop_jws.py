"""`jws.parse` + `verify.decode` against `jwt.decode`: never more lenient.

mintgate verifies the parts it parsed once instead of calling `jwt.decode`
(service/oidc/jws.py says why). These properties hold it to PyJWT's reading:
whatever mintgate accepts, `jwt.decode` accepts with the same claims, across
validly signed tokens with hostile headers and claims and across tokens
changed after signing. Where the two differ, mintgate is the stricter.
"""

from __future__ import annotations

from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import example, given
from hypothesis import strategies as st
from jwt.algorithms import get_default_algorithms
from propkit import CRYPTO, FAST, b64url, json_values, segment

from jwks_cache import Key
from service.oidc.jws import parse
from service.oidc.verify import check_times, decode
from service.publishers.base import INVALID_TOKEN, Refusal

ISSUER = "https://issuer.example"
AUDIENCE = "mintgate"
REQUIRED = ("iss", "aud", "exp", "iat", "sub", "jti")
NOW = 1
ES256 = get_default_algorithms()["ES256"]
PRIVATE = ec.generate_private_key(ec.SECP256R1())
KEY = Key(kid="ec-1", key=PRIVATE.public_key(), kty="EC", alg=None)
GOOD = {"iss": ISSUER, "aud": AUDIENCE, "exp": 2, "iat": 1, "sub": "repo:o/r", "jti": "j-1"}


def sign(claims: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
    """Any header and claims at all, validly signed: `jwt.encode` would vet both first."""
    header = {"alg": "ES256", "kid": "ec-1", **(headers or {})}
    signing_input = f"{segment(header)}.{segment(claims)}"
    signature = ES256.sign(signing_input.encode(), PRIVATE)
    return f"{signing_input}.{b64url(signature)}"


def ours(token: str) -> dict[str, Any] | Refusal:
    compact = parse(token)
    if isinstance(compact, Refusal):
        return compact
    claims = decode(compact, KEY, alg="ES256", audience=AUDIENCE, issuer=ISSUER, required=REQUIRED)
    # As every caller does: the times are checked after decode, against an injected now.
    return claims if isinstance(claims, Refusal) else check_times(claims, leeway=0, now=NOW)


def theirs(token: str) -> dict[str, Any] | None:
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            KEY.key,
            algorithms=["ES256"],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={
                "require": list(REQUIRED),
                "strict_aud": True,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
    except jwt.PyJWTError:
        return None
    return claims


def never_more_lenient(token: str) -> dict[str, Any] | Refusal:
    mine = ours(token)
    if isinstance(mine, Refusal):
        assert mine.code == INVALID_TOKEN
    else:
        assert theirs(token) == mine
    return mine


def test_a_good_token_is_accepted_by_both() -> None:
    token = sign(GOOD)
    assert never_more_lenient(token) == GOOD == theirs(token)


claim_values = json_values | st.sampled_from([ISSUER, AUDIENCE, [AUDIENCE], "", None])


@CRYPTO
@given(
    st.dictionaries(st.sampled_from(sorted(GOOD)), claim_values, max_size=3),
    st.lists(st.sampled_from(sorted(GOOD)), max_size=2),
    st.fixed_dictionaries(
        {},
        optional={
            "crit": st.lists(st.sampled_from(["b64", "exp", ""]), max_size=2) | json_values,
            "b64": st.booleans() | json_values,
            "typ": json_values,
            "jku": st.just("https://evil.example/jwks"),
        },
    ),
)
@example({"aud": [AUDIENCE]}, [], {})
@example({}, ["aud"], {})
@example({"sub": 7}, [], {})
@example({}, [], {"crit": ["b64"], "b64": False})
def test_signed_tokens_with_hostile_claims_and_headers(
    changes: dict[str, Any], removed: list[str], headers: dict[str, Any]
) -> None:
    claims = {k: v for k, v in (GOOD | changes).items() if k not in removed}
    never_more_lenient(sign(claims, headers))


@st.composite
def tampered(draw: st.DrawFn) -> str:
    token = sign(GOOD)
    position = draw(st.integers(0, len(token) - 1))
    replacement = draw(
        st.sampled_from(["=", "==", "", "+", "/", "A", "a", "_", "-", ".", " ", "é"])
    )
    return token[:position] + replacement + token[position + 1 :]


@FAST
@given(tampered() | st.builds(lambda pad: sign(GOOD) + pad, st.sampled_from(["=", "==", "A"])))
def test_tokens_changed_after_signing_are_never_accepted_by_us_alone(token: str) -> None:
    never_more_lenient(token)


@FAST
@given(st.text(alphabet="AQgw_-=.abc", max_size=60))
def test_junk_is_refused_as_invalid_token(token: str) -> None:
    assert isinstance(never_more_lenient(token), Refusal)
