"""Per-project rules that are not about the token itself: the seam for later switches.

Today every accepted upload carries a mintgate token, so the only question a
policy answers is what to tell someone who came with another kind of token.
When API tokens are verified here, `trusted_publishing_only` is what keeps them
out of projects that turned them off.
"""

from __future__ import annotations

from typing import Protocol


class ProjectPolicy(Protocol):
    async def trusted_publishing_only(self, project: str) -> bool:
        """True when `project` (PEP 503 normalised) accepts only trusted-publishing tokens."""
        ...


class OpenPolicy:
    """No project restricts itself (the default until projects can choose)."""

    async def trusted_publishing_only(self, project: str) -> bool:
        return False
