"""Records of issue 5: trusted and pending publishers, API token metadata. Frozen values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

PublisherSource = Literal["api", "sync"]


@dataclass(frozen=True, slots=True)
class PublisherSpec:
    """A publisher as validated from its table: what the store keeps of it.

    `config` is the whole TOML-equivalent table, provider and issuer included,
    so the provider's `from_table` can rebuild the very same Publisher.
    """

    provider: str
    issuer: str
    lookup_key: str
    identity: str
    fingerprint: str
    config: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class PublisherRecord:
    id: int
    project: str  # PEP 503 normalised
    spec: PublisherSpec
    source: PublisherSource
    created_by_user_id: int | None
    created_at: datetime
    last_used_at: datetime | None
    last_run_id: str | None
    # Issue 21: a frozen publisher trusts nothing; a stage-only one never publishes directly.
    frozen_at: datetime | None = None
    stage_only: bool = False
    project_state: str = "active"  # the project's (issue 21), read with the row
    # GitHub's repository_id pinned by the first mint (None: not yet, or the table names it).
    repository_id: str | None = None


@dataclass(frozen=True, slots=True)
class MintedTokenRecord:
    """A minted token, once per publisher it was minted for (issue 21: what a freeze revokes)."""

    jti: str
    publisher_id: int | None
    project: str
    issuer: str
    repository: str  # the publisher's lookup key, casefolded
    issued_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class PendingPublisherRecord:
    id: int
    project_name: str  # as the user typed it: the project is created with this name
    normalized_name: str
    spec: PublisherSpec
    created_by_user_id: int
    created_at: datetime
    expires_at: datetime
    invalidated_at: datetime | None
    reified_at: datetime | None
    publisher_id: int | None


@dataclass(frozen=True, slots=True)
class ApiTokenRecord:
    """What is known of an API token; never the token itself."""

    id: str
    user_id: int
    name: str
    projects: tuple[str, ...] | None  # None: every project the user maintains
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class TrustFeed:
    """The trust change feed as one reader found it (service/trust/index.py follows it)."""

    version: int  # every change up to here is committed and listed (or trimmed)
    trimmed_through: int  # changes up to here were swept: a reader behind it drops all
    keys: tuple[tuple[str, str], ...]  # (issuer, lookup key) changed after the version asked
    truncated: bool = False  # more changed than were listed: drop all
