"""A mint record's JSON is formatted by hand for speed (trust/records.py `MintEntry.of`):
it must be exactly what json.dumps writes, whatever a claim held, and read back whole.

The run id comes from the OIDC token (any custom issuer's `run_id`), so quotes,
backslashes, control characters, lone surrogates and line separators must not
change the record's shape: a record that parsed into different fields would put
another publisher or project into the audit trail.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st
from propkit import FAST

from service.trust.records import MintEntry

texts = st.text(max_size=40)
uses = st.tuples(st.none() | st.integers(min_value=0, max_value=2**62), texts, texts, texts)


# A record's fields, in MintEntry.of's order: at, issuer, run, jti, issued, expires,
# projects, uses.
record_fields = st.tuples(
    st.floats(min_value=0, max_value=2**40, allow_nan=False),
    texts,
    st.none() | texts,
    texts,
    st.integers(min_value=0, max_value=2**40),
    st.integers(min_value=0, max_value=2**40),
    st.lists(texts, max_size=3).map(tuple),
    st.lists(uses, min_size=1, max_size=3).map(tuple),
)


@FAST
@given(record_fields)
@example(
    (
        1.5,
        '"],[1,"evil"',
        'x"],[null,"p","i","r"]]]\\',
        "\u2028\u2029\x00\x1f\ud800",
        0,
        1,
        ('"',),
        ((None, "\\", "\n", "\u00e9"),),
    )
)
def test_a_record_is_what_json_writes_and_reads_back_whole(
    fields: tuple[Any, ...],
) -> None:
    entry = MintEntry.of(*fields)

    assert entry.encoded == json.dumps(fields, separators=(",", ":")).encode()
    assert MintEntry.from_json(entry.encoded) == entry
