"""Attenuation offline, by any holder: fewer projects, earlier expiry, then verification."""

from __future__ import annotations

import pytest
from apitokenkit import HOUR, NOW, Clock, State, api_verifier, issue_token, rewrap

from service.apitokens.attenuate import AttenuationError, attenuate
from service.apitokens.keys import RootKey
from service.apitokens.verify import VerifiedApiToken

pytestmark = pytest.mark.anyio


async def code(root: RootKey, token: str, project: str, now: float = NOW) -> str:
    result = await api_verifier(root, State(), Clock(now)).verify(token, project)
    return "ok" if isinstance(result, VerifiedApiToken) else result.code


async def test_narrowed_to_one_project_works_there_and_nowhere_else(root: RootKey) -> None:
    # attenuate() takes the token alone: no key, no service, no network.
    narrowed = attenuate(issue_token(root).token, projects=["SampleProject"])

    assert await code(root, narrowed, "sampleproject") == "ok"
    assert await code(root, narrowed, "other") == "project-not-in-scope"


async def test_earlier_expiry_is_enforced_and_the_original_keeps_its_own(root: RootKey) -> None:
    original = issue_token(root, expires=NOW + 24 * HOUR).token
    narrowed = attenuate(original, expires=NOW + HOUR)

    assert await code(root, narrowed, "other", NOW + HOUR - 1) == "ok"
    assert await code(root, narrowed, "other", NOW + HOUR) == "token-expired"
    assert await code(root, original, "other", NOW + HOUR) == "ok"


async def test_later_expiry_does_not_extend_the_token(root: RootKey) -> None:
    narrowed = attenuate(issue_token(root, expires=NOW + HOUR).token, expires=NOW + 48 * HOUR)

    assert await code(root, narrowed, "other", NOW + HOUR) == "token-expired"


async def test_attenuations_compose_each_only_narrowing(root: RootKey) -> None:
    once = attenuate(issue_token(root).token, projects=["sampleproject", "other"])
    twice = attenuate(once, projects=["sampleproject"], expires=NOW + HOUR)

    assert await code(root, twice, "sampleproject") == "ok"
    assert await code(root, twice, "other") == "project-not-in-scope"
    assert await code(root, twice, "sampleproject", NOW + HOUR) == "token-expired"


async def test_all_projects_token_narrows_to_named_projects(root: RootKey) -> None:
    narrowed = attenuate(issue_token(root, None).token, projects=["third"])

    assert await code(root, narrowed, "third") == "ok"
    assert await code(root, narrowed, "sampleproject") == "project-not-in-scope"


async def test_a_narrowed_token_is_revoked_with_its_original(root: RootKey) -> None:
    issued = issue_token(root)
    narrowed = attenuate(issued.token, projects=["other"])
    state = State(revoked={issued.token_id})

    refused = await api_verifier(root, state, Clock()).verify(narrowed, "other")

    assert getattr(refused, "code", None) == "token-revoked"


@pytest.mark.parametrize(
    ("projects", "expires", "message"),
    [
        pytest.param(None, None, "nothing to narrow", id="nothing"),
        pytest.param(["elsewhere"], None, "not valid for elsewhere", id="outside-scope"),
        pytest.param([], None, "at least one", id="empty-list"),
        pytest.param("sampleproject", None, "one string", id="bare-string"),
        pytest.param(["bad name!"], None, "not a valid project name", id="invalid-name"),
    ],
)
def test_attenuate_refuses_requests_that_cannot_narrow(
    root: RootKey, projects: list[str] | None, expires: int | None, message: str
) -> None:
    with pytest.raises(AttenuationError, match=message):
        attenuate(issue_token(root).token, projects=projects, expires=expires)


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        pytest.param(lambda t: "pypi-" + t, "not a mintgate API token", id="wrong-prefix"),
        pytest.param(lambda t: t[:-3] + "000", "checksum", id="bad-checksum"),
        pytest.param(
            lambda t: rewrap(t, b"sampleproject", b"evilxproject"), "altered", id="tampered"
        ),
    ],
)
def test_attenuate_refuses_a_damaged_token_without_echoing_it(
    root: RootKey, mangle: object, message: str
) -> None:
    assert callable(mangle)
    token = mangle(issue_token(root).token)

    with pytest.raises(AttenuationError, match=message) as refused:
        attenuate(token, expires=NOW + HOUR)

    assert token[6:40] not in str(refused.value)
