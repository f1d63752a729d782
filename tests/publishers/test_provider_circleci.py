"""CircleCI (preset, one issuer per organization): claims in, Match or Refusal out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from providerclaims import (
    CIRCLE_CONTEXT,
    CIRCLE_ORG,
    CIRCLE_OTHER_ORG,
    CIRCLE_PROJECT,
    CIRCLECI_TABLE,
    MISSING,
    circleci_claims,
    circleci_issuer,
)

from service.issuers import load_issuers
from service.publishers import PROVIDERS, base
from service.publishers.rules import RulesPublisher
from service.trust.toml import TrustConfigError, load_trust

circleci = PROVIDERS["circleci"]
PROJECT = "oidc.circleci.com/project-id"


def publisher(**overrides: Any) -> RulesPublisher:
    table = {k: v for k, v in {**CIRCLECI_TABLE, **overrides}.items() if v is not MISSING}
    issuer = table.pop("issuer")
    result = circleci.from_table(table, issuer=issuer)
    assert isinstance(result, RulesPublisher)
    return result


def assert_refused(result: base.Match | base.Refusal, claim: str) -> None:
    assert isinstance(result, base.Refusal), result
    assert result.code == base.INVALID_PUBLISHER
    assert result.description.startswith(f"{claim}: expected "), result.description


def test_the_pipeline_matches_with_provenance() -> None:
    result = publisher().verify(circleci_claims(), now=0)
    assert isinstance(result, base.Match)
    assert result.provenance[PROJECT] == CIRCLE_PROJECT
    assert result.provenance["oidc.circleci.com/vcs-ref"] == "refs/tags/v1.0.0"
    assert "oidc.circleci.com/context-ids" not in result.provenance


def test_there_is_no_default_issuer_and_lookup_is_the_project_id() -> None:
    p = publisher()
    assert circleci.DEFAULT_ISSUER is None
    assert (p.issuer, p.lookup_claim, p.lookup_key) == (circleci_issuer(), PROJECT, CIRCLE_PROJECT)


def test_optional_constraints_may_be_left_out() -> None:
    p = publisher(context_id=MISSING, vcs_origin=MISSING, refs=MISSING)
    claims = circleci_claims(
        **{"oidc.circleci.com/context-ids": [], "oidc.circleci.com/vcs-ref": "refs/heads/x"}
    )
    assert isinstance(p.verify(claims, now=0), base.Match)


def test_one_of_several_contexts_is_enough() -> None:
    claims = circleci_claims(**{"oidc.circleci.com/context-ids": ["other", CIRCLE_CONTEXT]})
    assert isinstance(publisher().verify(claims, now=0), base.Match)


HOSTILE = [
    (
        "other-org-id-claim",
        {"oidc.circleci.com/org-id": CIRCLE_OTHER_ORG},
        "oidc.circleci.com/org-id",
    ),
    ("other-project", {PROJECT: CIRCLE_OTHER_ORG}, PROJECT),
    (
        "other-pipeline-definition",
        {"oidc.circleci.com/pipeline-definition-id": CIRCLE_OTHER_ORG},
        "oidc.circleci.com/pipeline-definition-id",
    ),
    ("ssh-rerun", {"oidc.circleci.com/ssh-rerun": True}, "oidc.circleci.com/ssh-rerun"),
    (
        "ssh-rerun-as-string",
        {"oidc.circleci.com/ssh-rerun": "false"},
        "oidc.circleci.com/ssh-rerun",
    ),
    ("ssh-rerun-missing", {"oidc.circleci.com/ssh-rerun": MISSING}, "oidc.circleci.com/ssh-rerun"),
    ("no-context", {"oidc.circleci.com/context-ids": []}, "oidc.circleci.com/context-ids"),
    (
        "other-context",
        {"oidc.circleci.com/context-ids": [CIRCLE_OTHER_ORG]},
        "oidc.circleci.com/context-ids",
    ),
    (
        "context-as-string",
        {"oidc.circleci.com/context-ids": CIRCLE_CONTEXT},
        "oidc.circleci.com/context-ids",
    ),
    (
        "context-as-substring",
        {"oidc.circleci.com/context-ids": [CIRCLE_CONTEXT + ",evil"]},
        "oidc.circleci.com/context-ids",
    ),
    (
        "fork-origin",
        {"oidc.circleci.com/vcs-origin": "github.com/attacker/sampleproject"},
        "oidc.circleci.com/vcs-origin",
    ),
    (
        "origin-missing",
        {"oidc.circleci.com/vcs-origin": MISSING},
        "oidc.circleci.com/vcs-origin",
    ),
    (
        "branch-not-tag",
        {"oidc.circleci.com/vcs-ref": "refs/heads/main"},
        "oidc.circleci.com/vcs-ref",
    ),
    (
        "ref-unanchored",
        {"oidc.circleci.com/vcs-ref": "refs/heads/evil/refs/tags/v1"},
        "oidc.circleci.com/vcs-ref",
    ),
    ("project-missing", {PROJECT: MISSING}, PROJECT),
    ("project-not-a-string", {PROJECT: [CIRCLE_PROJECT]}, PROJECT),
]


@pytest.mark.parametrize(
    ("overrides", "claim"), [(o, c) for _, o, c in HOSTILE], ids=[i for i, _, _ in HOSTILE]
)
def test_hostile_claims_are_refused(overrides: dict[str, Any], claim: str) -> None:
    assert_refused(publisher().verify(circleci_claims(**overrides), now=0), claim)


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"issuer": circleci_issuer(CIRCLE_OTHER_ORG)}, "issuer"),
        ({"org_id": MISSING}, "org_id"),
        ({"project_id": MISSING}, "project_id"),
        ({"pipeline_definition_id": MISSING}, "pipeline_definition_id"),
        ({"project_id": CIRCLE_PROJECT.upper()}, "project_id"),
        ({"refs": "refs/tags/v*"}, "refs"),
        ({"refs": ["v*"]}, "refs"),
        ({"refs": ["*"]}, "refs"),
        ({"vcs_origin": "https://github.com/octo-org/sampleproject"}, "vcs_origin"),
        ({"ssh_rerun": True}, "ssh_rerun"),
    ],
    ids=[
        "issuer-of-another-org",
        "no-org-id",
        "no-project-id",
        "no-pipeline-definition",
        "uppercase-uuid",
        "refs-not-a-list",
        "refs-not-full",
        "refs-match-anything",
        "origin-with-scheme",
        "ssh-rerun-is-fixed",
    ],
)
def test_bad_table_names_the_key(overrides: dict[str, Any], key: str) -> None:
    with pytest.raises(base.ConfigError) as caught:
        publisher(**overrides)
    assert caught.value.key == key


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


ISSUERS = f"""
[[issuer]]
url = "{circleci_issuer()}"
provider = "circleci"

[[issuer]]
url = "{circleci_issuer(CIRCLE_OTHER_ORG)}"
provider = "circleci"
"""


def _table(project: str, org: str) -> str:
    return f"""
[[project.{project}.publisher]]
provider = "circleci"
issuer = "{circleci_issuer(org)}"
org_id = "{org}"
project_id = "{CIRCLE_PROJECT}"
pipeline_definition_id = "{CIRCLECI_TABLE["pipeline_definition_id"]}"
"""


@pytest.mark.anyio
async def test_the_issuer_is_part_of_the_index_key(tmp_path: Path) -> None:
    # Two organizations whose projects (implausibly) share an id: each issuer
    # sees only its own organization's publisher.
    issuers = load_issuers(_write(tmp_path / "i.toml", ISSUERS), audience="a", leeway=0)
    text = _table("ours", CIRCLE_ORG) + _table("theirs", CIRCLE_OTHER_ORG)
    trust = load_trust(_write(tmp_path / "p.toml", text), issuers)
    ours = await trust.publishers_for(circleci_issuer(), CIRCLE_PROJECT)
    theirs = await trust.publishers_for(circleci_issuer(CIRCLE_OTHER_ORG), CIRCLE_PROJECT)
    assert [t.project for t in ours] == ["ours"]
    assert [t.project for t in theirs] == ["theirs"]
    claims = circleci_claims(org_id=CIRCLE_OTHER_ORG)
    assert_refused(ours[0].publisher.verify(claims, now=0), "oidc.circleci.com/org-id")


def test_a_publisher_must_name_its_organizations_issuer(tmp_path: Path) -> None:
    issuers = load_issuers(_write(tmp_path / "i.toml", ISSUERS), audience="a", leeway=0)
    text = _table("ours", CIRCLE_ORG).replace(f'issuer = "{circleci_issuer()}"\n', "")
    with pytest.raises(TrustConfigError, match="issuer: is required for provider 'circleci'"):
        load_trust(_write(tmp_path / "p.toml", text), issuers)


def test_an_unconfigured_organization_issuer_is_refused_at_load(tmp_path: Path) -> None:
    issuers = load_issuers(_write(tmp_path / "i.toml", ISSUERS), audience="a", leeway=0)
    third = "c1c1c1c1-0000-4000-8000-00000000000c"
    with pytest.raises(TrustConfigError, match="is not a configured issuer"):
        load_trust(_write(tmp_path / "p.toml", _table("x", third)), issuers)
