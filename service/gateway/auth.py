"""Who is uploading: Basic credentials in, a verified minted token or a Denied out.

The token is checked offline by `service.verifier.Verifier` (keys from mintgate's
JWKS, cached), then against the revocation store when there is one. Every
failure to *know* (keys or revocation unavailable) is a 503: fail closed.
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass, field
from typing import Protocol

from service.apitokens import format as api_format
from service.apitokens.verify import ApiTokenVerifier, VerifiedApiToken
from service.gateway.errors import Denied, forbidden, unavailable
from service.gateway.policy import (
    PUBLISHER_STAGE_ONLY,
    ProjectPolicy,
    ProjectStates,
    StatesUnavailable,
    refusal_for,
)
from service.minting.tokens import PREFIX, stage_only_projects
from service.publishers.base import SERVICE_UNAVAILABLE, Refusal
from service.revocation import RevocationStore, RevocationUnavailable
from service.upload_auth import UploadCredential, verify_upload_token
from service.verifier import OUT_OF_SCOPE, VerifiedToken, Verifier

log = logging.getLogger(__name__)

TOKEN_USERNAME = "__token__"
MISSING = Denied(
    401, f"credentials required: use username {TOKEN_USERNAME} and a mintgate token as password"
)


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str
    password: str = field(repr=False)  # the token: never in a repr, a log line or a message


def basic_credentials(header: str | None) -> Credentials | None:
    """The Basic credentials of an Authorization header; None when absent or malformed."""
    if header is None:
        return None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    return Credentials(username, password) if sep else None


class TokenUse(Protocol):
    """Told each accepted API token (accounts.tokens.TokenState: last use, audit)."""

    async def used(self, token: VerifiedApiToken, *, ip: str | None = None) -> None: ...


def _stage_only_refusal(project: str) -> str:
    return (
        f"upload refused: the trusted publisher of project {project!r} may stage, not publish,"
        f" and this gateway cannot stage uploads for it ({PUBLISHER_STAGE_ONLY})"
    )


def credential_id(credential: UploadCredential) -> str:
    """For the log line: a minted token's jti or an API token's id (neither is a secret)."""
    return credential.jti if isinstance(credential, VerifiedToken) else credential.token_id


class Authorizer:
    def __init__(
        self,
        verifier: Verifier,
        *,
        revocations: RevocationStore | None,
        policy: ProjectPolicy,
        api: ApiTokenVerifier | None = None,
        usage: TokenUse | None = None,
        states: ProjectStates | None = None,
        can_stage: bool = False,
    ) -> None:
        self.verifier = verifier
        self.revocations = revocations
        self.policy = policy
        self.api = api
        self.usage = usage
        # Issue 21: archived/quarantined projects (None: no database, every project active)
        # and whether this gateway stages uploads (a stage-only token needs it).
        self.states = states
        self.can_stage = can_stage

    async def authorize(
        self, credentials: Credentials, project: str, *, ip: str | None = None
    ) -> UploadCredential | Denied:
        """May these credentials upload to `project` (PEP 503 normalised)?"""
        if credentials.username != TOKEN_USERNAME:
            return forbidden(
                f"username {credentials.username[:64]!r} is not accepted: use {TOKEN_USERNAME}"
                " with a mintgate token as password (password logins are not supported)"
            )
        password = credentials.password
        api_token = self.api is not None and password.startswith(api_format.PREFIX)
        if not password.startswith(PREFIX) and not api_token:
            return await self._other_token(project)
        verified = await verify_upload_token(password, project, minted=self.verifier, api=self.api)
        if isinstance(verified, Refusal):
            if verified.code == SERVICE_UNAVAILABLE:
                return unavailable(f"cannot check the token now: {verified.description}")
            if verified.code == OUT_OF_SCOPE:
                # The description already names the project.
                return forbidden(f"token refused: {verified.description}")
            return forbidden(f"token refused for project {project!r}: {verified.description}")
        if isinstance(verified, VerifiedToken):
            revoked = await self._not_revoked(verified, project)
            if isinstance(revoked, Denied):
                return revoked
        held = await self._in_state(verified, project)
        if held is not None:
            return held
        if isinstance(verified, VerifiedApiToken):
            await self._used(verified, ip)
        return verified

    async def _in_state(self, verified: UploadCredential, project: str) -> Denied | None:
        """The project's state (issue 21) and a stage-only token's needs; None to go on."""
        minted = isinstance(verified, VerifiedToken)
        stage_only = isinstance(verified, VerifiedToken) and project in stage_only_projects(
            verified.claims
        )
        if self.states is None:
            if stage_only:
                return forbidden(_stage_only_refusal(project))
            return None
        try:
            state = await self.states.state(project)
        except StatesUnavailable:
            log.warning("project states unavailable; refusing upload to %s", project)
            return unavailable("cannot check the project's state now; try again")
        refused = refusal_for(state, minted=minted)
        if refused is not None:
            code, why = refused
            return forbidden(f"upload refused: project {project!r} {why} ({code})")
        if stage_only and (not self.can_stage or state is None):
            return forbidden(_stage_only_refusal(project))
        return None

    async def _used(self, token: VerifiedApiToken, ip: str | None) -> None:
        if self.usage is None:
            return
        try:
            await self.usage.used(token, ip=ip)
        except Exception:  # every check held: a bookkeeping failure does not refuse the upload
            log.warning("could not record the use of API token %s", token.token_id, exc_info=True)

    async def _other_token(self, project: str) -> Denied:
        # Seam for API tokens: verify them here, then consult the policy before accepting.
        if await self.policy.trusted_publishing_only(project):
            return forbidden(
                f"project {project!r} accepts only trusted publishing:"
                f" upload with a mintgate token ({PREFIX}...)"
            )
        return forbidden(
            f"not a mintgate token: this gateway accepts only tokens minted by mintgate"
            f" ({PREFIX}...) through trusted publishing; API tokens are not supported yet"
        )

    async def _not_revoked(self, verified: VerifiedToken, project: str) -> VerifiedToken | Denied:
        if self.revocations is None:
            return verified
        # A narrowed token dies with any token it descends from, as in Verifier.
        try:
            revoked = False
            for token_id in (verified.jti, *verified.ancestors):
                revoked = revoked or await self.revocations.is_revoked(token_id)
        except RevocationUnavailable:
            log.warning("revocation store unavailable; refusing upload to %s", project)
            return unavailable("cannot check whether the token has been revoked; try again")
        if revoked:
            return forbidden(f"token refused for project {project!r}: token has been revoked")
        return verified
