"""API tokens: create (shown once), list, revoke; and the state their verification asks.

Only the token id and its metadata are stored: a database dump uploads
nothing. Creating one needs 2FA and a fresh proof (it is a long-lived way in);
revoking needs neither, so a user whose second factor is gone can still shut
a leaked token. `TokenState` answers apitokens/status.py's protocols from the
store, so a revocation, a lost 2FA or a lost role holds at the token's next use.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final, TypeVar

from sqlalchemy.exc import SQLAlchemyError

from service.accounts.core import Context, Deps, acting_user, audit
from service.accounts.notify import Notice
from service.accounts.policy import Action
from service.accounts.projects import NOT_A_MAINTAINER, admitted, normalized
from service.apitokens.issue import ApiTokenGrant, issue
from service.apitokens.keys import RootKey
from service.apitokens.status import StatusUnavailable
from service.apitokens.verify import TRUSTED_PUBLISHING_ONLY, VerifiedApiToken
from service.publishers.base import Refusal
from service.store.base import AuditEvent, Store, StoreError, Transaction
from service.store.records_publishing import ApiTokenRecord

INVALID_TOKEN_REQUEST: Final = "invalid-token-request"
NO_SUCH_TOKEN: Final = "no-such-token"
MAX_NAME = 100

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class CreatedToken:
    token: str = field(repr=False)  # returned once, never stored, never logged
    record: ApiTokenRecord


async def create_token(
    deps: Deps,
    ctx: Context,
    root: RootKey,
    name: str,
    projects: Sequence[str] | None,
    lifetime: int,
) -> CreatedToken | Refusal:
    """`projects` None: every project the user maintains at each upload."""
    if not 0 < len(name) <= MAX_NAME or not name.isprintable():
        return Refusal(INVALID_TOKEN_REQUEST, f"name: 1 to {MAX_NAME} printable characters")
    names: list[str] | None = None
    if projects is not None:
        found = [normalized(p) for p in projects]
        if bad := next((n for n in found if isinstance(n, Refusal)), None):
            return bad
        names = [n for n in found if isinstance(n, str)]
    now = deps.now()
    epoch = int(now.timestamp())
    async with deps.store.transaction() as tx:
        admission = await admitted(tx, deps, ctx, Action.MANAGE_TOKENS, now)
        if isinstance(admission, Refusal):
            return admission
        user, exposure = admission
        if missing := sorted(set(names or ()) - set(exposure.projects)):
            return Refusal(NOT_A_MAINTAINER, f"you are not a maintainer of project {missing[0]}")
        if closed := await _trusted_publishing_only(tx, names or ()):
            # Refused here, not only at upload: a token that can never upload is a long-lived
            # secret with no use, and its owner would learn so only when it is needed.
            return Refusal(
                TRUSTED_PUBLISHING_ONLY,
                f"project {closed} accepts only trusted publishing: no API token can be made"
                " for it (an all-projects token will not upload to it either)",
            )
        try:
            grant = ApiTokenGrant(str(user.id), user.username, names, epoch + lifetime)
            issued = issue(root, grant, now=epoch)
        except ValueError as exc:
            return Refusal(INVALID_TOKEN_REQUEST, str(exc))
        record = await tx.add_api_token(
            issued.token_id,
            user.id,
            name,
            issued.projects,
            now=now,
            expires_at=datetime.fromtimestamp(issued.expires, UTC),
        )
        await audit(
            tx,
            deps,
            ctx,
            "token:created",
            subject=user.id,
            token_id=issued.token_id,
            name=name,
            projects=None if issued.projects is None else list(issued.projects),
            expires=issued.expires,
        )
    await deps.notify(Notice(user.email, user.username, "token-created", name))
    return CreatedToken(issued.token, record)


async def _trusted_publishing_only(tx: Transaction, names: Sequence[str]) -> str | None:
    """The first of `names` (normalised) that accepts only trusted publishing, if any."""
    for name in sorted(names):
        found = await tx.project_by_name(name)
        if found is not None and found.trusted_publishing_only:
            return name
    return None


async def list_tokens(deps: Deps, ctx: Context) -> list[ApiTokenRecord] | Refusal:
    async with deps.store.transaction() as tx:
        user = await acting_user(tx, ctx)
        if isinstance(user, Refusal):
            return user
        return await tx.api_tokens_of(user.id)


async def revoke_token(
    deps: Deps, ctx: Context, token_id: str, *, operator: bool = False
) -> ApiTokenRecord | Refusal:
    """The holder's own token; `operator` (the CLI, after out-of-band checks): anyone's."""
    async with deps.store.transaction() as tx:
        found = await tx.api_token_by_id(token_id)
        if not operator:
            user = await acting_user(tx, ctx)
            if isinstance(user, Refusal):
                return user
            if found is not None and found.user_id != user.id:
                found = None  # someone else's token: not even its existence is told
        if found is None:
            return Refusal(NO_SUCH_TOKEN, f"no API token {token_id[:40]!r}")
        if not await tx.revoke_api_token(token_id, deps.now()):
            return found  # already revoked: revoking again changes nothing
        await audit(
            tx,
            deps,
            ctx,
            "token:revoked",
            subject=found.user_id,
            token_id=token_id,
            name=found.name,
        )
        owner = await tx.user_by_id(found.user_id)
        revoked = await tx.api_token_by_id(token_id)
    assert revoked is not None
    if owner is not None:
        await deps.notify(Notice(owner.email, owner.username, "token-revoked", found.name))
    return revoked


class TokenState:
    """apitokens.status's TokenStatus, UserStatus and ProjectPolicy over the store.

    Asked at every use, never cached: revocation and lost roles hold at once.
    """

    def __init__(self, store: Store, clock: Callable[[], float]) -> None:
        self.store = store
        self.clock = clock

    async def _ask(self, question: Callable[[Transaction], Awaitable[T]]) -> T:
        try:
            async with self.store.transaction() as tx:
                return await question(tx)
        except (SQLAlchemyError, StoreError, OSError) as exc:
            # Fail closed: the verifier refuses the upload with a 503.
            raise StatusUnavailable(type(exc).__name__) from None

    async def is_revoked(self, token_id: str) -> bool:
        async def ask(tx: Transaction) -> bool:
            found = await tx.api_token_by_id(token_id)
            # Unknown here counts as revoked: a signed token this database never
            # recorded (another deployment's, a restored backup's) gets no trust.
            return found is None or found.revoked_at is not None

        return await self._ask(ask)

    async def has_two_factor(self, user_id: str) -> bool:
        async def ask(tx: Transaction) -> bool:
            user = await tx.user_by_id(int(user_id)) if user_id.isdigit() else None
            return user is not None and user.two_factor_enabled_at is not None

        return await self._ask(ask)

    async def maintains(self, user_id: str, project: str) -> bool:
        async def ask(tx: Transaction) -> bool:
            if not user_id.isdigit():
                return False
            return project in (await tx.exposure(int(user_id))).projects

        return await self._ask(ask)

    async def trusted_publishing_only(self, project: str) -> bool:
        async def ask(tx: Transaction) -> bool:
            found = await tx.project_by_name(project)
            return found is not None and found.trusted_publishing_only

        return await self._ask(ask)

    async def used(self, token: VerifiedApiToken, *, ip: str | None = None) -> None:
        """Last use and an audit event, after the upload was allowed; the caller
        decides whether a failure here matters (the gateway logs it and goes on)."""
        at = datetime.fromtimestamp(self.clock(), UTC)

        async def write(tx: Transaction) -> None:
            await tx.mark_api_token_used(token.token_id, at)
            await tx.record(
                AuditEvent(
                    event="token:used",
                    actor=f"user:{token.user_name}"[:100],
                    actor_user_id=int(token.user_id) if token.user_id.isdigit() else None,
                    subject_user_id=int(token.user_id) if token.user_id.isdigit() else None,
                    subject_project=token.project,
                    occurred_at=at,
                    ip=ip,
                    details={"token_id": token.token_id, "projects": token.projects},
                )
            )

        await self._ask(write)
