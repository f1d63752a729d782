"""Trusted publishers of a project, and its "trusted publishing only" switch.

Owners only, with 2FA and a second factor proven within the last minutes
(policy.SENSITIVE): changing what may publish a project is exactly what a
stolen session would want. Listing is gated the same way, because the list
tells an attacker which workflow to compromise. Every change is audited and
every owner is told.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from service.accounts.core import Context, Deps, audit
from service.accounts.notify import Notice
from service.accounts.policy import Action
from service.accounts.projects import NO_SUCH_PROJECT, admitted, normalized
from service.issuers import Issuers
from service.publishers.base import ConfigError, Refusal
from service.store.base import Duplicate, ProjectRecord, Transaction, UserRecord
from service.store.records_publishing import PublisherRecord, PublisherSpec
from service.trust.tables import publisher_spec

NOT_AN_OWNER: Final = "not-an-owner"
INVALID_PUBLISHER_CONFIG: Final = "invalid-publisher-config"
PUBLISHER_EXISTS: Final = "publisher-exists"
NO_SUCH_PUBLISHER: Final = "no-such-publisher"


@dataclass(frozen=True, slots=True)
class Owned:
    """The acting owner and the project, as stored now, inside the caller's transaction."""

    user: UserRecord
    project: ProjectRecord
    owners: tuple[UserRecord, ...]  # every owner, to be told of the change

    @property
    def name(self) -> str:
        return self.project.normalized_name


def validated(table: Mapping[str, Any], issuers: Issuers) -> PublisherSpec | Refusal:
    """A publisher table checked exactly as the TOML loader checks it."""
    try:
        return publisher_spec(table, issuers)[1]
    except ConfigError as exc:
        return Refusal(INVALID_PUBLISHER_CONFIG, f"{exc.key}: {exc.message}")


async def as_owner(tx: Transaction, deps: Deps, ctx: Context, project: str) -> Owned | Refusal:
    key = normalized(project)
    if isinstance(key, Refusal):
        return key
    admission = await admitted(tx, deps, ctx, Action.MANAGE_PUBLISHERS, deps.now())
    if isinstance(admission, Refusal):
        return admission
    user = admission[0]
    found = await tx.project_by_name(key)
    if found is None:
        return Refusal(NO_SUCH_PROJECT, f"no project {key!r}")
    members = await tx.project_members(found.id)
    if not any(m.user_id == user.id and m.role == "owner" for m in members):
        return Refusal(NOT_AN_OWNER, f"only owners of project {key} manage its publishing")
    owners = [await tx.user_by_id(m.user_id) for m in members if m.role == "owner"]
    return Owned(user, found, tuple(u for u in owners if u is not None))


def notices(owned: Owned, event: str, detail: str) -> list[Notice]:
    return [Notice(u.email, u.username, event, detail) for u in owned.owners]


def describe(spec: PublisherSpec) -> str:
    return f"{spec.identity} ({spec.issuer})"


async def list_publishers(
    deps: Deps, ctx: Context, project: str
) -> list[PublisherRecord] | Refusal:
    async with deps.store.transaction() as tx:
        owned = await as_owner(tx, deps, ctx, project)
        if isinstance(owned, Refusal):
            return owned
        return await tx.publishers_of(owned.project.id)


async def add_publisher(
    deps: Deps, ctx: Context, issuers: Issuers, project: str, table: Mapping[str, Any]
) -> PublisherRecord | Refusal:
    spec = validated(table, issuers)
    if isinstance(spec, Refusal):
        return spec
    async with deps.store.transaction() as tx:
        owned = await as_owner(tx, deps, ctx, project)
        if isinstance(owned, Refusal):
            return owned
        try:
            added = await tx.add_publisher(
                owned.project.id, spec, source="api", created_by=owned.user.id, now=deps.now()
            )
        except Duplicate:
            return Refusal(PUBLISHER_EXISTS, f"project {owned.name} already trusts it")
        await audit(
            tx,
            deps,
            ctx,
            "publisher:added",
            project=owned.project.normalized_name,
            publisher_id=added.id,
            provider=spec.provider,
            issuer=spec.issuer,
            publisher=spec.identity,
        )
    await deps.notify(*notices(owned, "publisher-added", f"{owned.name}: {describe(spec)}"))
    return added


async def remove_publisher(
    deps: Deps, ctx: Context, project: str, publisher_id: int
) -> PublisherRecord | Refusal:
    async with deps.store.transaction() as tx:
        owned = await as_owner(tx, deps, ctx, project)
        if isinstance(owned, Refusal):
            return owned
        found = next(
            (p for p in await tx.publishers_of(owned.project.id) if p.id == publisher_id), None
        )
        if found is None or not await tx.delete_publisher(owned.project.id, publisher_id):
            return Refusal(
                NO_SUCH_PUBLISHER, f"project {owned.name} has no publisher {publisher_id}"
            )
        await audit(
            tx,
            deps,
            ctx,
            "publisher:removed",
            project=owned.project.normalized_name,
            publisher_id=publisher_id,
            provider=found.spec.provider,
            issuer=found.spec.issuer,
            publisher=found.spec.identity,
        )
    detail = f"{owned.name}: {describe(found.spec)}"
    await deps.notify(*notices(owned, "publisher-removed", detail))
    return found


async def set_trusted_publishing_only(
    deps: Deps, ctx: Context, project: str, on: bool
) -> ProjectRecord | Refusal:
    """On: API tokens are refused for the project at their next use, whoever holds them."""
    async with deps.store.transaction() as tx:
        owned = await as_owner(tx, deps, ctx, project)
        if isinstance(owned, Refusal):
            return owned
        await tx.set_trusted_publishing_only(owned.project.id, on)
        await audit(
            tx,
            deps,
            ctx,
            "project:trusted-publishing-only",
            project=owned.project.normalized_name,
            on=on,
        )
        updated = await tx.project_by_name(owned.project.normalized_name)
    assert updated is not None
    state = "on" if on else "off"
    await deps.notify(*notices(owned, "trusted-publishing-only", f"{owned.name}: {state}"))
    return updated
