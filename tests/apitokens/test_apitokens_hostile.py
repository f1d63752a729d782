"""Tokens that are not what they claim: every row is refused as invalid-token, before any store."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from apitokenkit import (
    PROJECTS,
    USER_ID,
    USER_NAME,
    Clock,
    State,
    api_verifier,
    issue_token,
    minted_token,
    rewrap,
)
from biscuit_auth import BiscuitBuilder

from service.apitokens import schema
from service.apitokens.format import MAX_LENGTH, PREFIX, serialize
from service.apitokens.keys import RootKey
from service.minting.keys import ephemeral_signing_keys
from service.publishers.base import Refusal

pytestmark = pytest.mark.anyio

Attack = Callable[[RootKey, RootKey], str]


def forged_naming_our_key(root: RootKey, other: RootKey) -> str:
    """Authority facts a forger would want, signed by their key, naming ours as root."""
    source, params = schema.authority(
        token_id="forged",
        user_id=USER_ID,
        user_name=USER_NAME,
        root_key=root.public_text,
        projects=None,
        expires=2_000_000_000,
    )
    return serialize(BiscuitBuilder(source, params).build(other.private).to_base64())


ATTACKS: list[tuple[str, Attack]] = [
    ("issued-by-another-root", lambda root, other: issue_token(other).token),
    ("forged-naming-our-key", forged_naming_our_key),
    (
        "project-renamed-inside",
        lambda root, _: rewrap(issue_token(root).token, b"other", b"evilx"),
    ),
    (
        "user-renamed-inside",
        lambda root, _: rewrap(issue_token(root).token, USER_ID.encode(), b"admin7"),
    ),
    ("bad-checksum", lambda root, _: issue_token(root).token[:-6] + "000000"),
    ("no-checksum", lambda root, _: issue_token(root).token.rpartition("_")[0]),
    ("truncated", lambda root, _: serialize(issue_token(root).token[len(PREFIX) : -60])),
    ("minted-token", lambda root, _: minted_token(ephemeral_signing_keys())),
    ("minted-body-api-prefix", lambda root, _: PREFIX + minted_token(ephemeral_signing_keys())[9:]),
    ("oversized", lambda root, _: serialize("A" * MAX_LENGTH)),
    ("random-text", lambda root, _: "mgapi_hello_world"),
    ("empty", lambda root, _: ""),
]


@pytest.mark.parametrize("attack", [a for _, a in ATTACKS], ids=[name for name, _ in ATTACKS])
async def test_forged_or_damaged_token_is_invalid(
    root: RootKey, other_root: RootKey, attack: Attack
) -> None:
    token = attack(root, other_root)
    state = State()

    refused = await api_verifier(root, state, Clock()).verify(token, PROJECTS[0])

    assert isinstance(refused, Refusal)
    assert refused.code == "invalid-token"
    assert state.calls == []
    if len(token) > 20:
        assert token[10:-10] not in refused.description


async def test_invalid_project_name_is_out_of_scope(root: RootKey) -> None:
    refused = await api_verifier(root, State(), Clock()).verify(issue_token(root).token, "../etc")

    assert getattr(refused, "code", None) == "project-not-in-scope"
