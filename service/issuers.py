"""Configured issuers: which provider, which algorithms, which audience, how much leeway.

Only an issuer named here is ever contacted. Lookup is exact: no trailing-slash
or case folding, because the `iss` claim is compared, not interpreted.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from service.publishers import PROVIDERS

# Asymmetric only: an HS* entry would let anyone holding the published key forge tokens.
ALLOWED_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
KNOWN_KEYS = frozenset(
    {
        "url",
        "provider",
        "algorithms",
        "audience",
        "leeway",
        "jwks_uri",
        "jwks_hosts",
        "lookup",
        "require_jti",
    }
)


class IssuerConfigError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Issuer:
    url: str
    provider: str
    algorithms: frozenset[str]
    audience: str
    leeway: int
    jwks_uri: str | None = None
    jwks_hosts: frozenset[str] = frozenset()
    lookup: str | None = None
    require_jti: bool = True

    @property
    def lookup_claim(self) -> str:
        """The claim publishers of this issuer are indexed by: the provider's, or `lookup`.

        Only a provider without its own (`custom`) takes `lookup`; load_issuers
        makes sure one of the two is there.
        """
        return self.lookup or PROVIDERS[self.provider].LOOKUP_CLAIM or ""


class Issuers(Mapping[str, Issuer]):
    """The allow-list, keyed by the exact issuer string."""

    def __init__(self, issuers: Mapping[str, Issuer]) -> None:
        self._by_url = dict(issuers)

    def __getitem__(self, url: str) -> Issuer:
        return self._by_url[url]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_url)

    def __len__(self) -> int:
        return len(self._by_url)

    def providers(self) -> frozenset[str]:
        return frozenset(i.provider for i in self._by_url.values())


def load_issuers(path: Path, *, audience: str, leeway: int) -> Issuers:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise IssuerConfigError(f"{path}: {exc}") from None
    tables = document.get("issuer", [])
    if not isinstance(tables, list) or set(document) - {"issuer"}:
        raise IssuerConfigError(f"{path}: expected only [[issuer]] tables")
    found: dict[str, Issuer] = {}
    for index, table in enumerate(tables):
        where = f"{path}: [[issuer]] #{index + 1}"
        if not isinstance(table, dict):
            raise IssuerConfigError(f"{where}: expected a table")
        issuer = _issuer(table, where, audience=audience, leeway=leeway)
        if issuer.url in found:
            raise IssuerConfigError(f"{where}: url {issuer.url!r} is configured twice")
        found[issuer.url] = issuer
    return Issuers(found)


def _issuer(table: dict[str, Any], where: str, *, audience: str, leeway: int) -> Issuer:
    unknown = set(table) - KNOWN_KEYS
    if unknown:
        raise IssuerConfigError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    url = _string(table, "url", where)
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
        raise IssuerConfigError(f"{where}: url must be an https URL, got {url!r}")
    algorithms = table.get("algorithms", ["RS256"])
    if (
        not isinstance(algorithms, list)
        or not algorithms
        or not all(isinstance(a, str) and a in ALLOWED_ALGORITHMS for a in algorithms)
    ):
        raise IssuerConfigError(
            f"{where}: algorithms must be a non-empty list of {sorted(ALLOWED_ALGORITHMS)}"
        )
    own_leeway = table.get("leeway", leeway)
    if (
        not isinstance(own_leeway, int)
        or isinstance(own_leeway, bool)
        or not 0 <= own_leeway <= 300
    ):
        raise IssuerConfigError(f"{where}: leeway must be a whole number of seconds, 0 to 300")
    jwks_uri = table.get("jwks_uri")
    if jwks_uri is not None:
        jwks_uri = _string(table, "jwks_uri", where)
    hosts = table.get("jwks_hosts", [])
    if not isinstance(hosts, list) or not all(isinstance(h, str) and h for h in hosts):
        raise IssuerConfigError(f"{where}: jwks_hosts must be a list of host names")
    provider = _string(table, "provider", where).lower()
    if provider not in PROVIDERS:
        raise IssuerConfigError(f"{where}: provider must be one of {sorted(PROVIDERS)}")
    lookup = table.get("lookup")
    own = PROVIDERS[provider].LOOKUP_CLAIM
    if own is not None and lookup is not None:
        raise IssuerConfigError(f"{where}: lookup is fixed by provider {provider!r} ({own!r})")
    if own is None:
        # A custom issuer's publishers are indexed by this claim: without it every
        # token would be checked against every publisher of the issuer.
        lookup = _string(table, "lookup", where)
    require_jti = table.get("require_jti", PROVIDERS[provider].REQUIRES_JTI)
    if not isinstance(require_jti, bool):
        raise IssuerConfigError(f"{where}: require_jti must be true or false")
    return Issuer(
        url=url,
        provider=provider,
        require_jti=require_jti,
        algorithms=frozenset(algorithms),
        audience=_string(table, "audience", where) if "audience" in table else audience,
        leeway=own_leeway,
        jwks_uri=jwks_uri,
        jwks_hosts=frozenset(h.lower() for h in hosts),
        lookup=lookup,
    )


def _string(table: Mapping[str, Any], key: str, where: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value:
        raise IssuerConfigError(f"{where}: {key} must be a non-empty string")
    return value
