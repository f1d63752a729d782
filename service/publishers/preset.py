"""Providers as data: a preset is custom rules with holes that a publisher table fills.

    provider = "buildkite"  ->  presets/buildkite.toml  ->  a rules.RulesPublisher

A preset file (shipped inside the package, so the wheel and the image carry it)
declares:
  issuer      the provider's one issuer, or a template such as
              'https://oidc.circleci.com/org/{org_id}' when every organization has
              its own: then each publisher names its issuer, and it must be that
              template filled with the publisher's own keys
  lookup      the claim publishers are indexed by (an exact or casefold rule of
              required keys must cover it)
  identity    a template naming the publisher in minted tokens and logs
  required    claims every token must carry as non-empty strings
  provenance  claims copied into the minted token
  [keys.NAME] the publisher table's keys: required, list, pattern, expected
  [[claims]]  rules as in the custom provider; '{NAME}' is the publisher's value
              of key NAME; a rule using a key the publisher left out is dropped

Loading is strict and happens once, at import: a broken preset is a bug in
mintgate and stops everything, loudly.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Final

from service.publishers import base
from service.publishers.rules import (
    CLAIM_RE,
    INDEXABLE,
    Rule,
    RulesPublisher,
    claim_names,
    lookup_value,
    make_rule,
    rule_spec,
)

_PLACEHOLDER: Final = re.compile(r"\{([a-z][a-z0-9_]*)\}")
_NAME_RE: Final = re.compile(r"[a-z][a-z0-9-]*")
_PRESET_KEYS: Final = frozenset(
    {"issuer", "lookup", "identity", "required", "provenance", "keys", "claims", "require_jti"}
)
_KEY_SPEC_KEYS: Final = frozenset({"required", "list", "pattern", "expected"})

Values = Mapping[str, str | list[str]]


class PresetError(ValueError):
    """A preset file is wrong: a bug in mintgate, not in an operator's configuration."""


@dataclass(frozen=True, slots=True)
class Key:
    """One key of a publisher table: a string, or (`many`) a non-empty list of them."""

    required: bool = False
    many: bool = False
    pattern: re.Pattern[str] | None = None
    expected: str = "a non-empty string"

    def read(self, table: Mapping[str, object], name: str) -> str | list[str] | None:
        value = table.get(name)
        if value is None:
            if self.required:
                raise base.ConfigError(name, "is required")
            return None
        items = value if isinstance(value, list) else [value]
        strings = [
            v
            for v in items
            if isinstance(v, str) and v and (self.pattern is None or self.pattern.fullmatch(v))
        ]
        if len(strings) != len(items) or not strings or self.many != isinstance(value, list):
            shape = f"a non-empty list of {self.expected}" if self.many else self.expected
            raise base.ConfigError(name, f"expected {shape}, got {value!r}")
        return strings if self.many else strings[0]


@dataclass(frozen=True, slots=True)
class Template:
    """A rule whose value may name keys of the publisher table."""

    claim: str
    kind: str
    raw: str | bool | int | list[str]
    keys: frozenset[str]

    def rule(self, values: Values) -> Rule | None:
        if not self.keys <= values.keys():
            return None
        whole = _PLACEHOLDER.fullmatch(self.raw) if isinstance(self.raw, str) else None
        # A user's list of patterns is named by its key; a filled-in template by its claim.
        where = whole[1] if whole else f"{self.claim} ({self.kind})"
        return make_rule(self.claim, self.kind, _fill_raw(self.raw, values, self.kind), where)


@dataclass(frozen=True, slots=True)
class Preset:
    """A provider defined by a preset file; satisfies `base.Provider`."""

    PROVIDER: str
    LOOKUP_CLAIM: str
    DEFAULT_ISSUER: str | None
    REQUIRES_JTI: bool
    issuer_template: str | None
    identity: str
    required: tuple[str, ...]
    provenance: tuple[str, ...]
    keys: Mapping[str, Key]
    claims: tuple[Template, ...]

    def from_table(self, table: Mapping[str, object], *, issuer: str) -> RulesPublisher:
        """Build from one TOML publisher table; raise `base.ConfigError` naming the bad key."""
        base.known_keys(table, frozenset(self.keys))
        values: dict[str, str | list[str]] = {}
        for name, key in self.keys.items():
            value = key.read(table, name)
            if value is not None:
                values[name] = value
        if self.issuer_template is not None:
            expected = _fill_text(self.issuer_template, values)
            if issuer != expected:
                raise base.ConfigError(
                    "issuer",
                    f"expected {expected!r} (one issuer per organization), got {issuer!r}",
                )
        rules = tuple(rule for t in self.claims if (rule := t.rule(values)) is not None)
        value = lookup_value(rules, self.LOOKUP_CLAIM, "lookup")
        return RulesPublisher(
            provider=self.PROVIDER,
            issuer=issuer,
            identity=f"{self.PROVIDER}:{_fill_text(self.identity, values)}",
            lookup_claim=self.LOOKUP_CLAIM,
            lookup_key=value.casefold(),
            required=self.required,
            rules=rules,
            provenance_claims=self.provenance,
        )


def _fill_text(template: str, values: Values, *, glob: bool = False) -> str:
    def one(match: re.Match[str]) -> str:
        value = values[match[1]]
        assert isinstance(value, str)  # list keys are only ever whole placeholders (load_preset)
        if glob and "*" in value:
            # Inside a glob a '*' from configuration would widen the rule it was put in.
            raise base.ConfigError(match[1], f"must not contain '*', got {value!r}")
        return value

    return _PLACEHOLDER.sub(one, template)


def _fill_raw(raw: str | bool | int | list[str], values: Values, kind: str) -> object:
    if not isinstance(raw, str | list):
        return raw
    filled: list[str] = []
    for text in [raw] if isinstance(raw, str) else raw:
        whole = _PLACEHOLDER.fullmatch(text)
        value = values[whole[1]] if whole else _fill_text(text, values, glob=kind == "glob")
        filled.extend(value if isinstance(value, list) else [value])
    return filled[0] if isinstance(raw, str) and len(filled) == 1 else filled


def load_preset(name: str, document: Mapping[str, object]) -> Preset:
    """Validate one preset document; raise `PresetError` naming the file and the key."""
    try:
        return _preset(name, document)
    except base.ConfigError as exc:
        raise PresetError(f"presets/{name}.toml: {exc.key}: {exc.message}") from None


def _preset(name: str, document: Mapping[str, object]) -> Preset:
    if not _NAME_RE.fullmatch(name):
        raise base.ConfigError("name", f"expected a provider name like 'buildkite', got {name!r}")
    base.known_keys(document, _PRESET_KEYS)
    keys = _keys(document.get("keys"))
    scalar_required = {k for k, spec in keys.items() if spec.required and not spec.many}
    issuer = base.config_optional(document, "issuer", None, "an https URL or URL template")
    identity = base.config_string(document, "identity", None, "a template like '{org}/{pipe}'")
    for key, text in (("issuer", issuer or ""), ("identity", identity)):
        if unknown := set(_PLACEHOLDER.findall(text)) - scalar_required:
            raise base.ConfigError(key, f"may only name required keys, names {sorted(unknown)}")
    lookup = base.config_string(document, "lookup", CLAIM_RE, "a claim name")
    claims = _templates(document.get("claims"), keys)
    if not any(
        t.claim == lookup and t.kind in INDEXABLE and t.keys <= scalar_required for t in claims
    ):
        raise base.ConfigError("lookup", f"no exact or casefold rule of required keys on {lookup}")
    templated = issuer is not None and _PLACEHOLDER.search(issuer) is not None
    require_jti = document.get("require_jti", True)
    if not isinstance(require_jti, bool):
        raise base.ConfigError("require_jti", "expected true or false")
    return Preset(
        PROVIDER=name,
        LOOKUP_CLAIM=lookup,
        DEFAULT_ISSUER=None if templated else issuer,
        REQUIRES_JTI=require_jti,
        issuer_template=issuer if templated else None,
        identity=identity,
        required=claim_names(document.get("required"), "required"),
        provenance=claim_names(document.get("provenance"), "provenance"),
        keys=keys,
        claims=claims,
    )


def _keys(value: object) -> dict[str, Key]:
    if not isinstance(value, Mapping) or not value:
        raise base.ConfigError("keys", "expected a table of publisher keys")
    keys = {}
    for name, spec in value.items():
        where = f"keys.{name}"
        if not _PLACEHOLDER.fullmatch(f"{{{name}}}") or not isinstance(spec, Mapping):
            raise base.ConfigError(where, "expected a lowercase name and a table")
        base.known_keys(spec, _KEY_SPEC_KEYS, f"{where}.")
        pattern = base.config_optional(spec, "pattern", None, "a regular expression", f"{where}.")
        flags = {flag: spec.get(flag, False) for flag in ("required", "list")}
        if not all(isinstance(v, bool) for v in flags.values()):
            raise base.ConfigError(where, "required and list must be true or false")
        keys[name] = Key(
            required=flags["required"],
            many=flags["list"],
            pattern=re.compile(pattern) if pattern else None,
            expected=base.config_optional(spec, "expected", None, "text", f"{where}.")
            or "a non-empty string",
        )
    return keys


def _templates(value: object, keys: Mapping[str, Key]) -> tuple[Template, ...]:
    if not isinstance(value, list) or not value:
        raise base.ConfigError("claims", "expected a non-empty list of rule tables")
    out = []
    for index, entry in enumerate(value):
        where = f"claims[{index}]"
        claim, kind, raw = rule_spec(entry, where)
        texts = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
        names = {n for text in texts if isinstance(text, str) for n in _PLACEHOLDER.findall(text)}
        if unknown := names - keys.keys():
            raise base.ConfigError(where, f"names undeclared keys {sorted(unknown)}")
        for text in texts:
            used = set(_PLACEHOLDER.findall(text)) if isinstance(text, str) else set()
            lists = sorted(n for n in used if keys[n].many)
            whole = isinstance(text, str) and _PLACEHOLDER.fullmatch(text) is not None
            if lists and (kind != "glob" or not whole):
                raise base.ConfigError(where, f"list keys {lists} only fill whole glob patterns")
        if not isinstance(raw, str | bool | int | list):
            raise base.ConfigError(where, f"unexpected value {raw!r}")
        if not names:
            make_rule(claim, kind, raw, where)  # a fixed rule: check its value now
        out.append(Template(claim, kind, raw, frozenset(names)))
    return tuple(out)


def load_presets() -> dict[str, Preset]:
    """Every presets/*.toml shipped with this package, by provider name."""
    folder = resources.files("service.publishers").joinpath("presets")
    presets = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            name = entry.name.removesuffix(".toml")
            try:
                document = tomllib.loads(entry.read_text(encoding="utf-8"))
            except tomllib.TOMLDecodeError as exc:
                raise PresetError(f"presets/{entry.name}: {exc}") from None
            presets[name] = load_preset(name, document)
    return presets
