"""RFC 8693 token exchange as narrowing: fewer projects, a shorter life, never more.

Pure: the request's parameters in, an `ExchangeRequest` or an `OAuthError`
out; a verified token and `now` in, the narrowed token's claims out. The
narrowed token records the jtis it descends from (`narrowed_from`) so that
revoking any ancestor revokes it too (see `Verifier._unrevoked`).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from service.trust import normalize_project
from service.verifier import MAX_ANCESTORS, NARROWED_FROM, VerifiedToken

TOKEN_EXCHANGE: Final = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TOKEN_TYPE: Final = "urn:ietf:params:oauth:token-type:jwt"
PROJECT_SCOPE: Final = "project:"
# The token's own scope as introspection reports it; harmless to repeat in a request.
UPLOAD_SCOPE: Final = "upload"
MAX_SCOPE_ENTRIES = 100
# Who, how and from which run: carried over unchanged, so a narrowed token
# tells an auditor exactly what the original did. Anything else is dropped.
# stage_only (issue 21): a narrowed token must stage wherever its parent had to.
CARRIED = ("iss", "aud", "sub", "provider", "publishers", "provenance", "stage_only")
# Token exchange parameters we do not act on: refused rather than ignored,
# since a client sending them expects something we would not do.
UNSUPPORTED = ("actor_token", "actor_token_type")


@dataclass(frozen=True, slots=True)
class OAuthError:
    """RFC 6749 5.2 error: a registered code and a sentence that never carries a token."""

    error: str
    description: str


@dataclass(frozen=True, slots=True)
class ExchangeRequest:
    subject_token: str
    projects: frozenset[str] | None  # None: keep every project of the subject token
    expires_in: int | None  # None: keep the subject token's exp


def parse_exchange(form: Mapping[str, str]) -> ExchangeRequest | OAuthError:
    grant_type = form.get("grant_type")
    if grant_type is None:
        return OAuthError("invalid_request", "grant_type is required")
    if grant_type != TOKEN_EXCHANGE:
        return OAuthError("unsupported_grant_type", f"grant_type: expected {TOKEN_EXCHANGE}")
    subject = form.get("subject_token")
    if not subject:
        return OAuthError("invalid_request", "subject_token is required")
    if form.get("subject_token_type") != JWT_TOKEN_TYPE:
        return OAuthError("invalid_request", f"subject_token_type: expected {JWT_TOKEN_TYPE}")
    if form.get("requested_token_type", JWT_TOKEN_TYPE) != JWT_TOKEN_TYPE:
        return OAuthError("invalid_request", f"requested_token_type: only {JWT_TOKEN_TYPE}")
    for name in UNSUPPORTED:
        if name in form:
            return OAuthError("invalid_request", f"{name} is not supported")
    if "audience" in form or "resource" in form:
        # A minted token's audience is the registry's upload endpoint, fixed.
        return OAuthError("invalid_target", "audience and resource cannot be changed")
    projects = _scope(form["scope"]) if "scope" in form else None
    if isinstance(projects, OAuthError):
        return projects
    expires_in = _expires_in(form["expires_in"]) if "expires_in" in form else None
    if isinstance(expires_in, OAuthError):
        return expires_in
    return ExchangeRequest(subject_token=subject, projects=projects, expires_in=expires_in)


def _scope(raw: str) -> frozenset[str] | OAuthError:
    entries = raw.split()
    if len(entries) > MAX_SCOPE_ENTRIES:
        return OAuthError("invalid_scope", f"scope: at most {MAX_SCOPE_ENTRIES} entries")
    projects = set()
    for entry in entries:
        if entry == UPLOAD_SCOPE:
            continue
        name = entry.removeprefix(PROJECT_SCOPE)
        if name == entry:
            return OAuthError(
                "invalid_scope", f"scope: expected project:<name>, got {entry[:80]!r}"
            )
        try:
            projects.add(normalize_project(name))
        except ValueError:
            return OAuthError("invalid_scope", f"scope: {name[:80]!r} is not a project name")
    if not projects:
        return OAuthError("invalid_scope", "scope: name at least one project:<name>")
    return frozenset(projects)


def _expires_in(raw: str) -> int | OAuthError:
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9 and int(raw) > 0):
        return OAuthError("invalid_request", "expires_in: expected a positive whole number")
    return int(raw)


def narrow(
    parent: VerifiedToken, request: ExchangeRequest, *, now: int
) -> dict[str, Any] | OAuthError:
    """Claims of the narrowed token. `parent` must already be verified and unrevoked."""
    held = frozenset(parent.projects)
    wanted = held if request.projects is None else request.projects
    if not wanted <= held:
        extra = ", ".join(sorted(wanted - held))[:200]
        return OAuthError("invalid_scope", f"scope: the subject token is not valid for {extra}")
    lineage = [*parent.ancestors, parent.jti]
    if len(lineage) > MAX_ANCESTORS:
        return OAuthError("invalid_grant", f"a token can be narrowed at most {MAX_ANCESTORS} times")
    # Asking for longer than the subject token has left gets what it has left:
    # the answer's expires_in says so, and nothing outlives its original.
    expires = parent.expires
    if request.expires_in is not None:
        expires = min(expires, now + request.expires_in)
    carried = {name: parent.claims[name] for name in CARRIED if name in parent.claims}
    return {
        **carried,
        "projects": sorted(wanted),
        "jti": secrets.token_urlsafe(18),
        "iat": now,
        "nbf": now,
        "exp": expires,
        NARROWED_FROM: lineage,
    }
