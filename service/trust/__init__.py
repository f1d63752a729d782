"""Which publishers a project trusts: the interface the exchange reads through.

TOML files (`toml.py`, the embedded default) or the database (`sql.py`, with
MINTGATE_TRUST_SOURCE=database); the claim checks do not change.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from service.publishers.base import Publisher


@dataclass(frozen=True, slots=True)
class Trusted:
    project: str
    publisher: Publisher
    # The store's id for this entry (trust/sql.py), so its last use can be recorded.
    ref: int | None = None


class TrustUnavailable(Exception):
    """The trust store cannot answer now: the exchange refuses with a 503, never guesses."""


class TrustStore(Protocol):
    async def publishers_for(self, issuer: str, lookup_key: str) -> Sequence[Trusted]:
        """Every (project, publisher) for this exact issuer and casefolded lookup key."""
        ...


_PROJECT_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)


def normalize_project(name: str) -> str:
    """PEP 503 normalisation; raises ValueError for a name PEP 508 does not allow."""
    if not _PROJECT_NAME.match(name):
        raise ValueError(f"{name!r} is not a valid project name")
    return re.sub(r"[-_.]+", "-", name).lower()
