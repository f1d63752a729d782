"""Trusted publishers from the database (the default trust source).

SqlTrustStore answers the exchange's one question, by (issuer, lookup key) in
SQL, and rebuilds each row with its provider's `from_table`: the claim checks
are the TOML path's, unchanged; trust/index.py keeps its answers in memory and
SqlTrustFeed tells it what changed. SqlPendingTrust turns a matching pending
publisher into a project. What a mint records is in trust/records.py.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from service.issuers import Issuers
from service.publishers.base import (
    INVALID_PUBLISHER,
    ConfigError,
    Publisher,
    Refusal,
    refuse,
)
from service.store.base import AuditEvent, NameTaken, Store, StoreError, Transaction
from service.store.records import ACTOR_LENGTH
from service.store.records_publishing import (
    PendingPublisherRecord,
    PublisherSpec,
    TrustFeed,
)
from service.trust import Trusted, TrustUnavailable, project_state
from service.trust.pending import INVALID_PENDING_PUBLISHER, PendingTrusted
from service.trust.tables import rebuild

log = logging.getLogger(__name__)


@contextmanager
def _answering() -> Iterator[None]:
    # Fail closed with a 503: a database that cannot answer trusts nobody.
    try:
        yield
    except (SQLAlchemyError, StoreError, OSError) as exc:
        log.warning("trust store unavailable: %s", type(exc).__name__)
        raise TrustUnavailable(type(exc).__name__) from None


def _publisher(
    spec: PublisherSpec, issuers: Issuers, where: str, repository_id: str | None = None
) -> Publisher | None:
    try:
        return rebuild(spec, issuers, repository_id)
    except ConfigError as exc:
        # Configuration moved on under a stored row (issuer gone, preset changed):
        # that publisher trusts nothing until an owner fixes it.
        log.warning("skipping %s: %s", where, exc)
        return None


class SqlTrustStore:
    def __init__(self, store: Store, issuers: Issuers) -> None:
        self.store = store
        self.issuers = issuers

    async def publishers_for(self, issuer: str, lookup_key: str) -> Sequence[Trusted]:
        return await self._entries(issuer, lookup_key, frozen=False)

    async def frozen_for(self, issuer: str, lookup_key: str) -> Sequence[Trusted]:
        """The frozen entries only: for the exchange to say why it refused, never to trust."""
        return await self._entries(issuer, lookup_key, frozen=True)

    async def _entries(self, issuer: str, lookup_key: str, *, frozen: bool) -> list[Trusted]:
        with _answering():
            async with self.store.transaction() as tx:
                rows = await tx.publishers_for(issuer, lookup_key)
        out = []
        for row in rows:
            if (row.frozen_at is not None) != frozen:
                continue
            where = f"trusted publisher {row.id}"
            publisher = _publisher(row.spec, self.issuers, where, row.repository_id)
            if publisher is not None:
                out.append(
                    Trusted(
                        project=row.project,
                        publisher=publisher,
                        ref=row.id,
                        stage_only=row.stage_only,
                        project_state=project_state(row.project_state),
                    )
                )
        return out

    async def pin_repository_id(self, trusted: Trusted, repository_id: str) -> Refusal | None:
        """Record a GitHub publisher's first `repository_id`; refuse if another id won.

        A conditional write in its own transaction, before anything is signed: a
        database that cannot answer raises TrustUnavailable (the exchange's 503).
        """
        if trusted.ref is None:
            return _unpinnable(trusted, "it has no row to record the id on")
        with _answering():
            async with self.store.transaction() as tx:
                pinned = await tx.pin_publisher_repository_id(trusted.ref, repository_id)
        if pinned is None:
            return _unpinnable(trusted, "it was removed")
        if pinned != repository_id:
            log.warning(
                "publisher %s: repository_id %s refused, pinned %s",
                trusted.ref,
                repository_id,
                pinned,
            )
            return refuse("repository_id", f"id {pinned!r} (pinned at first use)", repository_id)
        return None


def _unpinnable(trusted: Trusted, why: str) -> Refusal:
    return Refusal(
        INVALID_PUBLISHER,
        f"repository_id: the publisher {trusted.publisher.identity!r} cannot be pinned: {why}",
    )


class SqlPendingTrust:
    def __init__(
        self,
        store: Store,
        issuers: Issuers,
        clock: Callable[[], float] = time.time,
        *,
        reified: Callable[[str, str], None] | None = None,
    ) -> None:
        self.store = store
        self.issuers = issuers
        self.clock = clock
        # Told (issuer, lookup key) of each publisher a reify made: the trust index forgets
        # the answer it holds, so this process's next mint finds the new publisher.
        self.reified = reified

    async def pending_for(self, issuer: str, lookup_key: str) -> Sequence[PendingTrusted]:
        with _answering():
            async with self.store.transaction() as tx:
                rows = await tx.pending_publishers_for(issuer, lookup_key, _at(self.clock()))
        out = []
        for row in rows:
            publisher = _publisher(row.spec, self.issuers, f"pending publisher {row.id}")
            if publisher is not None:
                invalid = row.invalidated_at is not None
                out.append(PendingTrusted(row.id, row.normalized_name, publisher, invalid))
        return out

    async def reify(self, pending: PendingTrusted, *, now: int) -> Trusted | Refusal:
        with _answering():
            try:
                async with self.store.transaction() as tx:
                    made = await self._reify(tx, pending, _at(now))
            except _Lost as lost:
                return lost.refusal
        if self.reified is not None and isinstance(made, Trusted):
            self.reified(pending.publisher.issuer, pending.publisher.lookup_key)
        return made

    async def _reify(
        self, tx: Transaction, pending: PendingTrusted, at: datetime
    ) -> Trusted | Refusal:
        record = await tx.pending_publisher_by_id(pending.ref)
        if record is None:
            return _invalid(pending.project, "was removed")
        # The name first: its unique index serialises racing exchanges, so the loser
        # waits here and then sees the winner's committed work (no deadlock with the
        # invalidation below, which only touches rows nobody has claimed yet).
        try:
            project = await tx.add_project(record.project_name, record.normalized_name, at)
        except NameTaken:
            again = await tx.pending_publisher_by_id(record.id)
            if again is not None and again.publisher_id is not None:
                # A concurrent exchange from this same publisher created it: trusted now.
                return Trusted(pending.project, pending.publisher, ref=again.publisher_id)
            voided = await tx.invalidate_pending_publishers(record.normalized_name, at)
            await _audit(tx, record, at, "pending-publisher:invalidated", count=voided)
            return _invalid(pending.project, "was created by someone else")
        if not await tx.claim_pending_publisher(record.id, at):
            # Voided or expired since the lookup: undo the project we just made.
            raise _Lost(_invalid(pending.project, "is no longer pending"))
        await tx.add_project_role(project.id, record.created_by_user_id, "owner", at)
        publisher = await tx.add_publisher(
            project.id, record.spec, source="api", created_by=record.created_by_user_id, now=at
        )
        await tx.link_pending_publisher(record.id, publisher.id)
        # Every other registration for the name loses it now.
        await tx.invalidate_pending_publishers(record.normalized_name, at)
        await _audit(tx, record, at, "project:created", subject=record.created_by_user_id)
        await _audit(tx, record, at, "role:added", subject=record.created_by_user_id, role="owner")
        await _audit(tx, record, at, "pending-publisher:reified", publisher_id=publisher.id)
        return Trusted(pending.project, pending.publisher, ref=publisher.id)


class SqlTrustFeed:
    """The change feed for trust/index.py; an outage raises TrustUnavailable."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def read(self, since: int, *, limit: int) -> TrustFeed:
        with _answering():
            return await self.store.read_trust_feed(since, limit=limit)


class _Lost(Exception):
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.code)
        self.refusal = refusal


def _invalid(project: str, why: str) -> Refusal:
    return Refusal(
        INVALID_PENDING_PUBLISHER,
        f"valid token, but the pending publisher for project {project!r} is not valid:"
        f" the project {why}; ask its owners to add this publisher",
    )


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


async def _audit(
    tx: Transaction,
    record: PendingPublisherRecord,
    at: datetime,
    event: str,
    *,
    subject: int | None = None,
    **details: Any,
) -> None:
    await tx.record(
        AuditEvent(
            event=event,
            actor=f"publisher:{record.spec.identity}"[:ACTOR_LENGTH],
            occurred_at=at,
            subject_user_id=subject,
            subject_project=record.normalized_name,
            details={"pending_publisher_id": record.id, **details},
        )
    )
