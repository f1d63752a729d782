"""The pure half of verification: signature, expiry and project scope, at an injected `now`.

No I/O: revocation, 2FA, maintainership and project policy are asked by
verify.py afterwards, so only tokens that pass here cost a lookup.

Which check failed is found by asking Datalog again rather than by parsing its
error text: a token refused now but allowed at the epoch failed on time only.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from biscuit_auth import (
    AuthorizationError,
    Authorizer,
    AuthorizerBuilder,
    Biscuit,
    BiscuitValidationError,
    PublicKey,
    Rule,
)

from service.apitokens import schema
from service.apitokens.format import PREFIX, unwrap
from service.publishers.base import INVALID_TOKEN, Refusal
from service.trust import normalize_project
from service.verifier import OUT_OF_SCOPE

TOKEN_EXPIRED = "token-expired"
# biscuit's default budget is 1 ms, which a busy two-core host can miss on a valid
# token; 20 ms still bounds what a hostile block can cost (size is capped too).
MAX_RUN_TIME = datetime.timedelta(milliseconds=20)
_EPOCH = 0


@dataclass(frozen=True, slots=True)
class VerifiedApiToken:
    token_id: str
    user_id: str
    user_name: str
    project: str  # PEP 503 normalised
    # The authority block's list; None when it covers all the user's projects.
    projects: tuple[str, ...] | None


def authorize(
    root: PublicKey, token: str, project: str, *, now: float
) -> VerifiedApiToken | Refusal:
    body = unwrap(token)
    if body is None:
        return Refusal(INVALID_TOKEN, f"not a mintgate API token ({PREFIX}..., checksum)")
    try:
        biscuit = Biscuit.from_base64(body, root)
    except BiscuitValidationError:
        return Refusal(
            INVALID_TOKEN,
            "signature does not verify with this service's API token key"
            " (altered, truncated, or issued by another service)",
        )
    try:
        wanted = normalize_project(project)
    except ValueError:
        return Refusal(OUT_OF_SCOPE, f"{project[:100]!r} is not a valid project name")
    authorizer = _authorizer(biscuit, wanted, int(now))
    found = _authority(authorizer, wanted)
    if isinstance(found, Refusal):
        return found
    if _allows(authorizer):
        return found
    if _allows(_authorizer(biscuit, wanted, _EPOCH)):
        return Refusal(TOKEN_EXPIRED, "token has expired (its own or an appended expiry)")
    if found.projects is not None and wanted not in found.projects:
        return Refusal(OUT_OF_SCOPE, f"token is not valid for project {wanted!r}")
    return Refusal(OUT_OF_SCOPE, f"a block appended to the token excludes project {wanted!r}")


def identify(root: PublicKey, token: str) -> VerifiedApiToken | None:
    """Whose token this is, if our key signed it; no scope or expiry check.

    For revocation (a leaked token is revoked whether or not it expired); never
    for deciding an upload.
    """
    body = unwrap(token)
    if body is None:
        return None
    try:
        biscuit = Biscuit.from_base64(body, root)
    except BiscuitValidationError:
        return None
    found = _authority(_authorizer(biscuit, _ANY_PROJECT, _EPOCH), _ANY_PROJECT)
    return None if isinstance(found, Refusal) else found


# A placeholder project fact: the authority block's facts do not depend on it.
_ANY_PROJECT = "-"


def _authorizer(biscuit: Biscuit, project: str, now: int) -> Authorizer:
    builder = AuthorizerBuilder(schema.AUTHORIZER, {"now": schema.utc(now), "project": project})
    # Missing from biscuit-python 0.4's stubs, present at run time.
    limits = builder.limits()  # type: ignore[attr-defined]
    limits.max_time = MAX_RUN_TIME
    builder.set_limits(limits)  # type: ignore[attr-defined]
    return builder.build(biscuit)


def _allows(authorizer: Authorizer) -> bool:
    try:
        authorizer.authorize()
    except AuthorizationError:
        return False
    return True


def _authority(authorizer: Authorizer, project: str) -> VerifiedApiToken | Refusal:
    """The authority block's facts; a verifier query sees no appended block's facts."""
    try:
        ids = _terms(authorizer, schema.QUERY_TOKEN_ID)
        users = _terms(authorizer, schema.QUERY_USER)
        listed = _terms(authorizer, schema.QUERY_PROJECTS)
        everything = _terms(authorizer, schema.QUERY_ALL)
    except AuthorizationError:
        return Refusal(INVALID_TOKEN, "token's facts could not be read")
    if len(ids) != 1 or len(users) != 1 or not (listed or everything):
        return Refusal(INVALID_TOKEN, "token lacks a single id, user or project scope")
    user_id, user_name = users[0]
    return VerifiedApiToken(
        token_id=str(ids[0][0]),
        user_id=str(user_id),
        user_name=str(user_name),
        project=project,
        projects=None if everything else tuple(sorted(str(t[0]) for t in listed)),
    )


def _terms(authorizer: Authorizer, rule: str) -> list[list[Any]]:
    return [fact.terms for fact in authorizer.query(Rule(rule))]
