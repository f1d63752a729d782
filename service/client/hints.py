"""Refusal codes -> what to do about them, as pypa/gh-action-pypi-publish explains them."""

from __future__ import annotations

from collections.abc import Sequence

from service.publishers.base import (
    INVALID_PAYLOAD,
    INVALID_PUBLISHER,
    INVALID_REUSE_TOKEN,
    INVALID_TOKEN,
    NOT_ENABLED,
    SERVICE_UNAVAILABLE,
)

HINTS: dict[str, str] = {
    INVALID_PAYLOAD: (
        "the service could not read the request: a proxy may have rewritten it, "
        "or this client and the service disagree on the protocol"
    ),
    INVALID_TOKEN: (
        "the OIDC token was rejected (signature, issuer, audience or expiry): check that the "
        "service trusts this CI provider's issuer and that the runner's clock is right"
    ),
    INVALID_PUBLISHER: (
        "no trusted publisher matches this workflow: check repository, owner, workflow file "
        "name, environment and ref against the project's trusted-publisher configuration"
    ),
    INVALID_REUSE_TOKEN: (
        "this OIDC token was already exchanged: each one is accepted once, so request a fresh "
        "token (re-run the job) rather than reusing a cached credential"
    ),
    NOT_ENABLED: (
        "trusted publishing is switched off on this service, or for this CI provider: "
        "ask the service's operators"
    ),
    SERVICE_UNAVAILABLE: (
        "the service could not check the token right now: retry in a few seconds "
        "(re-running the job fetches a fresh OIDC token)"
    ),
}
UNKNOWN = "no hint for this code: see the service's description"


def explain(errors: Sequence[tuple[str, str]]) -> str:
    """One block per refusal: the code, the service's own sentence, then our hint."""
    lines = []
    for code, description in errors:
        lines.append(f"  {code}: {description}" if description else f"  {code}")
        lines.append(f"    hint: {HINTS.get(code, UNKNOWN)}")
    return "\n".join(lines)
