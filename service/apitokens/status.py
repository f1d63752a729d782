"""What verification needs from state, as protocols the store (or a fake) implements.

Each is asked only after the token itself held. An implementation that cannot
answer raises StatusUnavailable and the upload is refused, never accepted.
`ProjectPolicy` has the shape of service.gateway.policy.ProjectPolicy, so the
gateway's policy object serves both.
"""

from __future__ import annotations

from typing import Protocol


class StatusUnavailable(Exception):
    """The store cannot answer now; the verifier fails closed."""


class TokenStatus(Protocol):
    async def is_revoked(self, token_id: str) -> bool:
        """True once the token (and so every narrowed copy of it) was revoked."""
        ...


class UserStatus(Protocol):
    async def has_two_factor(self, user_id: str) -> bool: ...

    async def maintains(self, user_id: str, project: str) -> bool:
        """True when the user may upload to `project` (PEP 503 normalised) today."""
        ...


class ProjectPolicy(Protocol):
    async def trusted_publishing_only(self, project: str) -> bool:
        """True when `project` (PEP 503 normalised) refuses API tokens."""
        ...
