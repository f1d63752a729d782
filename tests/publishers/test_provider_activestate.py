"""ActiveState Platform builds (preset): claims in, Match or Refusal out."""

from __future__ import annotations

from typing import Any

import pytest
from providerclaims import ACTIVESTATE, ACTIVESTATE_TABLE, ACTOR_ID, MISSING, activestate_claims

from service.publishers import PROVIDERS, base
from service.publishers.rules import RulesPublisher

activestate = PROVIDERS["activestate"]


def publisher(**overrides: Any) -> RulesPublisher:
    table = {k: v for k, v in {**ACTIVESTATE_TABLE, **overrides}.items() if v is not MISSING}
    result = activestate.from_table(table, issuer=ACTIVESTATE)
    assert isinstance(result, RulesPublisher)
    return result


def assert_refused(result: base.Match | base.Refusal, claim: str) -> None:
    assert isinstance(result, base.Refusal), result
    assert result.code == base.INVALID_PUBLISHER
    assert result.description.startswith(f"{claim}: expected "), result.description


def test_the_builder_matches_with_provenance() -> None:
    result = publisher().verify(activestate_claims(), now=0)
    assert isinstance(result, base.Match)
    assert result.publisher == "activestate:octo-org/sampleproject"
    assert result.provenance["actor_id"] == ACTOR_ID
    assert result.provenance["project"] == "sampleproject"


@pytest.mark.parametrize(
    "sub",
    ["org:octo-org:project:sampleproject", "org:octo-org:project:sampleproject:build:7"],
)
def test_sub_is_org_and_project_exactly_or_followed_by_a_colon(sub: str) -> None:
    assert isinstance(publisher().verify(activestate_claims(sub=sub), now=0), base.Match)


def test_lookup_is_the_project() -> None:
    p = publisher(project="SampleProject")
    assert (p.lookup_claim, p.lookup_key) == ("project", "sampleproject")


HOSTILE = [
    ("other-org-same-project", {"organization": "evil-org"}, "organization"),
    ("other-project", {"project": "sampleproject-evil"}, "project"),
    ("project-case", {"project": "SampleProject"}, "project"),
    ("other-actor", {"actor_id": "00000000-0000-4000-8000-000000000000"}, "actor_id"),
    ("actor-id-not-a-string", {"actor_id": 7}, "actor_id"),
    ("other-builder", {"builder": "wheel-builder"}, "builder"),
    ("builder-missing", {"builder": MISSING}, "builder"),
    ("sub-other-org", {"sub": "org:evil-org:project:sampleproject"}, "sub"),
    ("sub-longer-project", {"sub": "org:octo-org:project:sampleproject-evil"}, "sub"),
    ("sub-longer-project-more", {"sub": "org:octo-org:project:sampleproject2:x"}, "sub"),
    ("sub-embedded", {"sub": "x:org:octo-org:project:sampleproject"}, "sub"),
    ("sub-too-short", {"sub": "org:octo-org"}, "sub"),
    ("organization-missing", {"organization": MISSING}, "organization"),
]


@pytest.mark.parametrize(
    ("overrides", "claim"), [(o, c) for _, o, c in HOSTILE], ids=[i for i, _, _ in HOSTILE]
)
def test_hostile_claims_are_refused(overrides: dict[str, Any], claim: str) -> None:
    assert_refused(publisher().verify(activestate_claims(**overrides), now=0), claim)


def test_ingredient_pin_is_exact_when_configured() -> None:
    pinned = publisher(ingredient="sampleproject")
    assert isinstance(pinned.verify(activestate_claims(), now=0), base.Match)
    assert_refused(pinned.verify(activestate_claims(ingredient="other"), now=0), "ingredient")
    assert_refused(pinned.verify(activestate_claims(ingredient=MISSING), now=0), "ingredient")


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"organization": MISSING}, "organization"),
        ({"project": MISSING}, "project"),
        ({"actor_id": MISSING}, "actor_id"),
        # A '*' or ':' in a name would widen or shift the sub glob it is put in.
        ({"organization": "octo*"}, "organization"),
        ({"project": "sample:project"}, "project"),
        ({"builder": "x"}, "builder"),
    ],
    ids=["no-org", "no-project", "no-actor-id", "org-star", "project-colon", "builder-is-fixed"],
)
def test_bad_table_names_the_key(overrides: dict[str, Any], key: str) -> None:
    with pytest.raises(base.ConfigError) as caught:
        publisher(**overrides)
    assert caught.value.key == key
