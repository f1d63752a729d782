"""Claim rules as data: the engine behind the custom provider and every preset.

A rule names one claim and one comparison; every rule of a publisher must hold:

    { claim = "repository", exact = "octo/pkg" }
    { claim = "repository", casefold = "Octo/Pkg" }
    { claim = "ref", glob = "refs/tags/v*" }            # or a list: one of them must match
    { claim = "owner_id", pinned_id = "1234567" }
    { claim = "email_verified", equals_bool = true }
    { claim = "oidc.circleci.com/context-ids", includes = "<uuid>" }

The comparisons are base.py's matchers, so refusals read exactly as GitHub's
and GitLab's do. Globs are anchored at both ends (`base.Glob`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from service.publishers import base

KINDS: Final = ("exact", "casefold", "glob", "pinned_id", "equals_bool", "includes")
# The verifier checks these before any publisher runs; a rule on them would only mislead.
REGISTERED: Final = frozenset({"iss", "aud", "exp", "nbf", "iat", "jti"})
# Claim names are free-form (`oidc.circleci.com/org-id`), but never blank or huge.
CLAIM_RE: Final = re.compile(r"\S{1,200}")
# Kinds whose value is the claim's expected value, so a lookup key can be taken from them.
INDEXABLE: Final = ("exact", "casefold")

_STRING_MATCHERS: Final = {
    "exact": base.exact,
    "casefold": base.casefold,
    "pinned_id": base.pinned_id,
    "includes": base.includes,
}


@dataclass(frozen=True, slots=True)
class Rule:
    claim: str
    kind: str
    value: str | bool | tuple[base.Glob, ...]

    def check(self, claims: base.Claims) -> base.Refusal | None:
        if isinstance(self.value, bool):
            return base.equals_bool(claims, self.claim, self.value)
        if isinstance(self.value, tuple):
            return base.glob(claims, self.claim, self.value)
        return _STRING_MATCHERS[self.kind](claims, self.claim, self.value)


@dataclass(frozen=True, slots=True)
class RulesPublisher:
    """A publisher that is nothing but required claims and rules."""

    provider: str
    issuer: str
    identity: str
    lookup_claim: str
    lookup_key: str
    required: tuple[str, ...]
    rules: tuple[Rule, ...]
    provenance_claims: tuple[str, ...] = ()

    def verify(self, claims: base.Claims, *, now: int) -> base.Match | base.Refusal:
        missing = base.first_missing(claims, self.required)
        if missing is not None:
            return missing
        refusal = base.first_refusal(*(rule.check(claims) for rule in self.rules))
        if refusal is not None:
            return refusal
        return base.Match(self.identity, _provenance(claims, self.provenance_claims))


def _provenance(claims: base.Claims, names: Sequence[str]) -> dict[str, str]:
    out = {}
    for name in names:
        value = claims.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # Buildkite's build_number is a number
        if isinstance(value, str) and value:
            out[name] = value
    return out


def rule_spec(table: object, where: str) -> tuple[str, str, object]:
    """One rule table -> (claim, kind, raw value); `where` names it in errors."""
    if not isinstance(table, Mapping):
        raise base.ConfigError(where, 'expected a table like { claim = "...", exact = "..." }')
    claim = table.get("claim")
    if not isinstance(claim, str) or not CLAIM_RE.fullmatch(claim):
        raise base.ConfigError(f"{where}.claim", f"expected a claim name, got {claim!r}")
    if claim in REGISTERED:
        raise base.ConfigError(
            f"{where}.claim", f"{claim!r} is checked by the verifier, not by publisher rules"
        )
    kinds = [key for key in table if key != "claim"]
    if len(kinds) != 1 or kinds[0] not in KINDS:
        raise base.ConfigError(
            where, f"expected `claim` and exactly one of {list(KINDS)}, got {sorted(table)}"
        )
    return claim, kinds[0], table[kinds[0]]


def make_rule(claim: str, kind: str, raw: object, where: str) -> Rule:
    """Validate a rule's value for its kind; `where` is the key named in errors."""
    if kind == "equals_bool":
        if not isinstance(raw, bool):
            raise base.ConfigError(where, f"expected true or false, got {raw!r}")
        return Rule(claim, kind, raw)
    if kind == "glob":
        patterns = [raw] if isinstance(raw, str) else raw
        if (
            not isinstance(patterns, list)
            or not patterns
            or not all(isinstance(p, str) and p for p in patterns)
        ):
            raise base.ConfigError(where, f"expected a pattern or a list of them, got {raw!r}")
        if any(not p.strip("*") for p in patterns):
            # A bare '*' is a rule that holds for any value: almost surely a mistake.
            raise base.ConfigError(where, "a pattern of only '*' matches anything; drop the rule")
        return Rule(claim, kind, tuple(base.Glob.compile(p) for p in patterns))
    if kind == "pinned_id" and isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)
    if not isinstance(raw, str) or not raw:
        raise base.ConfigError(where, f"expected a non-empty string, got {raw!r}")
    return Rule(claim, kind, raw)


def lookup_value(rules: Sequence[Rule], claim: str, where: str) -> str:
    """The configured value of the lookup claim: trust stores index the publisher by it."""
    for rule in rules:
        if rule.claim == claim and rule.kind in INDEXABLE and isinstance(rule.value, str):
            return rule.value
    raise base.ConfigError(
        where, f"needs an exact or casefold rule on {claim!r}: publishers are indexed by it"
    )


def claim_names(value: object, where: str) -> tuple[str, ...]:
    """A list of claim names (`required`, `provenance`), de-duplicated in order."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(
        isinstance(v, str) and CLAIM_RE.fullmatch(v) for v in value
    ):
        raise base.ConfigError(where, f"expected a list of claim names, got {value!r}")
    return tuple(dict.fromkeys(value))
