"""Minted-token format: `unwrap` never raises, and no single-character change survives it.

`unwrap` is the first thing the registry, the gateway and the secret-scanning
endpoint run on a string someone handed them; it must answer `None` or the JWT
inside, whatever arrives.
"""

from __future__ import annotations

from fakeissuer import NOW
from hypothesis import example, given
from hypothesis import strategies as st
from propkit import FAST

from service.minting.keys import ephemeral_signing_keys
from service.minting.tokens import CHECKSUM_LENGTH, PREFIX, Grant, Minter, serialize, unwrap

MINTED = (
    Minter(ephemeral_signing_keys(), issuer="https://m.example", audience="up", ttl=900)
    .mint(
        Grant(
            subject="github:repo:o/r",
            provider="github",
            projects=["p"],
            publishers=["github:o/r:release.yml"],
            provenance={"sha": "a" * 40},
        ),
        now=NOW,
    )
    .token
)

prefixed = st.builds(lambda rest: PREFIX + rest, st.text(max_size=60)) | st.builds(
    lambda body, sep, check: PREFIX + body + sep + check,
    st.text(alphabet="abcXYZ0189-_.", max_size=40),
    st.sampled_from(["_", "", "__"]),
    st.text(alphabet="0123456789ABCDEFabcdef_\u00e9\x80", max_size=CHECKSUM_LENGTH + 2),
)


@FAST
@given(st.text() | prefixed)
@example("")
@example(PREFIX)
@example(PREFIX + "_" * 8)
@example(MINTED + "\ud800")
# Found by these tests: a non-ASCII checksum made secrets.compare_digest raise TypeError, which
# unauthenticated POST /oauth/token (subject_token=mintgate_abc_abcde\u00e9) answered with a 500.
@example(PREFIX + "abc_abcde\u00e9")
def test_unwrap_never_raises_and_only_returns_a_body_that_serializes_back(text: str) -> None:
    body = unwrap(text)
    if body is not None:
        assert serialize(body) == text


@FAST
@given(st.text(st.characters(max_codepoint=127), min_size=1, max_size=200))
def test_any_ascii_body_round_trips(body: str) -> None:
    assert unwrap(serialize(body)) == body


@FAST
@given(st.integers(0, len(MINTED) - 1), st.characters())
def test_any_single_character_change_is_refused(at: int, replacement: str) -> None:
    changed = MINTED[:at] + replacement + MINTED[at + 1 :]
    if changed != MINTED:
        # CRC32 catches every burst of 32 bits or fewer, and six base62 digits hold every
        # CRC32 value exactly once: one changed character can never carry a valid checksum.
        assert unwrap(changed) is None


def test_the_minted_token_itself_unwraps() -> None:
    assert unwrap(MINTED) is not None
