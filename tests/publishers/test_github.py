"""GitHub Actions publisher: claims in, Match or Refusal out, plus its TOML table."""

from __future__ import annotations

from typing import Any

import pytest

from service.publishers import base, github

SHA = "a" * 40
SHARED_SHA = "b" * 40
TOP = "octo/pkg/.github/workflows/release.yml@refs/tags/v1.0"
SHARED = "shared/tools/.github/workflows/pypi.yml@refs/tags/v2"
MISSING = object()

TABLE: dict[str, Any] = {
    "repository": "octo/pkg",
    "repository_owner_id": 123,
    "workflow": "release.yml",
    "environment": "pypi",
    "refs": ["refs/tags/v*"],
    "reusable_workflows": [
        {"workflow": "shared/tools/.github/workflows/pypi.yml", "ref": "refs/tags/v*"},
        {"workflow": "octo/pkg/.github/workflows/build.yml", "sha": SHARED_SHA},
    ],
}


def publisher(**overrides: object) -> github.GitHubPublisher:
    table = {**TABLE, **overrides}
    table = {k: v for k, v in table.items() if v is not MISSING}
    return github.from_table(table, issuer=github.DEFAULT_ISSUER)


def claims(**overrides: object) -> dict[str, object]:
    values: dict[str, object] = {
        "iss": github.DEFAULT_ISSUER,
        "sub": "repo:octo/pkg:environment:pypi",
        "repository": "octo/pkg",
        "repository_owner": "octo",
        "repository_owner_id": "123",
        "repository_id": "4242",
        "workflow_ref": TOP,
        "job_workflow_ref": TOP,
        "job_workflow_sha": SHA,
        "event_name": "push",
        "ref": "refs/tags/v1.0",
        "sha": SHA,
        "environment": "pypi",
        "run_id": "4242",
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not MISSING}


def assert_refused(result: base.Match | base.Refusal, claim: str) -> None:
    assert isinstance(result, base.Refusal), result
    assert result.code == base.INVALID_PUBLISHER
    assert result.description.startswith(f"{claim}: expected "), result.description


# --- happy paths -------------------------------------------------------------


def test_top_level_workflow_on_a_tag_matches_with_provenance() -> None:
    result = publisher().verify(claims(), now=0)
    assert result == base.Match(
        "github:octo/pkg:release.yml:env=pypi",
        {
            "repository": "octo/pkg",
            "workflow_ref": TOP,
            "sha": SHA,
            "ref": "refs/tags/v1.0",
            "environment": "pypi",
            "run_id": "4242",
        },
        first_use_repository_id="4242",  # the table names none: pinned at first use
    )


def test_publisher_satisfies_the_protocol() -> None:
    p: base.Publisher = publisher()
    assert (p.provider, p.issuer) == ("github", github.DEFAULT_ISSUER)


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"environment": "PyPI"}, id="environment-case-variant"),
        pytest.param({"environment": "PYPI"}, id="environment-upper"),
        pytest.param({"repository": "Octo/PKG"}, id="repository-case-variant"),
        pytest.param(
            {"workflow_ref": "Octo/Pkg/.github/workflows/release.yml@refs/tags/v1.0"}
            | {"job_workflow_ref": "Octo/Pkg/.github/workflows/release.yml@refs/tags/v1.0"},
            id="workflow-ref-owner-case-variant",
        ),
        pytest.param(
            {"ref": "refs/tags/v10.2.3rc1", "workflow_ref": TOP.replace("v1.0", "v10.2.3rc1")}
            | {"job_workflow_ref": TOP.replace("v1.0", "v10.2.3rc1")},
            id="other-tag-in-pattern",
        ),
    ],
)
def test_accepted_variants(overrides: dict[str, object]) -> None:
    assert isinstance(publisher().verify(claims(**overrides), now=0), base.Match)


def test_named_reusable_workflow_in_another_repository_matches() -> None:
    result = publisher().verify(claims(job_workflow_ref=SHARED), now=0)
    assert isinstance(result, base.Match)
    assert result.provenance["job_workflow_ref"] == SHARED
    assert result.provenance["workflow_ref"] == TOP


def test_reusable_workflow_pinned_by_sha_matches() -> None:
    job = "octo/pkg/.github/workflows/build.yml@refs/heads/main"
    result = publisher().verify(claims(job_workflow_ref=job, job_workflow_sha=SHARED_SHA), now=0)
    assert isinstance(result, base.Match)


def test_reusable_entry_owner_compared_case_insensitively() -> None:
    job = "Shared/Tools/.github/workflows/pypi.yml@refs/tags/v2"
    assert isinstance(publisher().verify(claims(job_workflow_ref=job), now=0), base.Match)


def test_without_environment_any_environment_or_none_is_accepted() -> None:
    p = publisher(environment=MISSING, refs=MISSING)
    assert p.identity == "github:octo/pkg:release.yml"
    assert isinstance(p.verify(claims(environment="staging"), now=0), base.Match)
    result = p.verify(claims(environment=MISSING), now=0)
    assert isinstance(result, base.Match)
    assert "environment" not in result.provenance


def test_without_refs_any_ref_is_accepted() -> None:
    top = "octo/pkg/.github/workflows/release.yml@refs/heads/main"
    c = claims(ref="refs/heads/main", workflow_ref=top, job_workflow_ref=top)
    assert isinstance(publisher(refs=MISSING).verify(c, now=0), base.Match)


@pytest.mark.parametrize("event", ["pull_request_target", "workflow_run"])
def test_risky_event_accepted_when_allowed(event: str) -> None:
    p = publisher(allow_events=[event])
    assert isinstance(p.verify(claims(event_name=event), now=0), base.Match)


# --- hostile claims ----------------------------------------------------------

CALLED = "octo/pkg/.github/workflows/release.yml@refs/tags/v1.0"
HOSTILE = [
    pytest.param({"repository_owner_id": "999"}, "repository_owner_id", id="wrong-owner-id"),
    pytest.param({"repository_owner_id": "0123"}, "repository_owner_id", id="owner-id-zero-pad"),
    pytest.param({"repository_owner_id": "123 "}, "repository_owner_id", id="owner-id-space"),
    pytest.param({"repository": "evil/pkg"}, "repository", id="wrong-repository"),
    pytest.param({"repository": "octo/pkg2"}, "repository", id="repository-as-prefix"),
    pytest.param(
        {"workflow_ref": "evil/pkg/.github/workflows/release.yml@refs/tags/v1.0"}
        | {"job_workflow_ref": "evil/pkg/.github/workflows/release.yml@refs/tags/v1.0"},
        "workflow_ref",
        id="workflow-in-another-repository",
    ),
    pytest.param(
        {"workflow_ref": "octo/pkg/.github/workflows/ci.yml@refs/tags/v1.0"}
        | {"job_workflow_ref": "octo/pkg/.github/workflows/ci.yml@refs/tags/v1.0"},
        "workflow_ref",
        id="wrong-workflow",
    ),
    *(
        pytest.param(
            {
                "workflow_ref": path + "@refs/tags/v1.0",
                "job_workflow_ref": path + "@refs/tags/v1.0",
            },
            "workflow_ref",
            id=f"workflow-{name}",
        )
        for name, path in [
            ("prefix-bak", "octo/pkg/.github/workflows/release.yml.bak"),
            ("yaml-suffix", "octo/pkg/.github/workflows/release.yaml"),
            ("file-case", "octo/pkg/.github/workflows/Release.yml"),
            ("subdirectory", "octo/pkg/.github/workflows/sub/release.yml"),
            ("name-suffix", "octo/pkg/.github/workflows/prerelease.yml"),
            ("other-dir", "octo/pkg/workflows/release.yml"),
            ("no-repo", ".github/workflows/release.yml"),
        ]
    ),
    pytest.param(
        {"workflow_ref": "octo/pkg/.github/workflows/release.yml@refs/heads/main"},
        "workflow_ref",
        id="workflow-ref-disagrees-with-ref-claim",
    ),
    pytest.param(
        {"workflow_ref": "octo/pkg/.github/workflows/release.yml"},
        "workflow_ref",
        id="workflow-ref-without-ref",
    ),
    pytest.param(
        {"workflow_ref": "octo/pkg/.github/workflows/ci.yml@refs/tags/v1.0"},
        "workflow_ref",
        id="trusted-workflow-called-from-another-top-level",
    ),
    pytest.param(
        {"job_workflow_ref": "evil/tools/.github/workflows/pypi.yml@refs/tags/v2"},
        "job_workflow_ref",
        id="reusable-workflow-not-listed",
    ),
    pytest.param(
        {"job_workflow_ref": "octo/pkg/.github/workflows/release.yml@refs/heads/main"},
        "job_workflow_ref",
        id="top-level-file-called-at-another-ref",
    ),
    pytest.param(
        {"job_workflow_ref": "shared/tools/.github/workflows/pypi.yml.bak@refs/tags/v2"},
        "job_workflow_ref",
        id="reusable-workflow-name-as-prefix",
    ),
    pytest.param(
        {"job_workflow_ref": "shared/tools/.github/workflows/pypi.yml@refs/heads/main"},
        "job_workflow_ref",
        id="reusable-workflow-wrong-ref",
    ),
    pytest.param(
        {"job_workflow_ref": "shared/tools/.github/workflows/pypi.yml@refs/heads/x-refs/tags/v2"},
        "job_workflow_ref",
        id="reusable-workflow-unanchored-ref",
    ),
    pytest.param(
        {"job_workflow_ref": "octo/pkg/.github/workflows/build.yml@refs/heads/main"}
        | {"job_workflow_sha": "c" * 40},
        "job_workflow_sha",
        id="reusable-workflow-wrong-sha",
    ),
    pytest.param(
        {"job_workflow_ref": "octo/pkg/.github/workflows/build.yml@refs/heads/main"}
        | {"job_workflow_sha": MISSING},
        "job_workflow_sha",
        id="reusable-workflow-sha-missing",
    ),
    pytest.param(
        {"job_workflow_ref": "octo/pkg/.github/workflows/build.yml"}
        | {"job_workflow_sha": SHARED_SHA},
        "job_workflow_ref",
        id="reusable-workflow-without-ref",
    ),
    pytest.param({"environment": "staging"}, "environment", id="wrong-environment"),
    pytest.param({"environment": "pypi-test"}, "environment", id="environment-as-prefix"),
    pytest.param({"environment": MISSING}, "environment", id="environment-missing"),
    pytest.param({"environment": ""}, "environment", id="environment-empty"),
    pytest.param(
        {"ref": "refs/heads/main"}
        | {"workflow_ref": CALLED.replace("refs/tags/v1.0", "refs/heads/main")}
        | {"job_workflow_ref": CALLED.replace("refs/tags/v1.0", "refs/heads/main")},
        "ref",
        id="ref-outside-pattern",
    ),
    pytest.param(
        {"ref": "refs/heads/x-refs/tags/v1"}
        | {"workflow_ref": CALLED.replace("refs/tags/v1.0", "refs/heads/x-refs/tags/v1")}
        | {"job_workflow_ref": CALLED.replace("refs/tags/v1.0", "refs/heads/x-refs/tags/v1")},
        "ref",
        id="unanchored-pattern-attempt",
    ),
    pytest.param({"event_name": "pull_request_target"}, "event_name", id="pull-request-target"),
    pytest.param({"event_name": "workflow_run"}, "event_name", id="workflow-run"),
]


@pytest.mark.parametrize(("overrides", "claim"), HOSTILE)
def test_hostile_claims_are_refused(overrides: dict[str, object], claim: str) -> None:
    assert_refused(publisher().verify(claims(**overrides), now=0), claim)


def test_refusal_names_expected_and_received_workflow() -> None:
    ci = "octo/pkg/.github/workflows/ci.yml@refs/tags/v1.0"
    result = publisher().verify(claims(workflow_ref=ci, job_workflow_ref=ci), now=0)
    assert isinstance(result, base.Refusal)
    assert result.description == (
        "workflow_ref: expected 'octo/pkg/.github/workflows/release.yml@...'"
        f" (... = the ref claim), got '{ci}'"
    )


def test_other_risky_event_stays_refused_when_one_is_allowed() -> None:
    p = publisher(allow_events=["workflow_run"])
    assert_refused(p.verify(claims(event_name="pull_request_target"), now=0), "event_name")


@pytest.mark.parametrize("claim", github.REQUIRED_CLAIMS)
@pytest.mark.parametrize(
    "value",
    [
        pytest.param(MISSING, id="missing"),
        pytest.param(None, id="none"),
        pytest.param("", id="empty"),
        pytest.param(["octo/pkg"], id="list"),
        pytest.param(123, id="int"),
        pytest.param(True, id="bool"),
        pytest.param({"a": "b"}, id="dict"),
    ],
)
def test_required_claim_of_wrong_type_is_refused(claim: str, value: object) -> None:
    assert_refused(publisher().verify(claims(**{claim: value}), now=0), claim)


@pytest.mark.parametrize("value", [["pypi"], 1, True], ids=["list", "int", "bool"])
def test_environment_of_wrong_type_is_refused(value: object) -> None:
    assert_refused(publisher().verify(claims(environment=value), now=0), "environment")


# --- configuration -----------------------------------------------------------


def test_from_table_reads_every_key() -> None:
    p = publisher(repository_owner_id="123", allow_events=["workflow_run"])
    assert p.repository_owner_id == "123"
    assert p.allow_events == frozenset({"workflow_run"})
    assert [g.text for g in p.refs] == ["refs/tags/v*"]
    assert [r.workflow for r in p.reusable_workflows] == [
        "shared/tools/.github/workflows/pypi.yml",
        "octo/pkg/.github/workflows/build.yml",
    ]
    assert p.reusable_workflows[1].sha == SHARED_SHA


BAD_TABLES = [
    pytest.param({"enviroment": "pypi"}, "enviroment", id="unknown-key-typo"),
    pytest.param({"repository": MISSING}, "repository", id="missing-repository"),
    pytest.param({"repository_owner_id": MISSING}, "repository_owner_id", id="missing-owner-id"),
    pytest.param({"workflow": MISSING}, "workflow", id="missing-workflow"),
    pytest.param({"repository": 5}, "repository", id="repository-int"),
    pytest.param({"repository": "octo"}, "repository", id="repository-no-owner"),
    pytest.param({"repository": "octo/pkg/x"}, "repository", id="repository-extra-part"),
    pytest.param({"repository_owner_id": True}, "repository_owner_id", id="owner-id-bool"),
    pytest.param({"repository_owner_id": "12a"}, "repository_owner_id", id="owner-id-not-digits"),
    pytest.param({"repository_owner_id": "0123"}, "repository_owner_id", id="owner-id-zero-pad"),
    pytest.param({"repository_owner_id": -1}, "repository_owner_id", id="owner-id-negative"),
    pytest.param({"workflow": "sub/release.yml"}, "workflow", id="workflow-with-slash"),
    pytest.param(
        {"workflow": ".github/workflows/release.yml"}, "workflow", id="workflow-full-path"
    ),
    pytest.param({"workflow": "release.yml@v1"}, "workflow", id="workflow-with-at"),
    pytest.param({"workflow": "release"}, "workflow", id="workflow-not-yaml"),
    pytest.param({"workflow": ["release.yml"]}, "workflow", id="workflow-list"),
    pytest.param({"environment": ""}, "environment", id="environment-empty"),
    pytest.param({"environment": 1}, "environment", id="environment-int"),
    pytest.param({"refs": "refs/tags/v*"}, "refs", id="refs-string"),
    pytest.param({"refs": []}, "refs", id="refs-empty"),
    pytest.param({"refs": ["v*"]}, "refs", id="refs-not-full-ref"),
    pytest.param({"refs": [1]}, "refs", id="refs-int-item"),
    pytest.param({"allow_events": ["push"]}, "allow_events", id="allow-events-meaningless"),
    pytest.param({"allow_events": "workflow_run"}, "allow_events", id="allow-events-string"),
    pytest.param({"reusable_workflows": {}}, "reusable_workflows", id="reusable-table"),
    pytest.param({"reusable_workflows": ["x"]}, "reusable_workflows", id="reusable-string-item"),
    pytest.param(
        {"reusable_workflows": [{"ref": "refs/tags/v*"}]},
        "reusable_workflows[0].workflow",
        id="reusable-missing-workflow",
    ),
    pytest.param(
        {"reusable_workflows": [{"workflow": "shared/tools/pypi.yml"}]},
        "reusable_workflows[0].workflow",
        id="reusable-not-a-workflow-path",
    ),
    pytest.param(
        {"reusable_workflows": [{"workflow": "shared/tools/.github/workflows/x.yml@v1"}]},
        "reusable_workflows[0].workflow",
        id="reusable-with-ref-inline",
    ),
    pytest.param(
        {"reusable_workflows": [{"workflow": "s/t/.github/workflows/x.yml", "sha": "abc"}]},
        "reusable_workflows[0].sha",
        id="reusable-short-sha",
    ),
    pytest.param(
        {"reusable_workflows": [{"workflow": "s/t/.github/workflows/x.yml", "ref": 2}]},
        "reusable_workflows[0].ref",
        id="reusable-ref-int",
    ),
    pytest.param(
        {"reusable_workflows": [{"workflow": "s/t/.github/workflows/x.yml", "shaa": SHA}]},
        "reusable_workflows[0].shaa",
        id="reusable-unknown-key",
    ),
]


@pytest.mark.parametrize(("overrides", "key"), BAD_TABLES)
def test_bad_table_raises_config_error_naming_the_key(
    overrides: dict[str, object], key: str
) -> None:
    with pytest.raises(base.ConfigError) as caught:
        publisher(**overrides)
    assert caught.value.key == key
    assert str(caught.value).startswith(f"{key}: ")
