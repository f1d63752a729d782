"""GitLab CI/CD publisher: claims in, Match or Refusal out, plus its TOML table."""

from __future__ import annotations

from typing import Any

import pytest

from service.publishers import base, gitlab

SHA = "a" * 40
URI = "gitlab.com/octo/tools/pkg//ci/release.yml@refs/tags/v1.0"
MISSING = object()

TABLE: dict[str, Any] = {
    "namespace": "octo/tools",
    "project": "pkg",
    "ci_config_file": "ci/release.yml",
    "environment": "pypi",
    "namespace_id": 22,
    "project_id": "77",
}


def publisher(issuer: str = gitlab.DEFAULT_ISSUER, **overrides: Any) -> gitlab.GitLabPublisher:
    table = {**TABLE, **overrides}
    table = {k: v for k, v in table.items() if v is not MISSING}
    return gitlab.from_table(table, issuer=issuer)


def claims(**overrides: object) -> dict[str, object]:
    # Shape of a real GitLab ID token (docs.gitlab.com/ci/secrets/id_token_authentication).
    values: dict[str, object] = {
        "iss": gitlab.DEFAULT_ISSUER,
        "sub": "project_path:octo/tools/pkg:ref_type:tag:ref:v1.0",
        "namespace_id": "22",
        "namespace_path": "octo/tools",
        "project_id": "77",
        "project_path": "octo/tools/pkg",
        "pipeline_id": "1001",
        "pipeline_source": "push",
        "job_id": "2002",
        "ref": "v1.0",
        "ref_type": "tag",
        "ref_path": "refs/tags/v1.0",
        "ref_protected": "true",
        "environment": "pypi",
        "sha": SHA,
        "ci_config_ref_uri": URI,
        "ci_config_sha": SHA,
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not MISSING}


def assert_refused(result: base.Match | base.Refusal, claim: str) -> None:
    assert isinstance(result, base.Refusal), result
    assert result.code == base.INVALID_PUBLISHER
    assert result.description.startswith(f"{claim}: expected "), result.description


# --- happy paths -------------------------------------------------------------


def test_matching_job_matches_with_provenance() -> None:
    result = publisher().verify(claims(), now=0)
    assert result == base.Match(
        "gitlab:octo/tools/pkg:ci/release.yml:env=pypi",
        {
            "project_path": "octo/tools/pkg",
            "ci_config_ref_uri": URI,
            "sha": SHA,
            "ref_path": "refs/tags/v1.0",
            "environment": "pypi",
            "pipeline_id": "1001",
            "job_id": "2002",
        },
    )


def test_publisher_satisfies_the_protocol() -> None:
    p: base.Publisher = publisher()
    assert (p.provider, p.issuer) == ("gitlab", "https://gitlab.com")


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"project_path": "Octo/Tools/PKG"}, id="project-path-case-variant"),
        pytest.param(
            {"ci_config_ref_uri": "GitLab.com/Octo/Tools/Pkg//ci/release.yml@refs/tags/v1.0"},
            id="uri-host-and-project-case-variant",
        ),
        pytest.param({"namespace_id": 22, "project_id": 77}, id="ids-as-ints"),
    ],
)
def test_accepted_variants(overrides: dict[str, object]) -> None:
    assert isinstance(publisher().verify(claims(**overrides), now=0), base.Match)


def test_default_config_file_at_repository_root() -> None:
    p = publisher(ci_config_file=".gitlab-ci.yml")
    uri = "gitlab.com/octo/tools/pkg//.gitlab-ci.yml@refs/tags/v1.0"
    assert isinstance(p.verify(claims(ci_config_ref_uri=uri), now=0), base.Match)


def test_self_managed_issuer_host_and_port() -> None:
    p = publisher(issuer="https://gitlab.example.com:8443")
    uri = "gitlab.example.com:8443/octo/tools/pkg//ci/release.yml@refs/tags/v1.0"
    assert isinstance(p.verify(claims(ci_config_ref_uri=uri), now=0), base.Match)
    assert_refused(p.verify(claims(), now=0), "ci_config_ref_uri")


def test_without_environment_or_pins_any_environment_and_ids_are_accepted() -> None:
    p = publisher(environment=MISSING, namespace_id=MISSING, project_id=MISSING)
    assert p.identity == "gitlab:octo/tools/pkg:ci/release.yml"
    c = claims(environment=MISSING, namespace_id=MISSING, project_id=MISSING)
    assert isinstance(p.verify(c, now=0), base.Match)
    assert isinstance(p.verify(claims(environment="staging"), now=0), base.Match)


# --- hostile claims ----------------------------------------------------------


def uri(text: str) -> dict[str, object]:
    return {"ci_config_ref_uri": text}


HOSTILE = [
    pytest.param({"environment": "PyPI"}, "environment", id="environment-case"),
    pytest.param({"environment": "PYPI"}, "environment", id="environment-upper"),
    pytest.param({"environment": "staging"}, "environment", id="wrong-environment"),
    pytest.param({"environment": MISSING}, "environment", id="environment-missing"),
    pytest.param({"environment": ["pypi"]}, "environment", id="environment-list"),
    pytest.param(
        {"project_path": "evil/tools/pkg"} | uri("gitlab.com/evil/tools/pkg//ci/release.yml@x"),
        "project_path",
        id="project-of-another-namespace",
    ),
    pytest.param({"project_path": "octo/tools/pkg2"}, "project_path", id="project-as-prefix"),
    pytest.param({"project_path": "octo/pkg"}, "project_path", id="project-without-subgroup"),
    pytest.param(
        uri("evil.example/octo/tools/pkg//ci/release.yml@refs/tags/v1.0"),
        "ci_config_ref_uri",
        id="uri-on-another-host",
    ),
    pytest.param(
        uri("gitlab.com.evil.example/octo/tools/pkg//ci/release.yml@refs/tags/v1.0"),
        "ci_config_ref_uri",
        id="uri-host-as-prefix",
    ),
    pytest.param(
        uri("gitlab.com/evil/tools/pkg//ci/release.yml@refs/tags/v1.0"),
        "ci_config_ref_uri",
        id="uri-of-another-project",
    ),
    pytest.param(
        uri("gitlab.com/octo/tools/pkg//.gitlab-ci.yml@refs/tags/v1.0"),
        "ci_config_ref_uri",
        id="uri-with-another-file",
    ),
    pytest.param(
        uri("gitlab.com/octo/tools/pkg//ci/release.yml.bak@refs/tags/v1.0"),
        "ci_config_ref_uri",
        id="uri-file-as-prefix",
    ),
    pytest.param(
        uri("gitlab.com/octo/tools/pkg//ci/Release.yml@refs/tags/v1.0"),
        "ci_config_ref_uri",
        id="uri-file-case",
    ),
    pytest.param(
        uri("gitlab.com/octo/tools/pkg//x/ci/release.yml@refs/tags/v1.0"),
        "ci_config_ref_uri",
        id="uri-file-in-another-directory",
    ),
    pytest.param(
        uri("gitlab.com/octo/tools/pkg/ci/release.yml@refs/tags/v1.0"),
        "ci_config_ref_uri",
        id="uri-without-double-slash",
    ),
    pytest.param(
        uri("gitlab.com/octo/tools/pkg//ci/release.yml@refs/heads/main"),
        "ci_config_ref_uri",
        id="uri-ref-disagrees-with-ref-path",
    ),
    pytest.param(
        uri("gitlab.com/octo/tools/pkg//ci/release.yml"), "ci_config_ref_uri", id="uri-without-ref"
    ),
    pytest.param({"namespace_id": "23"}, "namespace_id", id="wrong-namespace-id"),
    pytest.param({"project_id": "077"}, "project_id", id="project-id-zero-pad"),
    pytest.param({"project_id": "78"}, "project_id", id="wrong-project-id"),
    pytest.param({"project_id": MISSING}, "project_id", id="pinned-project-id-missing"),
    pytest.param({"namespace_id": True}, "namespace_id", id="namespace-id-bool"),
]


@pytest.mark.parametrize(("overrides", "claim"), HOSTILE)
def test_hostile_claims_are_refused(overrides: dict[str, object], claim: str) -> None:
    assert_refused(publisher().verify(claims(**overrides), now=0), claim)


def test_refusal_names_expected_and_received_config() -> None:
    other = "gitlab.com/octo/tools/pkg//.gitlab-ci.yml@refs/tags/v1.0"
    result = publisher().verify(claims(ci_config_ref_uri=other), now=0)
    assert isinstance(result, base.Refusal)
    assert result.description == (
        "ci_config_ref_uri: expected 'gitlab.com/octo/tools/pkg//ci/release.yml@...'"
        f" (... = the ref_path claim), got '{other}'"
    )


@pytest.mark.parametrize("claim", gitlab.REQUIRED_CLAIMS)
@pytest.mark.parametrize(
    "value",
    [
        pytest.param(MISSING, id="missing"),
        pytest.param(None, id="none"),
        pytest.param("", id="empty"),
        pytest.param(["x"], id="list"),
        pytest.param(7, id="int"),
        pytest.param(False, id="bool"),
    ],
)
def test_required_claim_of_wrong_type_is_refused(claim: str, value: object) -> None:
    assert_refused(publisher().verify(claims(**{claim: value}), now=0), claim)


# --- configuration -----------------------------------------------------------


def test_from_table_reads_every_key() -> None:
    p = publisher()
    assert (p.namespace, p.project, p.ci_config_file) == ("octo/tools", "pkg", "ci/release.yml")
    assert (p.environment, p.namespace_id, p.project_id) == ("pypi", "22", "77")


BAD_TABLES = [
    pytest.param({"enviroment": "pypi"}, "enviroment", id="unknown-key-typo"),
    pytest.param({"namespace": MISSING}, "namespace", id="missing-namespace"),
    pytest.param({"project": MISSING}, "project", id="missing-project"),
    pytest.param({"ci_config_file": MISSING}, "ci_config_file", id="missing-config-file"),
    pytest.param({"namespace": ["octo"]}, "namespace", id="namespace-list"),
    pytest.param({"namespace": "octo//tools"}, "namespace", id="namespace-empty-segment"),
    pytest.param({"project": "tools/pkg"}, "project", id="project-with-slash"),
    pytest.param({"project": 1}, "project", id="project-int"),
    pytest.param({"ci_config_file": "/ci/release.yml"}, "ci_config_file", id="config-absolute"),
    pytest.param({"ci_config_file": "ci//release.yml"}, "ci_config_file", id="config-double-slash"),
    pytest.param({"ci_config_file": "../release.yml"}, "ci_config_file", id="config-dotdot"),
    pytest.param({"ci_config_file": "release.yml@main"}, "ci_config_file", id="config-with-at"),
    pytest.param({"ci_config_file": ""}, "ci_config_file", id="config-empty"),
    pytest.param({"environment": 3}, "environment", id="environment-int"),
    pytest.param({"namespace_id": "abc"}, "namespace_id", id="namespace-id-not-digits"),
    pytest.param({"namespace_id": False}, "namespace_id", id="namespace-id-bool"),
    pytest.param({"project_id": "077"}, "project_id", id="project-id-zero-pad"),
    pytest.param({"project_id": 7.0}, "project_id", id="project-id-float"),
]


@pytest.mark.parametrize(("overrides", "key"), BAD_TABLES)
def test_bad_table_raises_config_error_naming_the_key(overrides: dict[str, Any], key: str) -> None:
    with pytest.raises(base.ConfigError) as caught:
        publisher(**overrides)
    assert caught.value.key == key
    assert str(caught.value).startswith(f"{key}: ")


def test_issuer_without_host_is_a_config_error() -> None:
    with pytest.raises(base.ConfigError) as caught:
        publisher(issuer="gitlab.com")
    assert caught.value.key == "issuer"
