"""Issue, then verify: the authority block, the serialised form, the root key file."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from apitokenkit import (
    HOUR,
    NOW,
    PROJECTS,
    USER_ID,
    USER_NAME,
    Clock,
    State,
    api_verifier,
    issue_token,
)
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from service.apitokens.format import MAX_LENGTH, PATTERN, PREFIX, unwrap
from service.apitokens.issue import MAX_LIFETIME, ApiTokenGrant, issue
from service.apitokens.keys import (
    KeyConfigError,
    RootKey,
    configured_root_key,
    load_root_key,
    public_key,
)
from service.apitokens.verify import VerifiedApiToken
from service.minting.tokens import checksum
from service.settings import Settings

pytestmark = pytest.mark.anyio


async def test_issued_token_verifies_for_each_of_its_projects(
    root: RootKey, state: State, clock: Clock
) -> None:
    issued = issue_token(root)
    check = api_verifier(root, state, clock)

    for project in PROJECTS:
        verified = await check.verify(issued.token, project)
        assert verified == VerifiedApiToken(
            token_id=issued.token_id,
            user_id=USER_ID,
            user_name=USER_NAME,
            project=project,
            projects=("other", "sampleproject"),
        )


async def test_project_names_are_compared_pep_503_normalised(
    root: RootKey, state: State, clock: Clock
) -> None:
    issued = issue_token(root, ["Sample_Project"])
    assert issued.projects == ("sample-project",)
    state.maintainers.add((USER_ID, "sample-project"))

    verified = await api_verifier(root, state, clock).verify(issued.token, "sample.PROJECT")

    assert isinstance(verified, VerifiedApiToken)
    assert verified.project == "sample-project"


async def test_all_projects_token_covers_what_the_user_maintains(
    root: RootKey, state: State, clock: Clock
) -> None:
    issued = issue_token(root, None)
    check = api_verifier(root, state, clock)

    verified = await check.verify(issued.token, "third")
    assert isinstance(verified, VerifiedApiToken)
    assert verified.projects is None
    refused = await check.verify(issued.token, "someone-elses")
    assert getattr(refused, "code", None) == "not-a-maintainer"


async def test_token_expires_at_its_expiry(root: RootKey, state: State) -> None:
    issued = issue_token(root, expires=NOW + HOUR)
    clock = Clock(NOW + HOUR - 1)
    check = api_verifier(root, state, clock)
    assert isinstance(await check.verify(issued.token, "sampleproject"), VerifiedApiToken)

    clock.advance(1)
    refused = await check.verify(issued.token, "sampleproject")

    assert getattr(refused, "code", None) == "token-expired"
    assert state.calls.count("is_revoked") == 1  # the expired check asked no store


@pytest.mark.parametrize(
    ("projects", "expires"),
    [
        pytest.param([], NOW + HOUR, id="no-projects"),
        pytest.param("sampleproject", NOW + HOUR, id="bare-string"),
        pytest.param(["not a name!"], NOW + HOUR, id="invalid-name"),
        pytest.param(PROJECTS, NOW, id="already-expired"),
        pytest.param(PROJECTS, NOW + MAX_LIFETIME + 1, id="longer-than-a-year"),
    ],
)
def test_issue_refuses_a_grant_out_of_bounds(
    root: RootKey, projects: list[str], expires: int
) -> None:
    with pytest.raises(ValueError, match=r"."):
        issue(root, ApiTokenGrant(USER_ID, USER_NAME, projects, expires), now=NOW)


def test_serialised_token_is_prefix_biscuit_and_checksum(root: RootKey) -> None:
    token = issue_token(root).token

    body, _, check = token[len(PREFIX) :].rpartition("_")
    assert token.startswith(PREFIX)
    assert checksum(body) == check
    assert "=" not in token
    assert PATTERN.fullmatch(token)
    assert PATTERN.findall(f"leaked in a log: {token}, oops") == [token]
    assert unwrap(token) is not None
    assert unwrap(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert unwrap(PREFIX + "x" * MAX_LENGTH) is None


def test_root_key_file_round_trips_and_the_public_half_parses(
    root: RootKey, tmp_path: Path
) -> None:
    assert root.public_text.startswith("ed25519/")
    assert public_key(root.public_text).to_bytes() == root.public.to_bytes()
    with pytest.raises(KeyConfigError, match="not an Ed25519 public key"):
        public_key("ed25519/nothex")


def test_key_file_errors_name_the_file_never_its_content(tmp_path: Path) -> None:
    wrong = tmp_path / "p256.pem"
    wrong.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("SECRET-CONTENT")

    with pytest.raises(KeyConfigError, match="expected an Ed25519 private key") as typed:
        load_root_key(wrong)
    with pytest.raises(KeyConfigError) as broken:
        load_root_key(garbage)

    assert str(wrong) in str(typed.value)
    assert str(garbage) in str(broken.value)
    assert "SECRET-CONTENT" not in str(broken.value)


def test_unset_key_file_gives_an_ephemeral_key_and_a_loud_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="service.apitokens.keys"):
        first, second = configured_root_key(None), configured_root_key(None)

    assert first.public_text != second.public_text
    assert "NO API TOKEN KEY CONFIGURED" in caplog.text
    assert "MINTGATE_API_TOKEN_KEY_FILE" in caplog.text


def test_settings_read_the_key_file_variable(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    path.write_text("x")

    assert Settings.from_env({}).api_token_key_file is None
    assert Settings.from_env({"MINTGATE_API_TOKEN_KEY_FILE": str(path)}).api_token_key_file == path
