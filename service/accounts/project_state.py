"""Project states (issue 21): active, archived, quarantined; and the gateway's view of them.

Archived: no uploads of any kind, no mints for it (the exchange drops it from a
grant). Quarantined: no trusted publishing (mints refused, minted tokens refused
at the gateway), while maintainers' API tokens still upload, so a fix can ship
while the pipeline is suspect. Owners (2FA, fresh proof) or the operator (CLI)
set it; audited, every owner told.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy.exc import SQLAlchemyError

from service.accounts import notify
from service.accounts.core import Context, Deps, audit
from service.accounts.projects import NO_SUCH_PROJECT, normalized
from service.accounts.publishing import as_owner, notices
from service.publishers.base import Refusal
from service.store.base import ProjectRecord, Store, StoreError, Transaction
from service.trust import PROJECT_STATES, ProjectState, StatesUnavailable, project_state

INVALID_PROJECT_STATE: Final = "invalid-project-state"

notify.MESSAGES.setdefault(
    "project-state", ("Project state changed", "The project's state was changed")
)


def parsed(value: object) -> ProjectState | Refusal:
    for state in PROJECT_STATES:
        if value == state:
            return state
    shown = repr(value)[:40]
    return Refusal(
        INVALID_PROJECT_STATE, f"state: expected one of {list(PROJECT_STATES)}, got {shown}"
    )


async def _set(
    tx: Transaction,
    deps: Deps,
    ctx: Context,
    project: ProjectRecord,
    state: ProjectState,
    event: str,
) -> ProjectRecord:
    await tx.set_project_state(project.id, state)
    await audit(
        tx, deps, ctx, event, project=project.normalized_name, state=state, was=project.state
    )
    updated = await tx.project_by_name(project.normalized_name)
    assert updated is not None
    return updated


async def set_project_state(
    deps: Deps, ctx: Context, project: str, state: object
) -> ProjectRecord | Refusal:
    """An owner's change of state."""
    wanted = parsed(state)
    if isinstance(wanted, Refusal):
        return wanted
    async with deps.store.transaction() as tx:
        owned = await as_owner(tx, deps, ctx, project)
        if isinstance(owned, Refusal):
            return owned
        updated = await _set(tx, deps, ctx, owned.project, wanted, "project:state")
    if owned.project.state != wanted:
        await deps.notify(*notices(owned, "project-state", f"{owned.name}: {wanted}"))
    return updated


async def operator_set_project_state(
    deps: Deps, ctx: Context, project: str, state: object
) -> ProjectRecord | Refusal:
    wanted = parsed(state)
    if isinstance(wanted, Refusal):
        return wanted
    key = normalized(project)
    if isinstance(key, Refusal):
        return key
    async with deps.store.transaction() as tx:
        found = await tx.project_by_name(key)
        if found is None:
            return Refusal(NO_SUCH_PROJECT, f"no project {key!r}")
        return await _set(tx, deps, ctx, found, wanted, "operator:project-state")


class StoreProjectStates:
    """gateway.policy.ProjectStates over the store: asked at every upload, never cached."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def state(self, project: str) -> ProjectState | None:
        try:
            async with self.store.transaction() as tx:
                found = await tx.project_by_name(project)
        except (SQLAlchemyError, StoreError, OSError) as exc:
            # Fail closed: an archived project must not take uploads while the database is down.
            raise StatesUnavailable(type(exc).__name__) from None
        return None if found is None else project_state(found.state)
