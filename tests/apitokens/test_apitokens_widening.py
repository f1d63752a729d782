"""A holder who appends blocks by hand, with biscuit itself, still cannot widen a token.

Each row appends one block an attacker might try to a token for `sampleproject`
until NOW + 1h, then asks for what the block pretends to grant. Facts in an
appended block are invisible to the authority block's checks and to the
verifier's policies; checks can only fail.
"""

from __future__ import annotations

import pytest
from apitokenkit import HOUR, NOW, Clock, State, api_verifier, issue_token
from biscuit_auth import Biscuit, BlockBuilder

from service.apitokens.attenuate import attenuate
from service.apitokens.format import serialize, unwrap
from service.apitokens.keys import RootKey

pytestmark = pytest.mark.anyio

LATER = NOW + 2 * HOUR

WIDENING = [
    pytest.param(
        'allowed_project("elsewhere")', "elsewhere", NOW, "project-not-in-scope", id="add-a-project"
    ),
    pytest.param(
        "all_projects(true)", "elsewhere", NOW, "project-not-in-scope", id="claim-all-projects"
    ),
    pytest.param(
        'project("sampleproject")',
        "elsewhere",
        NOW,
        "project-not-in-scope",
        id="fake-the-uploaded-project",
    ),
    pytest.param(
        "time(1970-01-01T00:00:00Z)", "sampleproject", LATER, "token-expired", id="fake-the-clock"
    ),
    pytest.param(
        'check if true; allowed_project("elsewhere")',
        "elsewhere",
        NOW,
        "project-not-in-scope",
        id="always-true-check",
    ),
    pytest.param(
        "allowed_project($p) <- project($p)",
        "elsewhere",
        NOW,
        "project-not-in-scope",
        id="rule-deriving-scope",
    ),
    pytest.param(
        'check if project($p), {"sampleproject", "elsewhere"}.contains($p)',
        "elsewhere",
        NOW,
        "project-not-in-scope",
        id="wider-project-check",
    ),
    pytest.param(
        "check if time($t), $t < 2099-01-01T00:00:00Z",
        "sampleproject",
        LATER,
        "token-expired",
        id="later-expiry-check",
    ),
]


def append(token: str, root: RootKey, source: str) -> str:
    # Exactly what a holder can do: parse with the public key, append, serialise.
    body = unwrap(token)
    assert body is not None
    return serialize(
        Biscuit.from_base64(body, root.public).append(BlockBuilder(source)).to_base64()
    )


@pytest.mark.parametrize(("block", "project", "now", "expected"), WIDENING)
async def test_appended_block_cannot_widen(
    root: RootKey, block: str, project: str, now: int, expected: str
) -> None:
    token = issue_token(root, ["sampleproject"], expires=NOW + HOUR).token
    state = State(maintainers={("user-7", "sampleproject"), ("user-7", "elsewhere")})

    refused = await api_verifier(root, state, Clock(now)).verify(
        append(token, root, block), project
    )

    assert getattr(refused, "code", None) == expected
    assert state.calls == []  # refused before any store was asked


@pytest.mark.parametrize(("block", "project", "now", "expected"), WIDENING)
async def test_widening_block_after_a_narrowing_one_cannot_undo_it(
    root: RootKey, block: str, project: str, now: int, expected: str
) -> None:
    token = issue_token(root, ["sampleproject", "elsewhere"], expires=NOW + 24 * HOUR).token
    narrowed = attenuate(token, projects=["sampleproject"], expires=NOW + HOUR)
    state = State(maintainers={("user-7", "sampleproject"), ("user-7", "elsewhere")})

    result = await api_verifier(root, state, Clock(now)).verify(
        append(narrowed, root, block), project
    )

    assert getattr(result, "code", None) == expected


async def test_the_attacker_block_still_leaves_the_granted_upload_working(root: RootKey) -> None:
    # Control: the appended blocks above are refused for what they add, not because
    # appending anything breaks the token.
    token = issue_token(root, ["sampleproject"], expires=NOW + HOUR).token
    widened = append(token, root, 'allowed_project("elsewhere"); all_projects(true)')

    result = await api_verifier(root, State(), Clock()).verify(widened, "sampleproject")

    assert getattr(result, "project", None) == "sampleproject"
