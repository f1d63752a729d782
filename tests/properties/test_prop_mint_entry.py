"""A mint record's JSON is formatted by hand for speed (trust/records.py `MintEntry.of`):
it must be exactly what json.dumps writes, whatever a claim held, and read back whole.

The run id comes from the OIDC token (any custom issuer's `run_id`), so quotes,
backslashes, control characters, lone surrogates and line separators must not
change the record's shape: a record that parsed into different fields would put
another publisher or project into the audit trail.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, cast

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from propkit import FAST

from service.minting.tokens import Planned
from service.trust import Trusted, records
from service.trust.records import COLUMN_LENGTH, MintEntry, mint_fields, run_id

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


@dataclass(frozen=True)
class _Publisher:
    identity: str
    lookup_key: str


long_texts = texts | st.text(min_size=250, max_size=300)
publishers = st.tuples(
    st.none() | st.integers(min_value=0, max_value=2**62), texts, texts, long_texts
)


@FAST
@given(
    record_fields,
    st.lists(publishers, min_size=1, max_size=3),
    st.booleans(),
)
def test_the_journal_records_what_the_record_format_writes(
    fields: tuple[Any, ...], chosen: list[tuple[Any, str, str, str]], own_projects: bool
) -> None:
    """`mint_fields` formats each publisher's part once and reuses it (the journal's
    path, on every mint): its record is the one `MintEntry.of` writes, first and
    second time alike."""
    at, issuer, run, jti, issued, expires, projects, _ = fields
    used = [
        Trusted(project=project, publisher=cast(Any, _Publisher(identity, key)), ref=ref)
        for ref, project, identity, key in chosen
    ]
    if own_projects:
        projects = tuple(t.project for t in used)
    claims = {} if run is None else {"run_id": run}
    minted = Planned(claims={}, expires=expires, jti=jti, projects=projects, issued=issued)
    expected = MintEntry.of(
        at,
        issuer,
        run_id(claims),
        jti,
        issued or int(at),
        expires,
        projects,
        tuple(
            (ref, project, identity, key[:COLUMN_LENGTH]) for ref, project, identity, key in chosen
        ),
    )

    assert mint_fields(issuer, claims, used, minted, at) == tuple(expected)
    assert mint_fields(issuer, claims, used, minted, at) == tuple(expected)


def test_a_publishers_parts_are_never_another_objects(monkeypatch: pytest.MonkeyPatch) -> None:
    """The parts are found by the Trusted object's id; an entry under that id that holds
    another object (one that died, its address reused) is formatted anew."""
    mine = Trusted(project="mine", publisher=cast(Any, _Publisher("i:mine", "mine")), ref=1)
    other = Trusted(project="other", publisher=cast(Any, _Publisher("i:other", "other")), ref=2)
    stale = records._Parts(other, ((2, "other", "i:other", "other"),), "", '["other"],[]]')
    monkeypatch.setitem(records._PARTS, id(mine), stale)
    minted = Planned(claims={}, expires=2, jti="j", projects=("mine",), issued=1)

    fields = mint_fields("iss", {}, [mine], minted, 1.0)

    assert fields[7] == ((1, "mine", "i:mine", "mine"),)
    assert b"other" not in fields[8]
