"""What needs state, asked through protocols: each refusal, its order, and failing closed."""

from __future__ import annotations

import pytest
from apitokenkit import USER_ID, Clock, State, api_verifier, issue_token

from service.apitokens.keys import RootKey
from service.apitokens.verify import VerifiedApiToken
from service.publishers.base import Refusal

pytestmark = pytest.mark.anyio

ALL_ASKED = ["is_revoked", "has_two_factor", "maintains", "trusted_publishing_only"]


def revoked(state: State, token_id: str) -> None:
    state.revoked.add(token_id)


def no_two_factor(state: State, token_id: str) -> None:
    state.without_two_factor.add(USER_ID)


def not_a_maintainer(state: State, token_id: str) -> None:
    state.maintainers.discard((USER_ID, "sampleproject"))


def trusted_publishing_only(state: State, token_id: str) -> None:
    state.publishing_only.add("sampleproject")


def store_down(state: State, token_id: str) -> None:
    state.down = True


@pytest.mark.parametrize(
    ("change", "code", "asked"),
    [
        pytest.param(revoked, "token-revoked", ALL_ASKED[:1], id="revoked"),
        pytest.param(no_two_factor, "two-factor-required", ALL_ASKED[:2], id="no-2fa"),
        pytest.param(not_a_maintainer, "not-a-maintainer", ALL_ASKED[:3], id="not-maintainer"),
        pytest.param(trusted_publishing_only, "trusted-publishing-only", ALL_ASKED, id="tp-only"),
        pytest.param(store_down, "service-unavailable", ALL_ASKED[:1], id="store-down"),
    ],
)
async def test_each_state_refusal_stops_the_upload(
    root: RootKey, change: object, code: str, asked: list[str]
) -> None:
    issued = issue_token(root)
    state = State()
    assert callable(change)
    change(state, issued.token_id)

    refused = await api_verifier(root, state, Clock()).verify(issued.token, "SampleProject")

    assert isinstance(refused, Refusal)
    assert refused.code == code
    assert state.calls == asked


async def test_good_token_asks_every_question_once(root: RootKey) -> None:
    state = State()

    verified = await api_verifier(root, state, Clock()).verify(
        issue_token(root).token, "sampleproject"
    )

    assert isinstance(verified, VerifiedApiToken)
    assert state.calls == ALL_ASKED


async def test_revocation_takes_effect_at_once(root: RootKey) -> None:
    issued = issue_token(root)
    state = State()
    check = api_verifier(root, state, Clock())
    assert isinstance(await check.verify(issued.token, "other"), VerifiedApiToken)

    state.revoked.add(issued.token_id)

    assert getattr(await check.verify(issued.token, "other"), "code", None) == "token-revoked"


async def test_refusals_name_the_user_and_project_never_the_token(root: RootKey) -> None:
    issued = issue_token(root)
    state = State(publishing_only={"other"})

    refused = await api_verifier(root, state, Clock()).verify(issued.token, "other")

    assert isinstance(refused, Refusal)
    assert "'other'" in refused.description
    assert issued.token[10:50] not in refused.description
