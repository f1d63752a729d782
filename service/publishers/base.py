"""What every publisher shares: refusals as values, matches, and the claim matchers.

Publisher modules import only the standard library and this module. They are
pure: no awaits, no clock reads (a `now` is passed in), no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

# Refusal codes. The first five are PyPI's, so clients that read them work unchanged.
INVALID_PAYLOAD: Final = "invalid-payload"
INVALID_TOKEN: Final = "invalid-token"
INVALID_PUBLISHER: Final = "invalid-publisher"
INVALID_REUSE_TOKEN: Final = "invalid-reuse-token"
NOT_ENABLED: Final = "not-enabled"
SERVICE_UNAVAILABLE: Final = "service-unavailable"

Claims = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request gets no token: a stable code and a sentence for a person.

    The sentence names the claim, what was expected and what arrived; it never
    carries the token itself.
    """

    code: str
    description: str


@dataclass(frozen=True, slots=True)
class Match:
    """A publisher accepted the claims.

    `publisher` is the stable identity of the configuration that matched;
    `provenance` is what the minted token records about the run.
    """

    publisher: str
    provenance: Mapping[str, str] = field(default_factory=dict)
    # The token's `repository_id` when the publisher pins none yet (GitHub): the trust
    # store records it before anything is signed, or the mint is refused.
    first_use_repository_id: str | None = None


class Publisher(Protocol):
    """A trusted-publisher policy: claims in, `Match` or `Refusal` out."""

    @property
    def provider(self) -> str: ...

    @property
    def issuer(self) -> str: ...

    @property
    def identity(self) -> str: ...

    @property
    def lookup_key(self) -> str:
        """The casefolded value of the provider's LOOKUP_CLAIM this publisher can match.

        Trust stores index publishers by it, so a token is checked only against
        the publishers of its own repository or project: cheap with a million
        publishers, and a refusal never describes another project's configuration.
        """
        ...

    def verify(self, claims: Claims, *, now: int) -> Match | Refusal: ...


def refuse(claim: str, expected: str, got: object) -> Refusal:
    """The one shape of a claim mismatch: `claim: expected '...', got '...'`."""
    return Refusal(INVALID_PUBLISHER, f"{claim}: expected {expected}, got {_show(got)}")


def _show(value: object) -> str:
    if value is None:
        return "nothing (claim missing)"
    text = repr(value) if isinstance(value, str) else f"{type(value).__name__} {value!r}"
    # Claims are attacker-chosen: keep the echo short.
    return text if len(text) <= 200 else text[:197] + "..."


def string_claim(claims: Claims, name: str) -> str | Refusal:
    """A claim that must be present and a non-empty string."""
    value = claims.get(name)
    if isinstance(value, str) and value:
        return value
    return refuse(name, "a non-empty string", value)


def exact(claims: Claims, name: str, expected: str) -> Refusal | None:
    value = string_claim(claims, name)
    if isinstance(value, Refusal):
        return value
    return None if value == expected else refuse(name, repr(expected), value)


def casefold(claims: Claims, name: str, expected: str) -> Refusal | None:
    value = string_claim(claims, name)
    if isinstance(value, Refusal):
        return value
    if value.casefold() == expected.casefold():
        return None
    return refuse(name, f"{expected!r} (any case)", value)


def pinned_id(claims: Claims, name: str, expected: str) -> Refusal | None:
    """Numeric ids are compared as exact strings; an int claim is accepted as its decimal."""
    value = claims.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str) and value == expected:
        return None
    return refuse(name, f"id {expected!r}", value)


def id_claim(claims: Claims, name: str) -> str | Refusal:
    """A numeric id to pin at first use: digits only and bounded, as a table's would be."""
    value = claims.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str) and NUMERIC_ID.fullmatch(value):
        return value
    return refuse(name, "a numeric id", value)


@dataclass(frozen=True, slots=True)
class Glob:
    """An anchored glob: `*` is the only wildcard and it matches any run of characters.

    Anchored at both ends, so `v*` never matches `refs/tags/v1` and a pattern
    is never a prefix test in disguise.
    """

    text: str
    regex: re.Pattern[str]

    @classmethod
    def compile(cls, text: str) -> Glob:
        parts = (".*" if part == "*" else re.escape(part) for part in re.split(r"(\*)", text))
        return cls(text, re.compile("".join(parts), re.DOTALL))

    def matches(self, value: str) -> bool:
        return self.regex.fullmatch(value) is not None


def glob(claims: Claims, name: str, patterns: tuple[Glob, ...]) -> Refusal | None:
    value = string_claim(claims, name)
    if isinstance(value, Refusal):
        return value
    if any(p.matches(value) for p in patterns):
        return None
    return refuse(name, "one of " + ", ".join(repr(p.text) for p in patterns), value)


def equals_bool(claims: Claims, name: str, expected: bool) -> Refusal | None:
    """A JSON boolean, compared by type and value: the string 'true' is not true."""
    value = claims.get(name)
    if isinstance(value, bool) and value is expected:
        return None
    return refuse(name, f"{str(expected).lower()} (a JSON boolean)", value)


def includes(claims: Claims, name: str, expected: str) -> Refusal | None:
    """A list of strings that holds `expected` as one whole element (never a substring)."""
    value = claims.get(name)
    if isinstance(value, list) and all(isinstance(v, str) for v in value) and expected in value:
        return None
    return refuse(name, f"a list of strings holding {expected!r}", value)


def first_refusal(*checks: Refusal | None) -> Refusal | None:
    return next((c for c in checks if c is not None), None)


class Provider(Protocol):
    """What the issuer allow-list, the trust loader and the exchange need from a provider.

    A provider module (github.py) satisfies it with module constants; a preset
    (presets.py) with attributes. `LOOKUP_CLAIM` is None when each issuer names
    its own (`lookup` in issuers.toml, the custom provider); `DEFAULT_ISSUER` is
    None when every publisher must name its issuer (one issuer per organization).
    """

    @property
    def PROVIDER(self) -> str: ...

    @property
    def LOOKUP_CLAIM(self) -> str | None: ...

    @property
    def DEFAULT_ISSUER(self) -> str | None: ...

    @property
    def REQUIRES_JTI(self) -> bool:
        """Whether every token carries `jti`; if so, a token without one is refused."""
        ...

    def from_table(self, table: Mapping[str, object], *, issuer: str) -> Publisher: ...


class ConfigError(ValueError):
    """A publisher table in configuration is wrong; `key` names the offending key."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


def lookup_value(claims: Claims, claim: str) -> str | Refusal:
    value = string_claim(claims, claim)
    return value if isinstance(value, Refusal) else value.casefold()


def first_missing(claims: Claims, names: Iterable[str]) -> Refusal | None:
    """The refusal for the first required claim that is absent or not a non-empty string."""
    for name in names:
        value = string_claim(claims, name)
        if isinstance(value, Refusal):
            return value
    return None


# Reading publisher tables: every provider module validates its TOML keys the same way.
Table = Mapping[str, object]
# At most 20 digits: every id the providers issue fits in 64 bits; more is junk.
NUMERIC_ID = re.compile(r"[1-9][0-9]{0,19}")


def known_keys(table: Table, known: frozenset[str], prefix: str = "") -> None:
    for key in table:
        if key not in known:
            raise ConfigError(prefix + key, f"unknown key; expected one of {sorted(known)}")


def config_string(
    table: Table,
    key: str,
    pattern: re.Pattern[str] | None,
    expected: str,
    prefix: str = "",
) -> str:
    value = table.get(key)
    if value is None:
        raise ConfigError(prefix + key, "is required")
    if not isinstance(value, str) or not value or (pattern and not pattern.fullmatch(value)):
        raise ConfigError(prefix + key, f"expected {expected}, got {value!r}")
    return value


def config_optional(
    table: Table,
    key: str,
    pattern: re.Pattern[str] | None,
    expected: str,
    prefix: str = "",
) -> str | None:
    return None if table.get(key) is None else config_string(table, key, pattern, expected, prefix)


def config_id(table: Table, key: str) -> str | None:
    """An optional numeric id pin; TOML integers are accepted as their decimal string."""
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not NUMERIC_ID.fullmatch(value):
        raise ConfigError(key, f"expected a numeric id, got {value!r}")
    return value


def config_strings(table: Table, key: str) -> list[str] | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(key, f"expected a list of non-empty strings, got {value!r}")
    return value
