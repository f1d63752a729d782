"""Pending publishers, as the exchange sees them: asked only when no trusted publisher matched.

A pending publisher names a project that does not exist yet. The first
exchange it matches creates the project (its registrant the owner) and turns
it into a trusted publisher, in one transaction (trust/sql.py). If the name
was taken another way meanwhile, the match is refused, never granted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from service.publishers.base import Claims, Match, Publisher, Refusal
from service.trust import Trusted

INVALID_PENDING_PUBLISHER: Final = "invalid-pending-publisher"


@dataclass(frozen=True, slots=True)
class PendingTrusted:
    ref: int
    project: str  # PEP 503 normalised
    publisher: Publisher
    # The name was taken another way: matching it earns a refusal that says so.
    invalid: bool


class PendingTrust(Protocol):
    async def pending_for(self, issuer: str, lookup_key: str) -> Sequence[PendingTrusted]:
        """Unexpired, unreified pending publishers for the key, oldest first."""
        ...

    async def reify(self, pending: PendingTrusted, *, now: int) -> Trusted | Refusal:
        """Create the project with its owner and trust the publisher; one transaction."""
        ...


async def adopt(
    pending: PendingTrust, issuer: str, lookup_key: str, claims: Claims, now: int
) -> tuple[Trusted, Match] | Refusal | None:
    """None when no pending publisher matches (the exchange's own refusal stands)."""
    matched: list[tuple[PendingTrusted, Match]] = []
    for entry in await pending.pending_for(issuer, lookup_key):
        outcome = entry.publisher.verify(claims, now=now)
        if isinstance(outcome, Match):
            matched.append((entry, outcome))
    if not matched:
        return None
    valid = [(entry, match) for entry, match in matched if not entry.invalid]
    if not valid:
        return Refusal(
            INVALID_PENDING_PUBLISHER,
            f"valid token, but project {matched[0][0].project!r} was created by someone else"
            " after this pending publisher was registered; ask its owners to add the publisher",
        )
    # Oldest first: the earliest registration for this publisher wins the name.
    entry, match = valid[0]
    trusted = await pending.reify(entry, now=now)
    return trusted if isinstance(trusted, Refusal) else (trusted, match)
