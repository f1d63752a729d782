"""Claim matching (GitHub, GitLab): never raises, never matches without every required claim.

Claims arrive from a verified token, but their values are whatever the issuer
put there: a publisher must answer `Match` or `Refusal` for any mapping, and a
required claim that is missing, empty or not a string must end in a refusal
naming that claim. Cases start from claims that match and are then mutated, so
the checks behind the required-claims gate are reached as well.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fakeissuer import GITHUB, GITLAB, NOW, github_claims, gitlab_claims
from hypothesis import event, given
from hypothesis import strategies as st
from propkit import FAST, json_values

from service.publishers import github, gitlab
from service.publishers.base import INVALID_PUBLISHER, Match, Publisher, Refusal

GITHUB_PUBLISHERS = [
    github.from_table(
        {
            "repository": "octo-org/sampleproject",
            "repository_owner_id": "1234567",
            "workflow": "release.yml",
            "environment": "pypi",
            "refs": ["refs/tags/v*"],
            "allow_events": ["workflow_run"],
            "reusable_workflows": [
                {"workflow": "octo-org/shared/.github/workflows/publish.yml", "sha": "a" * 40}
            ],
        },
        issuer=GITHUB,
    ),
    github.from_table(
        {"repository": "octo-org/sampleproject", "repository_owner_id": "1", "workflow": "r.yml"},
        issuer=GITHUB,
    ),
]
GITLAB_PUBLISHERS = [
    gitlab.from_table(
        {
            "namespace": "octo-group",
            "project": "sampleproject",
            "ci_config_file": ".gitlab-ci.yml",
            "environment": "release",
            "namespace_id": "42",
            "project_id": 4242,
        },
        issuer=GITLAB,
    ),
    gitlab.from_table(
        {"namespace": "a/b", "project": "c", "ci_config_file": "ci/x.yml"}, issuer=GITLAB
    ),
]


def variants(text: str) -> st.SearchStrategy[str]:
    """Near misses of a real value: case, affixes, slices, separators."""
    return st.sampled_from(
        [text.upper(), text.swapcase(), text + "/", "/" + text, text[:-1], text + "@x", ""]
    ) | st.builds(lambda a, b: a + text + b, st.text(max_size=3), st.text(max_size=3))


@st.composite
def mutated(draw: st.DrawFn, base: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    claims = base()
    names = sorted(claims)
    for name in draw(st.sets(st.sampled_from(names), max_size=3)):
        del claims[name]
    for name in draw(st.sets(st.sampled_from(names), max_size=3)):
        original = base().get(name)
        text = original if isinstance(original, str) else ""
        claims[name] = draw(json_values | variants(text) | st.sampled_from([None, [text], 1]))
    claims.update(draw(st.dictionaries(st.text(max_size=6), json_values, max_size=2)))
    return claims


def check(publisher: Publisher, required: tuple[str, ...], claims: dict[str, Any]) -> None:
    outcome = publisher.verify(claims, now=NOW)
    event(type(outcome).__name__)
    bad = [n for n in required if not (isinstance(claims.get(n), str) and claims[n])]
    if bad:
        assert isinstance(outcome, Refusal), (bad, outcome)
        assert outcome.code == INVALID_PUBLISHER
        assert outcome.description.startswith(f"{bad[0]}: "), outcome.description
    else:
        assert isinstance(outcome, Match | Refusal)
    if isinstance(outcome, Match):
        assert all(isinstance(v, str) for v in outcome.provenance.values())


def test_the_unmutated_claims_match() -> None:
    assert isinstance(GITHUB_PUBLISHERS[0].verify(github_claims(), now=NOW), Match)
    assert isinstance(GITLAB_PUBLISHERS[0].verify(gitlab_claims(), now=NOW), Match)


@FAST
@given(st.sampled_from(GITHUB_PUBLISHERS), mutated(github_claims))
def test_github_publishers_on_mutated_claims(publisher: Publisher, claims: dict[str, Any]) -> None:
    check(publisher, github.REQUIRED_CLAIMS, claims)


@FAST
@given(st.sampled_from(GITLAB_PUBLISHERS), mutated(gitlab_claims))
def test_gitlab_publishers_on_mutated_claims(publisher: Publisher, claims: dict[str, Any]) -> None:
    check(publisher, gitlab.REQUIRED_CLAIMS, claims)


claim_names = st.sampled_from(sorted({*github_claims(), *gitlab_claims()})) | st.text(max_size=8)


@FAST
@given(
    st.sampled_from(GITHUB_PUBLISHERS + GITLAB_PUBLISHERS),
    st.dictionaries(claim_names, json_values, max_size=12),
)
def test_publishers_on_arbitrary_claim_mappings(
    publisher: Publisher, claims: dict[str, Any]
) -> None:
    module = github if publisher.provider == github.PROVIDER else gitlab
    check(publisher, module.REQUIRED_CLAIMS, claims)
