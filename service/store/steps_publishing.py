"""Step groups of issue 5 (publishers, pending publishers, API tokens), joined into Transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from service.store.records_publishing import (
    ApiTokenRecord,
    MintedTokenRecord,
    PendingPublisherRecord,
    PublisherRecord,
    PublisherSource,
    PublisherSpec,
)


class PublisherSteps(Protocol):
    async def add_publisher(
        self,
        project_id: int,
        spec: PublisherSpec,
        *,
        source: PublisherSource,
        created_by: int | None,
        now: datetime,
    ) -> PublisherRecord:
        """Raises Duplicate when the project already trusts this exact publisher."""

    async def publishers_of(self, project_id: int) -> list[PublisherRecord]: ...

    async def publishers_for(self, issuer: str, lookup_key: str) -> list[PublisherRecord]: ...

    async def publishers_from(self, source: PublisherSource) -> list[PublisherRecord]: ...

    async def delete_publisher(self, project_id: int, publisher_id: int) -> bool: ...

    async def mark_publisher_used(
        self,
        publisher_ids: Sequence[int],
        at: datetime,
        run_id: str | None,
        *,
        unless_since: datetime | None = None,
    ) -> None:
        """Record a use; with `unless_since`, not on rows already used since then."""

    async def set_trusted_publishing_only(self, project_id: int, on: bool) -> None: ...

    async def pin_publisher_repository_id(
        self, publisher_id: int, repository_id: str
    ) -> str | None:
        """Pin the id unless one is pinned; the id pinned now (None: no such publisher)."""

    # Incident response (issue 21).
    async def publisher_by_id(self, publisher_id: int) -> PublisherRecord | None: ...

    async def set_publisher_frozen(self, publisher_id: int, at: datetime | None) -> bool:
        """Freeze (at a time) or unfreeze (None); False when it already was."""

    async def set_publisher_stage_only(self, publisher_id: int, on: bool) -> None: ...

    async def set_project_state(self, project_id: int, state: str) -> None: ...

    async def record_minted(self, tokens: Sequence[MintedTokenRecord]) -> None: ...

    async def record_mints(self, records: Sequence[bytes]) -> None:
        """Each mint's minted_tokens rows and `mint` audit events. A record is the mint as
        JSON: [at, issuer, run, jti, issued, expires, [project, ...], [[publisher_id,
        project, identity, repository], ...]], times in Unix seconds, one inner list per
        publisher the token was minted for (trust/records.py MintEntry writes it)."""

    async def minted_jtis(self, jtis: Sequence[str]) -> set[str]:
        """Those of `jtis` that minted_tokens holds."""

    async def minted_tokens(
        self,
        *,
        publisher_id: int | None,
        repository: str | None,
        unexpired_at: datetime,
        since: datetime | None,
        until: datetime | None,
    ) -> list[MintedTokenRecord]:
        """Unexpired tokens minted for the publisher and/or repository, issued in [since, until]."""


class PendingPublisherSteps(Protocol):
    async def add_pending_publisher(
        self,
        project_name: str,
        normalized: str,
        spec: PublisherSpec,
        *,
        created_by: int,
        now: datetime,
        expires_at: datetime,
    ) -> PendingPublisherRecord:
        """Raises Duplicate when the same publisher is pending for the same name."""

    async def pending_publishers_for(
        self, issuer: str, lookup_key: str, now: datetime
    ) -> list[PendingPublisherRecord]:
        """Unexpired and not yet reified, invalidated ones included; oldest first."""

    async def pending_publishers_of(self, user_id: int) -> list[PendingPublisherRecord]: ...

    async def pending_publisher_by_id(self, pending_id: int) -> PendingPublisherRecord | None: ...

    async def pending_registered_since(self, user_id: int, since: datetime) -> int: ...

    async def claim_pending_publisher(self, pending_id: int, now: datetime) -> bool:
        """Mark it reified if still valid; True for exactly one of concurrent claims."""

    async def link_pending_publisher(self, pending_id: int, publisher_id: int) -> None: ...

    async def invalidate_pending_publishers(self, normalized: str, now: datetime) -> int:
        """Void every unreified pending publisher for the name; how many."""

    async def delete_pending_publisher(self, pending_id: int, user_id: int) -> bool: ...


class ApiTokenSteps(Protocol):
    async def add_api_token(
        self,
        token_id: str,
        user_id: int,
        name: str,
        projects: Sequence[str] | None,
        *,
        now: datetime,
        expires_at: datetime,
    ) -> ApiTokenRecord: ...

    async def api_token_by_id(self, token_id: str) -> ApiTokenRecord | None: ...

    async def api_tokens_of(self, user_id: int) -> list[ApiTokenRecord]: ...

    async def revoke_api_token(self, token_id: str, at: datetime) -> bool:
        """True when this call revoked it (False: unknown or already revoked)."""

    async def mark_api_token_used(self, token_id: str, at: datetime) -> None: ...


class TrustFeedSteps(Protocol):
    async def trim_trust_changes(self, before: int) -> int:
        """Delete changes recorded before `before` (Unix seconds); how many went."""
