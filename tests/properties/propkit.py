"""Strategies and helpers the property suites share: JSON values, JWT-shaped text, TOML output."""

from __future__ import annotations

import base64
import json
import math
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# Budgets: enough examples to find the shapes that matter, small enough for CI on 2 cores.
FAST = settings(max_examples=400, deadline=None)
CRYPTO = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Any JSON value, as json.loads could hand it over from an attacker's token or body.
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def segment(value: Any) -> str:
    return b64url(json.dumps(value).encode())


@st.composite
def jwt_shaped(draw: st.DrawFn, issuers: tuple[str, ...] = ()) -> str:
    """Three base64url parts, each of which may or may not hold what a JWT's part holds."""
    header: Any = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "alg": st.sampled_from(["ES256", "RS256", "none", "HS256", ""]) | json_values,
                "kid": st.sampled_from(["es-1", "key-1", "rogue"]) | json_values,
                "typ": st.just("JWT"),
            },
        )
        | json_values
    )
    payload: Any = draw(
        st.fixed_dictionaries(
            {}, optional={"iss": st.sampled_from(issuers) | json_values, "sub": json_values}
        )
        | json_values
    )
    parts = [
        draw(st.just(segment(header)) | st.binary(max_size=30).map(b64url) | st.text(max_size=10)),
        draw(st.just(segment(payload)) | st.binary(max_size=30).map(b64url) | st.text(max_size=10)),
        draw(st.binary(max_size=64).map(b64url) | st.text(max_size=10)),
    ]
    return ".".join(parts)


# TOML output for generated tables: enough of TOML 1.0 for nested tables, arrays and scalars.
toml_keys = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
toml_strings = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)
toml_scalars = (
    st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats()
    | toml_strings
)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{" + ", ".join(f"{toml_string(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
        )
    raise TypeError(type(value).__name__)


def toml_string(text: str) -> str:
    # JSON escapes are TOML basic-string escapes, except that TOML also wants DEL escaped.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007F")


def toml_document(document: dict[str, Any]) -> str:
    """Every top-level key as `key = <inline value>`: one line each, any nesting."""
    return "".join(f"{toml_string(k)} = {toml_value(v)}\n" for k, v in document.items())
