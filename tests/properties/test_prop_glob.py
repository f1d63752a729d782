"""Glob (`refs = ["refs/tags/v*"]`) agrees with fnmatch when only `*` is special, anchored.

The reference is the standard library: `fnmatch.fnmatchcase` with `?` and `[`
escaped into one-character classes, so `*` is its only wildcard. fnmatchcase
is anchored at both ends and lets `*` cross `/` and newlines, as Glob does.
"""

from __future__ import annotations

import fnmatch

from hypothesis import example, given
from hypothesis import strategies as st
from propkit import FAST

from service.publishers.base import Glob

# Characters that mean something to fnmatch or to regular expressions, and a few plain ones.
ALPHABET = "ab*?[]!^-\\/.$()+|{}\n"


def reference(pattern: str, value: str) -> bool:
    escaped = "".join({"[": "[[]", "?": "[?]"}.get(c, c) for c in pattern)
    return fnmatch.fnmatchcase(value, escaped)


@st.composite
def pattern_and_value(draw: st.DrawFn) -> tuple[str, str]:
    """Half the time a value built to match: each `*` of the pattern replaced by some text."""
    pattern = draw(st.text(alphabet=ALPHABET, max_size=12))
    if draw(st.booleans()):
        pieces = pattern.split("*")
        fills = [draw(st.text(alphabet=ALPHABET, max_size=4)) for _ in pieces[1:]]
        value = pieces[0] + "".join(f + p for f, p in zip(fills, pieces[1:], strict=True))
    else:
        value = draw(st.text(alphabet=ALPHABET, max_size=12))
    return pattern, value


@FAST
@given(pattern_and_value())
@example(("v*", "refs/tags/v1"))
@example(("refs/tags/v*", "refs/tags/v1\n"))
@example(("[ab]", "a"))
@example(("a?", "ab"))
@example(("*", ""))
def test_glob_agrees_with_anchored_star_only_fnmatch(case: tuple[str, str]) -> None:
    pattern, value = case
    assert Glob.compile(pattern).matches(value) == reference(pattern, value)


@FAST
@given(st.text(max_size=12), st.text(max_size=12))
def test_glob_agrees_on_any_text(pattern: str, value: str) -> None:
    assert Glob.compile(pattern).matches(value) == reference(pattern, value)
