"""What each mint leaves in SQL: minted_tokens (what an incident revokes) and its
`mint` audit events, and the reads an incident and the mint journal make of them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final, NamedTuple

from sqlalchemy import select, text

from service.store.models import AuditEventRow
from service.store.models_publishing import MintedToken
from service.store.records import ACTOR_LENGTH, AuditEvent
from service.store.records_publishing import MintedTokenRecord
from service.store.sql_audit import audit_columns
from service.store.sql_common import Steps

# Both tables' rows of a batch from one statement: the batch arrives as one JSON
# array of the records the mint journal already holds, and PostgreSQL unpacks them and
# builds the rows, the times and the event's details itself. Python's share of a record
# is then one join: building the two rows' objects, their JSON details and binding
# every value had been about 35 us a record, in the serving process.
_RECORD_MINTS: Final = text(
    """
    WITH minted AS (
        SELECT (e->>0)::float8 AS at, e->>1 AS issuer, e->>2 AS run, e->>3 AS jti,
               (e->>4)::float8 AS issued, (e->>5)::float8 AS expires, e->6 AS projects,
               (u->>0)::integer AS publisher_id, u->>1 AS project, u->>2 AS identity,
               u->>3 AS repository
        FROM jsonb_array_elements(CAST(:records AS jsonb)) AS e
        CROSS JOIN LATERAL jsonb_array_elements(e->7) AS u
    ), tokens AS (
        INSERT INTO minted_tokens
            (jti, publisher_id, project, issuer, repository, issued_at, expires_at)
        SELECT jti, publisher_id, project, issuer, repository,
               to_timestamp(issued), to_timestamp(expires)
        FROM minted
    )
    INSERT INTO audit_events (occurred_at, event, actor, subject_project, details)
    SELECT to_timestamp(at), 'mint', left('publisher:' || identity, :actor_length), project,
           jsonb_build_object(
               'issuer', issuer, 'publisher_id', publisher_id, 'publisher', identity,
               'projects', projects, 'jti', jti, 'run_id', run)
    FROM minted
    """
)


class MintRow(NamedTuple):
    """One publisher's share of a mint record: a minted_tokens row and a `mint` event."""

    at: float
    issuer: str
    run: str | None
    jti: str
    issued: int
    expires: int
    projects: list[str]
    publisher_id: int | None
    project: str
    identity: str
    repository: str


class MintedSql(Steps):
    async def record_mints(self, records: Sequence[bytes]) -> None:
        if not records:
            return
        if self.session.get_bind().dialect.name == "postgresql":
            batch = b"[" + b",".join(records) + b"]"
            await self.session.execute(
                _RECORD_MINTS, {"records": batch.decode(), "actor_length": ACTOR_LENGTH}
            )
            return
        rows = [row for record in records for row in _rows(record)]
        await self.record_minted([_token(row) for row in rows])
        await self.insert_many(AuditEventRow, [audit_columns(_mint_event(row)) for row in rows])

    async def record_minted(self, tokens: Sequence[MintedTokenRecord]) -> None:
        await self.insert_many(
            MintedToken,
            [
                {
                    "jti": t.jti,
                    "publisher_id": t.publisher_id,
                    "project": t.project,
                    "issuer": t.issuer,
                    "repository": t.repository,
                    "issued_at": t.issued_at,
                    "expires_at": t.expires_at,
                }
                for t in tokens
            ],
        )

    async def minted_jtis(self, jtis: Sequence[str]) -> set[str]:
        if not jtis:
            return set()
        rows = await self.session.scalars(
            select(MintedToken.jti).where(MintedToken.jti.in_(set(jtis))).distinct()
        )
        return set(rows)

    async def minted_tokens(
        self,
        *,
        publisher_id: int | None,
        repository: str | None,
        unexpired_at: datetime,
        since: datetime | None,
        until: datetime | None,
    ) -> list[MintedTokenRecord]:
        """Tokens minted for the publisher or repository, unexpired, issued in [since, until]."""
        query = select(MintedToken).where(MintedToken.expires_at > unexpired_at)
        if publisher_id is not None:
            query = query.where(MintedToken.publisher_id == publisher_id)
        if repository is not None:
            query = query.where(MintedToken.repository == repository)
        if since is not None:
            query = query.where(MintedToken.issued_at >= since)
        if until is not None:
            query = query.where(MintedToken.issued_at <= until)
        rows = await self.session.scalars(query.order_by(MintedToken.id))
        return [
            MintedTokenRecord(
                jti=r.jti,
                publisher_id=r.publisher_id,
                project=r.project,
                issuer=r.issuer,
                repository=r.repository,
                issued_at=r.issued_at,
                expires_at=r.expires_at,
            )
            for r in rows
        ]


def _rows(record: bytes) -> list[MintRow]:
    at, issuer, run, jti, issued, expires, projects, uses = json.loads(record)
    return [
        MintRow(at, issuer, run, jti, issued, expires, projects, *use)  # use: 4 columns
        for use in uses
    ]


def _token(row: MintRow) -> MintedTokenRecord:
    return MintedTokenRecord(
        jti=row.jti,
        publisher_id=row.publisher_id,
        project=row.project,
        issuer=row.issuer,
        repository=row.repository,
        issued_at=_at(row.issued),
        expires_at=_at(row.expires),
    )


def _mint_event(row: MintRow) -> AuditEvent:
    """The `mint` audit event of a row, as _RECORD_MINTS builds it on PostgreSQL."""
    return AuditEvent(
        event="mint",
        actor=f"publisher:{row.identity}"[:ACTOR_LENGTH],
        occurred_at=_at(row.at),
        subject_project=row.project,
        details={
            "issuer": row.issuer,
            "publisher_id": row.publisher_id,
            "publisher": row.identity,
            "projects": list(row.projects),
            "jti": row.jti,
            "run_id": row.run,
        },
    )


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
