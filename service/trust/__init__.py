"""Which publishers a project trusts: the interface the exchange reads through.

TOML files (`toml.py`, the embedded default) or the database (`sql.py`, with
MINTGATE_TRUST_SOURCE=database); the claim checks do not change.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal, Protocol, runtime_checkable

from service.publishers.base import Publisher, Refusal

# Incident response (issue 21): refusals of the exchange, in PyPI's mint-token error format.
PUBLISHER_FROZEN: Final = "publisher-frozen"
PROJECT_ARCHIVED: Final = "project-archived"
PROJECT_QUARANTINED: Final = "project-quarantined"

ProjectState = Literal["active", "archived", "quarantined"]
PROJECT_STATES: Final[tuple[ProjectState, ...]] = ("active", "archived", "quarantined")


@dataclass(frozen=True, slots=True)
class Trusted:
    project: str
    publisher: Publisher
    # The store's id for this entry (trust/sql.py), so its last use can be recorded.
    ref: int | None = None
    # May stage, may not publish: its uploads always wait for a maintainer (the token says so).
    stage_only: bool = False
    # Archived projects are dropped from a grant; a quarantined one refuses the mint.
    project_state: ProjectState = "active"


class TrustUnavailable(Exception):
    """The trust store cannot answer now: the exchange refuses with a 503, never guesses."""


class TrustStore(Protocol):
    async def publishers_for(self, issuer: str, lookup_key: str) -> Sequence[Trusted]:
        """Every (project, publisher) for this exact issuer and casefolded lookup key.

        Never a frozen one: a frozen publisher trusts nothing, wherever it is asked.
        """
        ...

    async def pin_repository_id(self, trusted: Trusted, repository_id: str) -> Refusal | None:
        """Record the GitHub `repository_id` of this entry's first mint (a Match asked for it).

        None when it is pinned to this id now; a Refusal when another id is, or the entry
        cannot be pinned. Raises TrustUnavailable when the store cannot answer.
        """
        ...


@runtime_checkable
class FrozenTrust(Protocol):
    """A store that can also say which entries are frozen, so a refusal can name why.

    Asked only on the refusal path, after nothing trusted matched.
    """

    async def frozen_for(self, issuer: str, lookup_key: str) -> Sequence[Trusted]: ...


class StatesUnavailable(Exception):
    """A project's state cannot be known now: the gateway refuses the upload with a 503."""


def project_state(value: str | None) -> ProjectState:
    """A stored state; anything unknown counts as quarantined (fail closed)."""
    if value is None or value == "active":
        return "active"
    return "archived" if value == "archived" else "quarantined"


_PROJECT_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)


def normalize_project(name: str) -> str:
    """PEP 503 normalisation; raises ValueError for a name PEP 508 does not allow."""
    if not _PROJECT_NAME.match(name):
        raise ValueError(f"{name!r} is not a valid project name")
    return re.sub(r"[-_.]+", "-", name).lower()
