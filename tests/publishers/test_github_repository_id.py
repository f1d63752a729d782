"""GitHub `repository_id`: named in the table or pinned at first use; `sub` never matters.

A repository deleted and re-created under the same owner and name keeps
`repository` and `repository_owner_id` but gets a new `repository_id`. The
publisher either names the id (checked like the owner id) or, when it names
none, asks the trust store to record the token's id at first use (the store
tests are in test_github_pinning.py). GitHub lets a repository's owner choose
the claims in `sub`, so no GitHub check may read it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from service.issuers import load_issuers
from service.publishers import base, github
from service.trust.toml import TrustConfigError, load_trust, publisher_from_table

DATA = Path(__file__).resolve().parent.parent / "data"
SHA = "a" * 40
TOP = "octo/pkg/.github/workflows/release.yml@refs/tags/v1.0"
TABLE: dict[str, Any] = {
    "repository": "octo/pkg",
    "repository_owner_id": "123",
    "workflow": "release.yml",
}


def publisher(**overrides: object) -> github.GitHubPublisher:
    return github.from_table({**TABLE, **overrides}, issuer=github.DEFAULT_ISSUER)


def claims(**overrides: object) -> dict[str, object]:
    values: dict[str, object] = {
        "iss": github.DEFAULT_ISSUER,
        "sub": "repo:octo/pkg:ref:refs/tags/v1.0",
        "repository": "octo/pkg",
        "repository_owner_id": "123",
        "repository_id": "4242",
        "workflow_ref": TOP,
        "job_workflow_ref": TOP,
        "event_name": "push",
        "ref": "refs/tags/v1.0",
        "sha": SHA,
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


def refused_on(result: base.Match | base.Refusal, claim: str) -> str:
    assert isinstance(result, base.Refusal), result
    assert result.code == base.INVALID_PUBLISHER
    assert result.description.startswith(f"{claim}: expected "), result.description
    return result.description


# --- a named repository_id ----------------------------------------------------


def test_a_named_repository_id_matches_and_asks_for_no_pin() -> None:
    result = publisher(repository_id="4242").verify(claims(), now=0)
    assert isinstance(result, base.Match), result
    assert result.first_use_repository_id is None


def test_a_named_repository_id_refuses_a_recreated_repository_at_first_use() -> None:
    result = publisher(repository_id="4242").verify(claims(repository_id="5555"), now=0)
    description = refused_on(result, "repository_id")
    assert "'4242'" in description
    assert "'5555'" in description


def test_the_owner_id_is_still_checked_beside_the_repository_id() -> None:
    named = publisher(repository_id="4242").verify(claims(repository_owner_id="999"), now=0)
    unnamed = publisher().verify(claims(repository_owner_id="999"), now=0)
    refused_on(named, "repository_owner_id")
    refused_on(unnamed, "repository_owner_id")


# --- no repository_id named: pinned at first use ------------------------------


def test_an_unpinned_publisher_asks_for_the_tokens_repository_id_to_be_pinned() -> None:
    result = publisher().verify(claims(), now=0)
    assert isinstance(result, base.Match), result
    assert result.first_use_repository_id == "4242"


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(None, id="missing"),
        pytest.param("", id="empty"),
        pytest.param("42a", id="not-digits"),
        pytest.param("0", id="zero"),
        pytest.param("-42", id="negative"),
        pytest.param(" 42", id="padded"),
        pytest.param("1" * 21, id="too-long"),
        pytest.param(["4242"], id="list"),
        pytest.param(True, id="boolean"),
        pytest.param(42.0, id="float"),
    ],
)
def test_an_unusable_repository_id_claim_is_refused_never_pinned(value: object) -> None:
    # Nothing to pin means nothing to mint: an unpinned publisher must never match.
    for candidate in (publisher(), publisher(repository_id="4242")):
        refused_on(candidate.verify(claims(repository_id=value), now=0), "repository_id")


# --- `sub` is the repository owner's to customise -----------------------------


@pytest.mark.parametrize(
    "sub",
    [
        pytest.param("repo:octo/pkg:ref:refs/tags/v1.0", id="default-template"),
        pytest.param("repository_owner_id:123:repository_id:4242:ref:x", id="customised-ids"),
        pytest.param("repo:octo/pkg:environment:pypi", id="customised-environment"),
        pytest.param("repo:someone/else:ref:refs/heads/main", id="names-another-repository"),
        pytest.param("job_workflow_ref:evil/x/.github/workflows/a.yml@main", id="other-claims"),
        pytest.param("x", id="anything"),
    ],
)
def test_a_customised_sub_changes_nothing(sub: str) -> None:
    for candidate in (publisher(), publisher(repository_id="4242")):
        assert candidate.verify(claims(sub=sub), now=0) == candidate.verify(claims(), now=0)
    # And it cannot stand in for what it names: the real claims still decide.
    impostor = claims(sub="repo:octo/pkg:ref:refs/tags/v1.0", repository_id="5555")
    refused_on(publisher(repository_id="4242").verify(impostor, now=0), "repository_id")


def test_no_github_check_reads_sub() -> None:
    assert "sub" not in github.CHECKED_CLAIMS
    assert "repository_id" in github.CHECKED_CLAIMS


def test_claim_rules_cannot_be_written_for_a_github_issuer() -> None:
    # The rules engine can compare `sub`; it only ever runs for custom and preset issuers.
    issuers = load_issuers(DATA / "issuers.toml", audience="a", leeway=0)
    table = {
        "provider": "custom",
        "issuer": github.DEFAULT_ISSUER,
        "lookup": "repository",
        "claims": [
            {"claim": "repository", "exact": "octo/pkg"},
            {"claim": "sub", "exact": "repo:octo/pkg:ref:refs/tags/v1.0"},
        ],
    }
    with pytest.raises(base.ConfigError) as raised:
        publisher_from_table(table, issuers)
    assert raised.value.key == "issuer"


# --- the table ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        pytest.param("4242", "4242", id="string"),
        pytest.param(4242, "4242", id="toml-integer"),
        pytest.param("9" * 20, "9" * 20, id="twenty-digits"),
    ],
)
def test_the_table_accepts_a_numeric_repository_id(value: object, stored: str) -> None:
    assert publisher(repository_id=value).repository_id == stored


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("", id="empty"),
        pytest.param("abc", id="letters"),
        pytest.param("12ab", id="mixed"),
        pytest.param("0", id="zero"),
        pytest.param("0042", id="leading-zero"),
        pytest.param("-1", id="negative"),
        pytest.param("4 2", id="space"),
        pytest.param("٤٢", id="non-ascii-digits"),
        pytest.param("1" * 21, id="too-long"),
        pytest.param(True, id="boolean"),
        pytest.param(4.2, id="float"),
        pytest.param(["4242"], id="list"),
        pytest.param({"id": 1}, id="table"),
    ],
)
def test_the_table_refuses_a_repository_id_that_is_not_a_bounded_number(value: object) -> None:
    with pytest.raises(base.ConfigError) as raised:
        publisher(repository_id=value)
    assert raised.value.key == "repository_id"
    assert raised.value.message.startswith("expected a numeric id"), raised.value.message


@pytest.mark.anyio
async def test_a_trust_file_must_name_the_repository_id(tmp_path: Path) -> None:
    # A file is not a database: nothing could record a pin, so the file carries it.
    issuers = load_issuers(DATA / "issuers.toml", audience="a", leeway=0)
    entry = (
        '[[project.pkg.publisher]]\nprovider = "github"\nrepository = "octo/pkg"\n'
        'repository_owner_id = "123"\nworkflow = "release.yml"\n'
    )
    path = tmp_path / "publishers.toml"
    path.write_text(entry, encoding="utf-8")
    with pytest.raises(TrustConfigError, match=r"publisher #1: repository_id: "):
        load_trust(path, issuers)
    path.write_text(entry + 'repository_id = "4242"\n', encoding="utf-8")
    (trusted,) = await load_trust(path, issuers).publishers_for(github.DEFAULT_ISSUER, "octo/pkg")
    assert isinstance(trusted.publisher, github.GitHubPublisher)
    assert trusted.publisher.repository_id == "4242"
