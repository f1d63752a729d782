"""Semaphore (preset, one issuer per organization): claims in, Match or Refusal out."""

from __future__ import annotations

from typing import Any

import pytest
from providerclaims import (
    MISSING,
    SEMAPHORE_ORG_ID,
    SEMAPHORE_TABLE,
    semaphore_claims,
    semaphore_issuer,
)

from service.publishers import PROVIDERS, base
from service.publishers.rules import RulesPublisher

semaphore = PROVIDERS["semaphore"]


def publisher(**overrides: Any) -> RulesPublisher:
    table = {k: v for k, v in {**SEMAPHORE_TABLE, **overrides}.items() if v is not MISSING}
    issuer = table.pop("issuer")
    result = semaphore.from_table(table, issuer=issuer)
    assert isinstance(result, RulesPublisher)
    return result


def assert_refused(result: base.Match | base.Refusal, claim: str) -> None:
    assert isinstance(result, base.Refusal), result
    assert result.code == base.INVALID_PUBLISHER
    assert result.description.startswith(f"{claim}: expected "), result.description


def test_the_pipeline_job_matches_with_provenance() -> None:
    result = publisher().verify(semaphore_claims(), now=0)
    assert isinstance(result, base.Match)
    assert result.publisher == "semaphore:octo/sampleproject"
    assert result.provenance["ref"] == "refs/tags/v1.0.0"
    assert "branch" not in result.provenance  # empty for a tag build


def test_there_is_no_default_issuer_and_lookup_is_the_project_name() -> None:
    p = publisher()
    assert semaphore.DEFAULT_ISSUER is None
    assert (p.issuer, p.lookup_claim, p.lookup_key) == (semaphore_issuer(), "prj", "sampleproject")


def test_repo_slug_is_compared_case_insensitively() -> None:
    claims = semaphore_claims(repo_slug="Octo-Org/SampleProject")
    assert isinstance(publisher().verify(claims, now=0), base.Match)


HOSTILE = [
    ("org-claim-of-another-org", {"org": "evil"}, "org"),
    ("org-id-of-another-org", {"org_id": "5e5e5e5e-0000-4000-8000-0000000000ee"}, "org_id"),
    ("other-project-same-name", {"prj_id": "5e5e5e5e-0000-4000-8000-0000000000ee"}, "prj_id"),
    ("other-project", {"prj": "sampleproject-evil"}, "prj"),
    ("other-repository", {"repo_slug": "attacker/sampleproject"}, "repo_slug"),
    ("debug-job", {"job_type": "debug_job"}, "job_type"),
    ("project-debug-job", {"job_type": "project_debug_job"}, "job_type"),
    ("job-type-missing", {"job_type": MISSING}, "job_type"),
    ("branch-build", {"ref": "refs/heads/main"}, "ref"),
    ("pull-request", {"ref": "refs/pull/7/head"}, "ref"),
    ("ref-unanchored", {"ref": "refs/heads/x/refs/tags/v1"}, "ref"),
    ("ref-not-a-string", {"ref": 7}, "ref"),
    ("org-id-missing", {"org_id": MISSING}, "org_id"),
]


@pytest.mark.parametrize(
    ("overrides", "claim"), [(o, c) for _, o, c in HOSTILE], ids=[i for i, _, _ in HOSTILE]
)
def test_hostile_claims_are_refused(overrides: dict[str, Any], claim: str) -> None:
    assert_refused(publisher().verify(semaphore_claims(**overrides), now=0), claim)


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"issuer": semaphore_issuer("evil")}, "issuer"),
        ({"issuer": "https://OCTO.semaphoreci.com"}, "issuer"),
        ({"organization_id": MISSING}, "organization_id"),
        ({"project_id": MISSING}, "project_id"),
        ({"organization": "octo.evil"}, "organization"),
        ({"organization_id": SEMAPHORE_ORG_ID.upper()}, "organization_id"),
        ({"refs": ["main"]}, "refs"),
        ({"job_type": "debug_job"}, "job_type"),
    ],
    ids=[
        "issuer-of-another-org",
        "issuer-case",
        "no-org-id",
        "no-project-id",
        "org-with-dot",
        "uppercase-uuid",
        "refs-not-full",
        "job-type-is-fixed",
    ],
)
def test_bad_table_names_the_key(overrides: dict[str, Any], key: str) -> None:
    with pytest.raises(base.ConfigError) as caught:
        publisher(**overrides)
    assert caught.value.key == key
