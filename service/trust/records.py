"""What one mint leaves behind, and the writer that records a batch of them.

Every mint on the database source leaves: each used publisher's last use, one
`mint` audit event per project, and one `minted_tokens` row per project (jti,
publisher, repository, issued, expiry) so an incident can revoke what a publisher
minted. A `MintEntry` is that record as plain data, so it can wait in the mint
journal (trust/journal.py) as JSON as well as in memory; `RecordWriter` turns a
batch into at most two statements in one transaction (on PostgreSQL; three on
SQLite).

Two ways to get it durable before the token is answered:
- `SqlMintRecorder` (no Redis): the callers of concurrent mints share one
  transaction (group commit) and each returns once it has committed;
- the mint journal (Redis): the entry is written with the replay claim, in the
  same round trip, and moved into SQL by a drainer.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from json.encoder import encode_basestring_ascii as _text_json
from typing import Final, NamedTuple

from cachetools import LRUCache
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

from service.minting.tokens import Minted, Planned
from service.publishers.base import Claims
from service.store.base import Store, StoreError
from service.store.records_publishing import MintedTokenRecord
from service.trust import Trusted
from service.trust.groupcommit import GroupCommit

# Where each provider puts the run that asked (the first present wins).
RUN_ID_CLAIMS: Final = (
    "run_id",  # GitHub
    "pipeline_id",  # GitLab
    "build_id",  # Buildkite
    "oidc.circleci.com/pipeline-id",
    "wf_id",  # Semaphore
)
COLUMN_LENGTH = 255
# A publisher's last use is written at most this often; its every use is in the audit trail.
LAST_USED_EVERY = timedelta(seconds=10)


class RecordUnavailable(Exception):
    """A mint's record cannot be kept now: mint nothing (the exchange answers 503)."""


def sql_refusal(exc: BaseException) -> BaseException | None:
    """The error with which SQL refused what a record holds (a value too long, a
    constraint), or None when `exc` is not one (an outage, a bug).

    asyncpg's executemany reports a data error as a plain DBAPIError, so the SQLSTATE
    class decides: 22 data exception, 23 integrity constraint violation. The app's
    store (store/lazy.py) reports every driver error as StoreError, the driver's
    error as its cause: the cause decides.
    """
    if isinstance(exc, StoreError):
        return None if exc.__cause__ is None else sql_refusal(exc.__cause__)
    if isinstance(exc, IntegrityError | DataError):
        return exc
    if not isinstance(exc, DBAPIError):
        return None
    state = getattr(exc.orig, "sqlstate", None)
    return exc if isinstance(state, str) and state[:2] in ("22", "23") else None


def refused_by_sql(exc: BaseException) -> bool:
    """SQL refused what a record holds: not an outage, so the other records of its batch
    can still be written (sql_refusal)."""
    return sql_refusal(exc) is not None


def run_id(claims: Claims) -> str | None:
    for name in RUN_ID_CLAIMS:
        value = claims.get(name)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)[:COLUMN_LENGTH]
    return None


# One matched publisher of a mint: (publisher id, project, identity, repository: the
# lookup key, as minted_tokens keeps it). A plain tuple of plain values, not a class:
# the cyclic garbage collector stops tracking such a tuple the first time it sees it,
# and under load about LINGER seconds of records wait in memory for the drain, so
# each of them would otherwise be walked again by every collection until then.
Use = tuple[int | None, str, str, str]


# A MintEntry's fields as a plain tuple, which the collector stops tracking (as `Use`);
# a named tuple is a subclass, which it tracks for as long as it lives.
Fields = tuple[float, str, str | None, str, int, int, tuple[str, ...], tuple[Use, ...], bytes]


def _use_json(use: Use) -> str:
    ref, project, identity, repository = use
    ref_json = "null" if ref is None else int(ref)
    return f"[{ref_json},{_text_json(project)},{_text_json(identity)},{_text_json(repository)}]"


class MintEntry(NamedTuple):
    """One mint's record.

    A named tuple rather than a frozen dataclass: one is built on every mint, and a
    frozen dataclass sets each of its fields through object.__setattr__: about 3 us of
    the 9 a record cost (timeit, on a machine where a whole mint takes about 1 ms).
    Build it with `MintEntry.of`, which encodes it once.
    """

    at: float
    issuer: str
    run: str | None
    jti: str
    issued: int
    expires: int
    projects: tuple[str, ...]
    uses: tuple[Use, ...]
    # The entry as JSON, in the store's mint record format (Transaction.record_mints),
    # made once: the journal sends it to Redis, the drain hands it to SQL as it is.
    encoded: bytes

    @classmethod
    def of(
        cls,
        at: float,
        issuer: str,
        run: str | None,
        jti: str,
        issued: int,
        expires: int,
        projects: tuple[str, ...],
        uses: tuple[Use, ...],
    ) -> MintEntry:
        # Formatted rather than built by json.dumps, which was half of a record's cost on
        # every mint, and whose lists and encoder object fed the collector. Every string
        # goes through json's own escaper: the text is what json.dumps would write.
        encoded = _head(at, issuer, run, jti, issued, expires) + _tail(
            projects, [_use_json(use) for use in uses]
        )
        return cls(at, issuer, run, jti, issued, expires, projects, uses, encoded.encode())

    def minted_tokens(self) -> list[MintedTokenRecord]:
        """The minted_tokens rows this entry becomes: one per publisher it used."""
        return [
            MintedTokenRecord(
                jti=self.jti,
                publisher_id=ref,
                project=project,
                issuer=self.issuer,
                repository=repository,
                issued_at=_at(self.issued),
                expires_at=_at(self.expires),
            )
            for ref, project, _, repository in self.uses
        ]

    @classmethod
    def from_json(cls, raw: bytes) -> MintEntry:
        """Raises ValueError (json.JSONDecodeError included) or TypeError on a bad entry."""
        at, issuer, run, jti, issued, expires, projects, uses = json.loads(raw)
        entry = cls.of(
            at=float(at),
            issuer=_text(issuer),
            run=None if run is None else _text(run),
            jti=_text(jti),
            issued=int(issued),
            expires=int(expires),
            projects=tuple(_text(p) for p in projects),
            uses=tuple(
                (None if ref is None else int(ref), _text(p), _text(i), _text(r))
                for ref, p, i, r in uses
            ),
        )
        if not entry.uses:
            raise ValueError("a mint entry names no publisher")
        return entry


def mint_fields(
    issuer: str, claims: Claims, used: Sequence[Trusted], minted: Planned | Minted, at: float
) -> Fields:
    """A mint's record as the plain tuple the journal holds: what `MintEntry.of` makes of
    the same mint, with each publisher's share of the JSON formatted once (`_parts`).

    Built on every mint, in the request: timed inside a loaded process, formatting every
    publisher's part anew was about 7 us a mint, several times its cost alone.
    """
    run = run_id(claims)
    issued = minted.issued or int(at)
    projects = minted.projects
    parts = [_parts(t) for t in used]
    uses: tuple[Use, ...]
    if len(parts) == 1 and projects == (parts[0].alone[0][1],):  # its own project only
        uses, tail = parts[0].alone, parts[0].alone_tail
    else:
        uses = tuple([part.alone[0] for part in parts])
        tail = _tail(projects, [part.use_json for part in parts])
    encoded = (_head(at, issuer, run, minted.jti, issued, minted.expires) + tail).encode()
    return (at, issuer, run, minted.jti, issued, minted.expires, projects, uses, encoded)


def mint_entry(
    issuer: str, claims: Claims, used: Sequence[Trusted], minted: Planned | Minted, at: float
) -> MintEntry:
    return MintEntry(*mint_fields(issuer, claims, used, minted, at))


def _head(at: float, issuer: str, run: str | None, jti: str, issued: int, expires: int) -> str:
    """A record's JSON up to its projects."""
    run_json = "null" if run is None else _text_json(run)
    return (
        f"[{float(at)!r},{_text_json(issuer)},{run_json},{_text_json(jti)},"
        f"{int(issued)},{int(expires)},"
    )


def _tail(projects: Sequence[str], uses_json: Sequence[str]) -> str:
    """A record's JSON from its projects on."""
    return f"[{','.join(map(_text_json, projects))}],[{','.join(uses_json)}]]"


class _Parts(NamedTuple):
    """What a publisher adds to each record of its mints, formatted once."""

    trusted: Trusted
    alone: tuple[Use]  # its Use, as the uses of a mint that used it alone
    use_json: str
    alone_tail: str  # the JSON tail of a mint that used it alone, for its one project


# Keyed by the Trusted object's id and checked by identity: the cache holds the object,
# so its id is not reused while it is cached, and both it and its publisher are frozen,
# so the parts stay true. A publisher the index loads anew is a new object: a miss.
_PARTS: dict[int, _Parts] = {}
PARTS_HELD = 4096


def _parts(trusted: Trusted) -> _Parts:
    held = _PARTS.get(id(trusted))
    if held is not None and held.trusted is trusted:
        return held
    publisher = trusted.publisher
    use = (trusted.ref, trusted.project, publisher.identity, publisher.lookup_key[:COLUMN_LENGTH])
    use_json = _use_json(use)
    held = _Parts(trusted, (use,), use_json, _tail((trusted.project,), (use_json,)))
    if len(_PARTS) >= PARTS_HELD:
        _PARTS.clear()
    _PARTS[id(trusted)] = held
    return held


class RecordWriter:
    """Writes batches of entries, one transaction each.

    It remembers when it last wrote each publisher's last use, and leaves that UPDATE
    out of a batch for publishers it wrote less than LAST_USED_EVERY ago: most batches
    are then the one statement of Transaction.record_mints (two INSERTs on SQLite).
    (The UPDATE's own condition still spares rows another replica wrote.)
    """

    def __init__(self, store: Store, *, remembered: int = 100_000) -> None:
        self.store = store
        self._used: LRUCache[int, float] = LRUCache(remembered)

    async def write(self, entries: Sequence[MintEntry], *, again: bool = False) -> None:
        """`again`: the batch may have been written before (the journal delivers at least
        once), so entries whose jti minted_tokens holds are skipped: written once."""
        every = LAST_USED_EVERY.total_seconds()
        async with self.store.transaction() as tx:
            if again:
                done = await tx.minted_jtis([e.jti for e in entries])
                entries = [e for e in entries if e.jti not in done]
            # The latest use of each publisher in the batch is what last_used_at keeps. What
            # was written before is asked once a publisher, not once an entry: a read of
            # the LRUCache is several Python calls, and a batch is hundreds of entries.
            latest: dict[int, MintEntry] = {}
            for entry in entries:
                for ref, _, _, _ in entry.uses:
                    if ref is not None and (ref not in latest or entry.at >= latest[ref].at):
                        latest[ref] = entry
            latest = {
                ref: entry
                for ref, entry in latest.items()
                if entry.at - self._used.get(ref, 0) >= every
            }
            by_use: dict[tuple[float, str | None], list[int]] = {}
            for ref, entry in latest.items():
                by_use.setdefault((entry.at, entry.run), []).append(ref)
            for (at, run), refs in by_use.items():
                when = _at(at)
                await tx.mark_publisher_used(refs, when, run, unless_since=when - LAST_USED_EVERY)
            await tx.record_mints([entry.encoded for entry in entries])
        for ref, entry in latest.items():  # committed
            self._used[ref] = entry.at


class SqlMintRecorder:
    """Each mint's record committed before its token is answered (group commit); an
    outage raises to the exchange, which then answers 503 rather than mint without a
    trail."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.writer = RecordWriter(store)
        self.clock = clock
        self.commits: GroupCommit[MintEntry] = GroupCommit(
            self.writer.write, isolate=refused_by_sql
        )

    async def minted(
        self, issuer: str, claims: Claims, used: Sequence[Trusted], minted: Minted
    ) -> None:
        await self.commits.submit(mint_entry(issuer, claims, used, minted, self.clock()))

    async def aclose(self) -> None:
        await self.commits.aclose()


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {type(value).__name__}")
    return value
