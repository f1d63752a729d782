"""Issue an API token: the authority block, signed with the root key.

Pure: the caller passes `now` and records the returned token id (listing,
last use, revocation). Project names are stored PEP 503 normalised, the form
the verifier compares against.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from biscuit_auth import BiscuitBuilder

from service.apitokens import schema
from service.apitokens.format import serialize
from service.apitokens.keys import RootKey
from service.trust import normalize_project

# A fallback credential still expires: a year at most, so a forgotten one dies.
MAX_LIFETIME = 366 * 86400


@dataclass(frozen=True, slots=True)
class ApiTokenGrant:
    user_id: str
    user_name: str
    # None: every project the user maintains at upload time (checked then, not now).
    projects: Sequence[str] | None
    expires: int


@dataclass(frozen=True, slots=True)
class IssuedApiToken:
    token: str
    token_id: str
    projects: tuple[str, ...] | None
    expires: int


def issue(root: RootKey, grant: ApiTokenGrant, *, now: int) -> IssuedApiToken:
    """Raises ValueError for an empty or invalid project list or an expiry out of bounds."""
    projects = None if grant.projects is None else _normalised(grant.projects)
    if not now < grant.expires <= now + MAX_LIFETIME:
        raise ValueError(f"expiry must be after now and within {MAX_LIFETIME // 86400} days")
    if not grant.user_id or not grant.user_name:
        raise ValueError("user id and name are required")
    token_id = secrets.token_urlsafe(18)
    source, params = schema.authority(
        token_id=token_id,
        user_id=grant.user_id,
        user_name=grant.user_name,
        root_key=root.public_text,
        projects=projects,
        expires=grant.expires,
    )
    biscuit = BiscuitBuilder(source, params).build(root.private)
    return IssuedApiToken(serialize(biscuit.to_base64()), token_id, projects, grant.expires)


def _normalised(projects: Sequence[str]) -> tuple[str, ...]:
    if isinstance(projects, str):
        # A bare string is a sequence of letters: never what the caller meant.
        raise ValueError("projects: expected a list of names, got one string")
    names = tuple(sorted({normalize_project(p) for p in projects}))
    if not names:
        raise ValueError("projects: name at least one, or None for all the user's projects")
    return names
