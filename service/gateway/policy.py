"""Per-project rules that are not about the token itself.

`trusted_publishing_only` keeps API tokens out of projects that turned them off.
`ProjectStates` (issue 21) says whether a project is active, archived (no uploads
at all) or quarantined (no trusted-publishing uploads; maintainers' API tokens
still work), and whether the database knows it (a stage-only token needs it to).
"""

from __future__ import annotations

from typing import Final, Protocol

from service.trust import ProjectState, StatesUnavailable

__all__ = ["StatesUnavailable"]

# The codes the gateway names in its plain-text refusals.
PROJECT_ARCHIVED: Final = "project-archived"
PROJECT_QUARANTINED: Final = "project-quarantined"
PUBLISHER_STAGE_ONLY: Final = "publisher-stage-only"


class ProjectPolicy(Protocol):
    async def trusted_publishing_only(self, project: str) -> bool:
        """True when `project` (PEP 503 normalised) accepts only trusted-publishing tokens."""
        ...


class ProjectStates(Protocol):
    async def state(self, project: str) -> ProjectState | None:
        """The state of `project` (PEP 503 normalised); None when no such project is stored.

        Raises StatesUnavailable when the store cannot answer.
        """
        ...


class OpenPolicy:
    """No project restricts itself (the default until projects can choose)."""

    async def trusted_publishing_only(self, project: str) -> bool:
        return False


def refusal_for(state: ProjectState | None, *, minted: bool) -> tuple[str, str] | None:
    """(code, sentence) when a token of this kind may not upload to a project in `state`."""
    if state == "archived":
        return PROJECT_ARCHIVED, "is archived: it accepts no uploads"
    if state == "quarantined" and minted:
        return PROJECT_QUARANTINED, (
            "is quarantined: trusted-publishing uploads are refused; a maintainer may upload"
            " with an API token"
        )
    return None
