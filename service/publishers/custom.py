"""Custom issuers: Jenkins, Azure Pipelines, Bitbucket, Forgejo, a self-hosted IdP...

A publisher table is its own policy, written as rules (see rules.py):

    [[project.sampleproject.publisher]]
    provider = "custom"
    issuer = "https://ci.example.com/oidc"       # must be configured in issuers.toml
    lookup = "repository"                        # the issuer's `lookup` claim
    required = ["sub", "sha"]                    # present as non-empty strings
    claims = [
      { claim = "repository", casefold = "octo/sampleproject" },
      { claim = "repository_id", pinned_id = "4242" },
      { claim = "ref", glob = "refs/tags/v*" },
    ]

Only an issuer configured in issuers.toml (with `provider = "custom"` and its
`lookup` claim) is ever fetched: a publisher table cannot add one. The lookup
claim needs an exact or casefold rule, because publishers are indexed by its
value and only the token's own lookup value's publishers are checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from service.publishers import base
from service.publishers.rules import (
    CLAIM_RE,
    RulesPublisher,
    claim_names,
    lookup_value,
    make_rule,
    rule_spec,
)

PROVIDER: Final = "custom"
# Every custom publisher names its issuer; the issuer names the lookup claim.
DEFAULT_ISSUER: Final[str | None] = None
LOOKUP_CLAIM: Final[str | None] = None
# Unknown issuers may or may not send jti; issuers.toml says so with `require_jti`.
REQUIRES_JTI: Final = True

_KEYS: Final = frozenset({"lookup", "required", "claims", "provenance"})


def from_table(table: Mapping[str, object], *, issuer: str) -> RulesPublisher:
    """Build from one TOML publisher table; raise `base.ConfigError` naming the bad key."""
    base.known_keys(table, _KEYS)
    lookup = base.config_string(table, "lookup", CLAIM_RE, "a claim name")
    rules_value = table.get("claims")
    if not isinstance(rules_value, list) or not rules_value:
        raise base.ConfigError("claims", "expected a non-empty list of rule tables")
    rules = []
    for index, entry in enumerate(rules_value):
        where = f"claims[{index}]"
        claim, kind, raw = rule_spec(entry, where)
        rules.append(make_rule(claim, kind, raw, f"{where}.{kind}"))
    value = lookup_value(rules, lookup, "lookup")
    required = claim_names(table.get("required"), "required")
    named = tuple(r.claim for r in rules if isinstance(r.value, str) and r.kind != "includes")
    provenance = claim_names(table.get("provenance"), "provenance") or (lookup, *named, *required)
    return RulesPublisher(
        provider=PROVIDER,
        issuer=issuer,
        identity=f"{PROVIDER}:{issuer}:{lookup}={value}",
        lookup_claim=lookup,
        lookup_key=value.casefold(),
        required=tuple(dict.fromkeys((lookup, *required))),
        rules=tuple(rules),
        provenance_claims=tuple(dict.fromkeys(provenance)),
    )
