"""Trusted publishers from a TOML file under config/.

    [[project.sampleproject.publisher]]
    provider = "github"
    repository = "octo/sampleproject"
    ...

Loaded and validated once at start-up; an error names the file, the table and
the key, and stops start-up.
"""

from __future__ import annotations

import tomllib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from service.issuers import Issuers
from service.publishers import PROVIDERS
from service.publishers.base import INVALID_PUBLISHER, ConfigError, Publisher, Refusal
from service.publishers.github import GitHubPublisher
from service.trust import Trusted, normalize_project


class TrustConfigError(ValueError):
    pass


class TomlTrustStore:
    """`frozen` entries (`frozen = true` in their table) are kept apart: never trusted."""

    def __init__(self, trusted: Sequence[Trusted], frozen: Sequence[Trusted] = ()) -> None:
        self._index = _indexed(trusted)
        self._frozen = _indexed(frozen)

    async def publishers_for(self, issuer: str, lookup_key: str) -> Sequence[Trusted]:
        return self._index.get((issuer, lookup_key), ())

    async def frozen_for(self, issuer: str, lookup_key: str) -> Sequence[Trusted]:
        return self._frozen.get((issuer, lookup_key), ())

    async def pin_repository_id(self, trusted: Trusted, repository_id: str) -> Refusal | None:
        # A file records nothing: load_trust requires the id, so this answers only an
        # entry built some other way, and refuses it rather than trust it unpinned.
        return Refusal(
            INVALID_PUBLISHER,
            f"repository_id: {trusted.publisher.identity!r} must name it in the trust file",
        )

    def __len__(self) -> int:
        return sum(len(v) for v in self._index.values())


def _indexed(entries: Sequence[Trusted]) -> dict[tuple[str, str], tuple[Trusted, ...]]:
    index: dict[tuple[str, str], list[Trusted]] = defaultdict(list)
    for entry in entries:
        index[entry.publisher.issuer, entry.publisher.lookup_key].append(entry)
    return {key: tuple(found) for key, found in index.items()}


def load_trust(path: Path, issuers: Issuers) -> TomlTrustStore:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise TrustConfigError(f"{path}: {exc}") from None
    if set(document) - {"project"}:
        raise TrustConfigError(f"{path}: unknown top-level key {sorted(set(document))[0]!r}")
    projects = document.get("project", {})
    if not isinstance(projects, dict):
        raise TrustConfigError(f"{path}: [project] must be a table of projects")
    trusted: list[tuple[Trusted, bool]] = []
    seen: dict[str, str] = {}
    for name, project in projects.items():
        where = f"{path}: [project.{name}]"
        try:
            normalized = normalize_project(name)
        except ValueError as exc:
            raise TrustConfigError(f"{where}: {exc}") from None
        if normalized in seen:
            raise TrustConfigError(f"{where}: same project as [project.{seen[normalized]}]")
        seen[normalized] = name
        trusted.extend(_project(normalized, project, where, issuers))
    return TomlTrustStore(
        [entry for entry, frozen in trusted if not frozen],
        [entry for entry, frozen in trusted if frozen],
    )


# Keys of a publisher table that are about the trust entry, not the publisher's claims.
ENTRY_KEYS = ("frozen", "stage_only")


def _project(name: str, project: Any, where: str, issuers: Issuers) -> list[tuple[Trusted, bool]]:
    if not isinstance(project, dict) or set(project) - {"publisher"}:
        raise TrustConfigError(f"{where}: expected only [[project.<name>.publisher]] tables")
    tables = project.get("publisher", [])
    if not isinstance(tables, list) or not tables:
        raise TrustConfigError(f"{where}: expected at least one [[...publisher]] table")
    out = []
    for index, table in enumerate(tables):
        here = f"{where} publisher #{index + 1}"
        if not isinstance(table, dict):
            raise TrustConfigError(f"{here}: expected a table")
        flags = {key: table.get(key, False) for key in ENTRY_KEYS}
        for key, value in flags.items():
            if not isinstance(value, bool):
                raise TrustConfigError(f"{here}: {key}: expected true or false, got {value!r}")
        rest = {k: v for k, v in table.items() if k not in ENTRY_KEYS}
        try:
            publisher = publisher_from_table(rest, issuers)
            if isinstance(publisher, GitHubPublisher) and publisher.repository_id is None:
                # Nothing could record a pin at first use: the file names the id.
                raise ConfigError("repository_id", "is required in a trust file")
            entry = Trusted(project=name, publisher=publisher, stage_only=flags["stage_only"])
            out.append((entry, flags["frozen"]))
        except ConfigError as exc:
            raise TrustConfigError(f"{here}: {exc.key}: {exc.message}") from None
    return out


def publisher_from_table(table: Mapping[str, Any], issuers: Issuers) -> Publisher:
    """One publisher table (TOML, or the JSON a database keeps) -> its Publisher.

    Raises ConfigError naming the key; trust/sql.py builds database rows through here too,
    so a publisher means the same wherever it is stored.
    """
    provider = table.get("provider")
    if not isinstance(provider, str) or provider not in PROVIDERS:
        raise ConfigError("provider", f"expected one of {sorted(PROVIDERS)}, got {provider!r}")
    module = PROVIDERS[provider]
    issuer = table.get("issuer", module.DEFAULT_ISSUER)
    if issuer is None:
        raise ConfigError("issuer", f"is required for provider {provider!r} (no default issuer)")
    if not isinstance(issuer, str) or issuer not in issuers:
        raise ConfigError("issuer", f"{issuer!r} is not a configured issuer")
    if issuers[issuer].provider != provider:
        raise ConfigError("issuer", f"{issuer!r} is configured for {issuers[issuer].provider!r}")
    rest = {k: v for k, v in table.items() if k not in {"provider", "issuer"}}
    publisher = module.from_table(rest, issuer=issuer)
    # A custom table names its lookup claim: the exchange indexes by its issuer's.
    named = getattr(publisher, "lookup_claim", None)
    if named is not None and named != issuers[issuer].lookup_claim:
        expected = issuers[issuer].lookup_claim
        raise ConfigError("lookup", f"expected {expected!r} (issuer {issuer!r}), got {named!r}")
    return publisher
