"""verify_upload_token: one call, either kind of token, one refusal shape."""

from __future__ import annotations

import pytest
from apitokenkit import SERVICE, Clock, MintgateKeys, State, api_verifier, issue_token, minted_token

from service.apitokens.keys import RootKey
from service.apitokens.verify import VerifiedApiToken
from service.minting.keys import SigningKeys, ephemeral_signing_keys
from service.publishers.base import Refusal
from service.upload_auth import verify_upload_token
from service.verifier import VerifiedToken, Verifier

pytestmark = pytest.mark.anyio


@pytest.fixture
def signing() -> SigningKeys:
    return ephemeral_signing_keys()


def minted_verifier(signing: SigningKeys) -> Verifier:
    return Verifier(MintgateKeys(signing), issuer=SERVICE, audience="upload", clock=Clock())


async def test_minted_token_goes_to_the_minted_verifier(
    root: RootKey, signing: SigningKeys
) -> None:
    state = State()

    result = await verify_upload_token(
        minted_token(signing),
        "sampleproject",
        minted=minted_verifier(signing),
        api=api_verifier(root, state, Clock()),
    )

    assert isinstance(result, VerifiedToken)
    assert state.calls == []


async def test_api_token_goes_to_the_api_verifier(root: RootKey, signing: SigningKeys) -> None:
    result = await verify_upload_token(
        issue_token(root).token,
        "sampleproject",
        minted=minted_verifier(signing),
        api=api_verifier(root, State(), Clock()),
    )

    assert isinstance(result, VerifiedApiToken)


@pytest.mark.parametrize(
    ("kind", "project", "code"),
    [
        pytest.param("minted", "elsewhere", "project-not-in-scope", id="minted-out-of-scope"),
        pytest.param("api", "elsewhere", "project-not-in-scope", id="api-out-of-scope"),
        pytest.param("pypi", "sampleproject", "invalid-token", id="foreign-token"),
    ],
)
async def test_both_kinds_refuse_in_the_same_shape(
    root: RootKey, signing: SigningKeys, kind: str, project: str, code: str
) -> None:
    token = {
        "minted": minted_token(signing),
        "api": issue_token(root).token,
        "pypi": "pypi-AgEIcHlwaS5vcmc",
    }[kind]

    result = await verify_upload_token(
        token, project, minted=minted_verifier(signing), api=api_verifier(root, State(), Clock())
    )

    assert isinstance(result, Refusal)
    assert result.code == code


async def test_api_tokens_are_refused_where_none_are_configured(
    root: RootKey, signing: SigningKeys
) -> None:
    result = await verify_upload_token(
        issue_token(root).token, "sampleproject", minted=minted_verifier(signing), api=None
    )

    assert isinstance(result, Refusal)
    assert result.code == "invalid-token"
    assert "API tokens are not accepted here" in result.description


async def test_an_api_token_is_no_minted_token_and_vice_versa(
    root: RootKey, signing: SigningKeys
) -> None:
    # Prefix confusion: each verifier refuses the other kind outright.
    as_minted = await minted_verifier(signing).verify(issue_token(root).token, "sampleproject")
    as_api = await api_verifier(root, State(), Clock()).verify(
        minted_token(signing), "sampleproject"
    )

    assert getattr(as_minted, "code", None) == "invalid-token"
    assert getattr(as_api, "code", None) == "invalid-token"
