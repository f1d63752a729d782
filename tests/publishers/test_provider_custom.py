"""Custom issuers: a publisher table of rules (rules.py, custom.py)."""

from __future__ import annotations

from typing import Any

import pytest

from service.publishers import PROVIDERS, base, custom
from service.publishers.rules import RulesPublisher

ISSUER = "https://ci.example.com/oidc"
MISSING: Any = object()

TABLE: dict[str, Any] = {
    "lookup": "repository",
    "required": ["sha"],
    "claims": [
        {"claim": "repository", "casefold": "Octo/SampleProject"},
        {"claim": "repository_id", "pinned_id": 4242},
        {"claim": "ref", "glob": ["refs/tags/v*", "refs/heads/release/*"]},
        {"claim": "workflow", "exact": "release"},
        {"claim": "protected", "equals_bool": True},
        {"claim": "groups", "includes": "publishers"},
    ],
}


def publisher(**overrides: Any) -> RulesPublisher:
    table = {k: v for k, v in {**TABLE, **overrides}.items() if v is not MISSING}
    return custom.from_table(table, issuer=ISSUER)


def claims(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "repo:octo/sampleproject:ref:refs/tags/v1.0.0",
        "repository": "octo/sampleproject",
        "repository_id": "4242",
        "ref": "refs/tags/v1.0.0",
        "workflow": "release",
        "protected": True,
        "groups": ["developers", "publishers"],
        "sha": "d" * 40,
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not MISSING}


def assert_refused(result: base.Match | base.Refusal, claim: str) -> None:
    assert isinstance(result, base.Refusal), result
    assert result.code == base.INVALID_PUBLISHER
    assert result.description.startswith(f"{claim}: expected "), result.description


def test_custom_is_a_provider_without_default_issuer_or_lookup_claim() -> None:
    assert PROVIDERS["custom"] is custom
    assert (custom.DEFAULT_ISSUER, custom.LOOKUP_CLAIM) == (None, None)


def test_every_rule_holding_is_a_match_with_provenance() -> None:
    p = publisher()
    result = p.verify(claims(), now=0)
    assert result == base.Match(
        f"custom:{ISSUER}:repository=Octo/SampleProject",
        {
            "repository": "octo/sampleproject",
            "repository_id": "4242",
            "workflow": "release",
            "sha": "d" * 40,
        },
    )
    assert (p.lookup_claim, p.lookup_key) == ("repository", "octo/sampleproject")
    assert p.required == ("repository", "sha")


def test_an_integer_id_claim_matches_a_pinned_id() -> None:
    assert isinstance(publisher().verify(claims(repository_id=4242), now=0), base.Match)


def test_provenance_can_be_named() -> None:
    p = publisher(provenance=["sha", "ref"])
    result = p.verify(claims(), now=0)
    assert isinstance(result, base.Match)
    assert result.provenance == {"sha": "d" * 40, "ref": "refs/tags/v1.0.0"}


HOSTILE = [
    ("lookalike-repository", {"repository": "octo/sampleproject-evil"}, "repository"),
    ("repository-a-list", {"repository": ["octo/sampleproject"]}, "repository"),
    ("recreated-repository", {"repository_id": "4243"}, "repository_id"),
    ("id-as-bool", {"repository_id": True}, "repository_id"),
    ("id-as-float", {"repository_id": 4242.0}, "repository_id"),
    ("ref-outside-globs", {"ref": "refs/heads/main"}, "ref"),
    ("ref-unanchored-prefix", {"ref": "refs/heads/evil/refs/tags/v1"}, "ref"),
    ("ref-unanchored-start", {"ref": "x/refs/tags/v1"}, "ref"),
    ("ref-regex-metachar", {"ref": "refsXtags/v1"}, "ref"),
    ("workflow-case", {"workflow": "Release"}, "workflow"),
    ("unprotected", {"protected": False}, "protected"),
    ("protected-as-string", {"protected": "true"}, "protected"),
    ("group-missing", {"groups": ["developers"]}, "groups"),
    ("group-as-substring", {"groups": ["publishers-evil"]}, "groups"),
    ("groups-a-string", {"groups": "publishers"}, "groups"),
    ("groups-mixed-types", {"groups": ["publishers", 1]}, "groups"),
    ("required-missing", {"sha": MISSING}, "sha"),
    ("required-empty", {"sha": ""}, "sha"),
    ("lookup-missing", {"repository": MISSING}, "repository"),
]


@pytest.mark.parametrize(
    ("overrides", "claim"), [(o, c) for _, o, c in HOSTILE], ids=[i for i, _, _ in HOSTILE]
)
def test_hostile_claims_are_refused(overrides: dict[str, Any], claim: str) -> None:
    assert_refused(publisher().verify(claims(**overrides), now=0), claim)


def test_required_claims_are_checked_before_any_rule() -> None:
    result = publisher().verify(claims(sha=MISSING, repository="evil/x"), now=0)
    assert result == base.Refusal(
        base.INVALID_PUBLISHER, "sha: expected a non-empty string, got nothing (claim missing)"
    )


def rules(*entries: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"claim": "repository", "exact": "octo/sampleproject"}, *entries]


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"lookup": MISSING}, "lookup"),
        ({"lookup": "has space"}, "lookup"),
        ({"claims": MISSING}, "claims"),
        ({"claims": []}, "claims"),
        ({"claims": ["repository"]}, "claims[0]"),
        ({"claims": rules({"claim": "ref"})}, "claims[1]"),
        ({"claims": rules({"claim": "ref", "exact": "a", "glob": "b"})}, "claims[1]"),
        ({"claims": rules({"claim": "ref", "regex": ".*"})}, "claims[1]"),
        ({"claims": rules({"exact": "a"})}, "claims[1].claim"),
        ({"claims": rules({"claim": "aud", "exact": "pypi"})}, "claims[1].claim"),
        ({"claims": rules({"claim": "iss", "exact": ISSUER})}, "claims[1].claim"),
        ({"claims": rules({"claim": "ref", "glob": "*"})}, "claims[1].glob"),
        ({"claims": rules({"claim": "ref", "glob": ["refs/*", "**"]})}, "claims[1].glob"),
        ({"claims": rules({"claim": "ref", "glob": []})}, "claims[1].glob"),
        ({"claims": rules({"claim": "ref", "exact": ""})}, "claims[1].exact"),
        ({"claims": rules({"claim": "ref", "exact": 7})}, "claims[1].exact"),
        ({"claims": rules({"claim": "p", "equals_bool": "true"})}, "claims[1].equals_bool"),
        ({"claims": rules({"claim": "id", "pinned_id": True})}, "claims[1].pinned_id"),
        ({"claims": [{"claim": "repository", "glob": "octo/*"}]}, "lookup"),
        ({"claims": [{"claim": "other", "exact": "x"}]}, "lookup"),
        ({"required": "sha"}, "required"),
        ({"required": [""]}, "required"),
        ({"provenance": [1]}, "provenance"),
        ({"issuer": ISSUER}, "issuer"),
    ],
    ids=[
        "no-lookup",
        "lookup-not-a-claim-name",
        "no-claims",
        "claims-empty",
        "rule-not-a-table",
        "rule-without-kind",
        "rule-with-two-kinds",
        "rule-unknown-kind",
        "rule-without-claim",
        "rule-on-aud",
        "rule-on-iss",
        "glob-matches-anything",
        "glob-list-matches-anything",
        "glob-empty-list",
        "exact-empty",
        "exact-not-a-string",
        "bool-as-string",
        "pinned-id-bool",
        "lookup-only-by-glob",
        "lookup-without-rule",
        "required-not-a-list",
        "required-blank",
        "provenance-not-names",
        "unknown-key",
    ],
)
def test_bad_table_names_the_key(overrides: dict[str, Any], key: str) -> None:
    with pytest.raises(base.ConfigError) as caught:
        publisher(**overrides)
    assert caught.value.key == key
