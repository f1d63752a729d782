"""Google Cloud service accounts (preset): claims in, Match or Refusal out."""

from __future__ import annotations

from typing import Any

import pytest
from providerclaims import GOOGLE, GOOGLE_EMAIL, GOOGLE_SUB, GOOGLE_TABLE, MISSING, google_claims

from service.publishers import PROVIDERS, base
from service.publishers.rules import RulesPublisher

google = PROVIDERS["google"]


def publisher(**overrides: Any) -> RulesPublisher:
    table = {k: v for k, v in {**GOOGLE_TABLE, **overrides}.items() if v is not MISSING}
    result = google.from_table(table, issuer=GOOGLE)
    assert isinstance(result, RulesPublisher)
    return result


def assert_refused(result: base.Match | base.Refusal, claim: str) -> None:
    assert isinstance(result, base.Refusal), result
    assert result.code == base.INVALID_PUBLISHER
    assert result.description.startswith(f"{claim}: expected "), result.description


def test_the_service_account_matches_with_provenance() -> None:
    result = publisher().verify(google_claims(), now=0)
    assert result == base.Match(
        f"google:{GOOGLE_EMAIL}", {"email": GOOGLE_EMAIL, "sub": GOOGLE_SUB}
    )


def test_defaults_and_lookup_key() -> None:
    p = publisher(email="Release@SampleProject.iam.gserviceaccount.com")
    assert (p.provider, p.issuer, p.lookup_claim) == ("google", GOOGLE, "email")
    assert p.lookup_key == GOOGLE_EMAIL
    assert google.DEFAULT_ISSUER == GOOGLE


def test_without_a_sub_pin_any_unique_id_of_the_email_matches() -> None:
    result = publisher(sub=MISSING).verify(google_claims(sub="999"), now=0)
    assert isinstance(result, base.Match)


# One row per attack: (id, claim overrides, the claim the refusal names).
HOSTILE = [
    ("other-account", {"email": "ci@other.iam.gserviceaccount.com"}, "email"),
    ("email-case", {"email": "Release@sampleproject.iam.gserviceaccount.com"}, "email"),
    ("email-as-prefix", {"email": GOOGLE_EMAIL + ".evil.example"}, "email"),
    ("email-missing", {"email": MISSING}, "email"),
    ("email-a-list", {"email": [GOOGLE_EMAIL]}, "email"),
    ("unverified", {"email_verified": False}, "email_verified"),
    ("verified-as-string", {"email_verified": "true"}, "email_verified"),
    ("verified-as-int", {"email_verified": 1}, "email_verified"),
    ("verified-missing", {"email_verified": MISSING}, "email_verified"),
    ("recreated-account", {"sub": "104729104729104729999"}, "sub"),
    ("sub-as-int", {"sub": int(GOOGLE_SUB)}, "sub"),
]


@pytest.mark.parametrize(
    ("overrides", "claim"), [(o, c) for _, o, c in HOSTILE], ids=[i for i, _, _ in HOSTILE]
)
def test_hostile_claims_are_refused(overrides: dict[str, Any], claim: str) -> None:
    assert_refused(publisher().verify(google_claims(**overrides), now=0), claim)


def test_refusal_names_expected_and_got_without_the_token() -> None:
    result = publisher().verify(google_claims(email_verified="true"), now=0)
    assert result == base.Refusal(
        base.INVALID_PUBLISHER, "email_verified: expected true (a JSON boolean), got 'true'"
    )


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"email": MISSING}, "email"),
        ({"email": "not-an-email"}, "email"),
        ({"email": ["a@b.example"]}, "email"),
        ({"sub": "12ab"}, "sub"),
        ({"sub": 123}, "sub"),
        ({"email_verified": False}, "email_verified"),
    ],
    ids=["no-email", "bad-email", "email-list", "sub-not-numeric", "sub-int", "unknown-key"],
)
def test_bad_table_names_the_key(overrides: dict[str, Any], key: str) -> None:
    with pytest.raises(base.ConfigError) as caught:
        publisher(**overrides)
    assert caught.value.key == key
