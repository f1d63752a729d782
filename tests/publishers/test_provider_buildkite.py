"""Buildkite (preset, one issuer shared by every customer): claims in, Match or Refusal out."""

from __future__ import annotations

from typing import Any

import pytest
from providerclaims import BUILDKITE, BUILDKITE_ORG_ID, BUILDKITE_TABLE, MISSING, buildkite_claims

from service.publishers import PROVIDERS, base
from service.publishers.rules import RulesPublisher

buildkite = PROVIDERS["buildkite"]


def publisher(**overrides: Any) -> RulesPublisher:
    table = {k: v for k, v in {**BUILDKITE_TABLE, **overrides}.items() if v is not MISSING}
    result = buildkite.from_table(table, issuer=BUILDKITE)
    assert isinstance(result, RulesPublisher)
    return result


def assert_refused(result: base.Match | base.Refusal, claim: str) -> None:
    assert isinstance(result, base.Refusal), result
    assert result.code == base.INVALID_PUBLISHER
    assert result.description.startswith(f"{claim}: expected "), result.description


def test_the_pipeline_matches_with_provenance() -> None:
    result = publisher().verify(buildkite_claims(), now=0)
    assert isinstance(result, base.Match)
    assert result.publisher == "buildkite:acme-inc/release"
    assert result.provenance["build_number"] == "42"
    assert result.provenance["organization_id"] == BUILDKITE_ORG_ID
    assert "step_key" not in result.provenance  # null in the token


def test_lookup_is_the_pipeline_slug_under_the_shared_issuer() -> None:
    p = publisher()
    assert (p.issuer, p.lookup_claim, p.lookup_key) == (BUILDKITE, "pipeline_slug", "release")


def test_without_an_id_pin_the_optional_claim_may_be_absent() -> None:
    p = publisher(organization_id=MISSING)
    assert isinstance(p.verify(buildkite_claims(organization_id=MISSING), now=0), base.Match)


def test_branch_tag_and_step_constraints_all_hold() -> None:
    p = publisher(tags=MISSING, branches=["main", "release/*"], step_key="publish")
    ok = buildkite_claims(build_branch="release/1.x", build_tag=None, step_key="publish")
    assert isinstance(p.verify(ok, now=0), base.Match)
    assert_refused(p.verify({**ok, "step_key": "test"}, now=0), "step_key")
    assert_refused(p.verify({**ok, "build_branch": "feature"}, now=0), "build_branch")


def test_sub_is_not_compared_because_the_job_may_choose_it() -> None:
    # `buildkite-agent oidc request-token --subject-claim pipeline_id` replaces it.
    claims = buildkite_claims(sub="b0b0b0b0-0000-4000-8000-000000000001")
    assert isinstance(publisher().verify(claims, now=0), base.Match)


HOSTILE = [
    # The shared issuer: another customer names a pipeline like ours.
    ("other-org-same-pipeline", {"organization": "evil-inc"}, "organization_slug"),
    ("org-slug-case", {"organization": "Acme-Inc"}, "organization_slug"),
    ("org-slug-prefix", {"organization": "acme-inc-evil"}, "organization_slug"),
    # A deleted organization's slug, registered again: the pinned id differs.
    (
        "re-registered-slug",
        {"organization_id": "b0b0b0b0-0000-4000-8000-0000000000ee"},
        "organization_id",
    ),
    # Leaving the optional claim out must not skip the pin.
    ("org-id-not-requested", {"organization_id": MISSING}, "organization_id"),
    ("org-id-null", {"organization_id": None}, "organization_id"),
    ("other-pipeline", {"pipeline": "release-evil"}, "pipeline_slug"),
    ("branch-build-no-tag", {"build_tag": None}, "build_tag"),
    ("tag-outside-pattern", {"build_tag": "nightly-v1"}, "build_tag"),
    ("tag-unanchored", {"build_tag": "x-v1"}, "build_tag"),
    ("tag-not-a-string", {"build_tag": ["v1.0.0"]}, "build_tag"),
    ("commit-missing", {"build_commit": MISSING}, "build_commit"),
    ("job-id-missing", {"job_id": MISSING}, "job_id"),
    ("org-slug-missing", {"organization_slug": MISSING}, "organization_slug"),
]


@pytest.mark.parametrize(
    ("overrides", "claim"), [(o, c) for _, o, c in HOSTILE], ids=[i for i, _, _ in HOSTILE]
)
def test_hostile_claims_are_refused(overrides: dict[str, Any], claim: str) -> None:
    assert_refused(publisher().verify(buildkite_claims(**overrides), now=0), claim)


def test_two_customers_with_the_same_pipeline_slug_each_match_only_their_own() -> None:
    ours = publisher()
    theirs = publisher(organization_slug="evil-inc", organization_id=MISSING)
    assert ours.lookup_key == theirs.lookup_key  # one index bucket: the rules decide
    token = buildkite_claims(organization="evil-inc", organization_id=MISSING)
    assert isinstance(theirs.verify(token, now=0), base.Match)
    assert_refused(ours.verify(token, now=0), "organization_slug")


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"organization_slug": MISSING}, "organization_slug"),
        ({"pipeline_slug": MISSING}, "pipeline_slug"),
        ({"organization_slug": "Acme Inc"}, "organization_slug"),
        ({"organization_id": "42"}, "organization_id"),
        ({"tags": "v*"}, "tags"),
        ({"tags": []}, "tags"),
        ({"branches": ["*"]}, "branches"),
        ({"sub": "organization:acme-inc:*"}, "sub"),
    ],
    ids=[
        "no-org",
        "no-pipeline",
        "org-not-a-slug",
        "org-id-not-uuid",
        "tags-not-a-list",
        "tags-empty",
        "branch-matches-anything",
        "unknown-key",
    ],
)
def test_bad_table_names_the_key(overrides: dict[str, Any], key: str) -> None:
    with pytest.raises(base.ConfigError) as caught:
        publisher(**overrides)
    assert caught.value.key == key
