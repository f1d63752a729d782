"""Narrow an API token offline: append a block of checks. No service call, no private key.

Anyone holding a token can do this; the result is a new token that is valid
for at most the projects named and at most until the expiry given. Checks only
ever add conditions, so nothing appended here (or by any other tool) widens
what the token allows.

biscuit-python 0.4 can append to an unverified token but not serialise the
result, so the token is parsed with the root public key it names in its
authority block. That key is used for nothing else: the verifier ignores it and
checks against its own configured key, so a token naming a forger's key parses
here and is refused there. A corrupted token fails here, early, for its holder.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from biscuit_auth import (
    AuthorizerBuilder,
    Biscuit,
    BiscuitBlockError,
    BiscuitBuildError,
    BiscuitValidationError,
    BlockBuilder,
    DataLogError,
    PublicKey,
    Rule,
    UnverifiedBiscuit,
)

from service.apitokens import schema
from service.apitokens.format import MAX_LENGTH, serialize, unwrap
from service.trust import normalize_project

_ROOT_KEY_FACT = re.compile(rf'^{schema.ROOT_KEY}\("(ed25519/[0-9a-f]{{64}})"\);$', re.MULTILINE)


class AttenuationError(ValueError):
    """Why a token could not be narrowed; never contains the token."""


def attenuate(
    token: str, *, projects: Sequence[str] | None = None, expires: int | None = None
) -> str:
    """`token` restricted to `projects` (a subset of its own) and/or to before `expires`."""
    if projects is None and expires is None:
        raise AttenuationError("nothing to narrow: give projects, an expiry or both")
    biscuit = _parse(token)
    params: schema.Params = {}
    checks = []
    if projects is not None:
        params["projects"] = set(_within_scope(biscuit, projects))
        checks.append(schema.PROJECTS_CHECK)
    if expires is not None:
        params["expires"] = schema.utc(expires)
        checks.append(schema.EXPIRY_CHECK)
    try:
        narrowed = biscuit.append(BlockBuilder(";\n".join(checks) + ";", params))
    except (BiscuitBuildError, BiscuitBlockError, DataLogError) as exc:
        raise AttenuationError(f"cannot append the block ({type(exc).__name__})") from None
    result = serialize(narrowed.to_base64())
    if len(result) > MAX_LENGTH:
        raise AttenuationError(f"the narrowed token would exceed {MAX_LENGTH} characters")
    return result


def _parse(token: str) -> Biscuit:
    body = unwrap(token.strip())
    if body is None:
        raise AttenuationError("not a mintgate API token (prefix, size or checksum is wrong)")
    try:
        authority = UnverifiedBiscuit.from_base64(body).block_source(0)
    except (BiscuitValidationError, BiscuitBlockError) as exc:
        raise AttenuationError(
            f"the token does not decode: truncated or altered? ({type(exc).__name__})"
        ) from None
    found = _ROOT_KEY_FACT.search(authority)
    if found is None:
        raise AttenuationError("the token names no root key: it was not issued by mintgate")
    try:
        return Biscuit.from_base64(body, PublicKey(found.group(1)))
    except (BiscuitValidationError, ValueError):
        raise AttenuationError(
            "the token's signatures do not hold: it was altered or truncated"
        ) from None


def _within_scope(biscuit: Biscuit, projects: Sequence[str]) -> list[str]:
    """Normalised names; refuses any the token never allowed, so the holder is not misled.

    Only a courtesy: a wider list would be harmless, since the authority block's
    scope still applies.
    """
    if isinstance(projects, str):
        raise AttenuationError("projects: expected a list of names, got one string")
    try:
        names = sorted({normalize_project(p) for p in projects})
    except ValueError as exc:
        raise AttenuationError(str(exc)) from None
    if not names:
        raise AttenuationError("projects: name at least one project to keep")
    authorizer = AuthorizerBuilder().build(biscuit)
    if authorizer.query(Rule(schema.QUERY_ALL)):
        return names
    allowed = {str(f.terms[0]) for f in authorizer.query(Rule(schema.QUERY_PROJECTS))}
    outside = [n for n in names if n not in allowed]
    if outside:
        raise AttenuationError(
            f"the token is not valid for {', '.join(outside)}; attenuation can only narrow"
            f" (it allows: {', '.join(sorted(allowed)) or 'nothing'})"
        )
    return names
