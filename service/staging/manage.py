"""A project's staged-publishing setting: read by its maintainers, changed by its owners.

Changing it is changing what may publish the project, so it takes what the
publisher list takes (accounts.publishing.as_owner): an owner, 2FA, and a
second factor proven within the last minutes. Audited; every maintainer told.
"""

from __future__ import annotations

from dataclasses import dataclass

from service.accounts.core import Context, Deps, audit
from service.accounts.policy import Action
from service.accounts.projects import NO_SUCH_PROJECT, NOT_A_MAINTAINER, admitted, normalized
from service.accounts.publishing import as_owner
from service.publishers.base import Refusal
from service.staging import notices
from service.staging.rules import INVALID_STAGING_POLICY, check_publishers
from service.store.records_staging import StagingPolicyRecord


@dataclass(frozen=True, slots=True)
class StagingView:
    """The setting as shown: a project without a row is simply not staged."""

    project: str
    enabled: bool
    new_versions_only: bool
    publishers: tuple[str, ...]
    # Uploads made with API tokens are staged too; on unless an owner turned it off.
    stage_api_tokens: bool = True


def _view(project: str, policy: StagingPolicyRecord | None) -> StagingView:
    if policy is None:
        return StagingView(project, False, False, ())
    return StagingView(
        project,
        policy.enabled,
        policy.new_versions_only,
        policy.publishers,
        policy.stage_api_tokens,
    )


async def get_staging(deps: Deps, ctx: Context, project: str) -> StagingView | Refusal:
    key = normalized(project)
    if isinstance(key, Refusal):
        return key
    async with deps.store.transaction() as tx:
        admission = await admitted(tx, deps, ctx, Action.VIEW_PROJECTS, deps.now())
        if isinstance(admission, Refusal):
            return admission
        found = await tx.project_by_name(key)
        if found is None:
            return Refusal(NO_SUCH_PROJECT, f"no project {key!r}")
        if key not in admission[1].projects:
            return Refusal(NOT_A_MAINTAINER, f"you are not a maintainer of project {key}")
        return _view(key, await tx.staging_policy(found.id))


async def set_staging(
    deps: Deps,
    ctx: Context,
    project: str,
    *,
    enabled: bool,
    new_versions_only: bool = False,
    publishers: object = (),
    stage_api_tokens: bool = True,
) -> StagingView | Refusal:
    """`publishers` as sent (a JSON list of publisher identities), checked here.

    `stage_api_tokens` defaults to on: a caller that does not mention it keeps the
    secure setting rather than opening a way around review.
    """
    checked = check_publishers(list(publishers) if isinstance(publishers, tuple) else publishers)
    if isinstance(checked, str):
        return Refusal(INVALID_STAGING_POLICY, checked)
    async with deps.store.transaction() as tx:
        owned = await as_owner(tx, deps, ctx, project)
        if isinstance(owned, Refusal):
            return owned
        policy = await tx.put_staging_policy(
            owned.project.id,
            enabled=enabled,
            new_versions_only=new_versions_only,
            publishers=checked,
            by_user_id=owned.user.id,
            now=deps.now(),
            stage_api_tokens=stage_api_tokens,
        )
        await audit(
            tx, deps, ctx, "project:staging", project=owned.name, enabled=enabled,
            new_versions_only=new_versions_only, publishers=list(checked),
            stage_api_tokens=stage_api_tokens,
        )  # fmt: skip
        people = await notices.maintainers(tx, owned.project.id)
    view = _view(owned.name, policy)
    scope = f", publishers {', '.join(checked)}" if checked else ""
    first = ", first upload of a version only" if new_versions_only else ""
    tokens = "" if stage_api_tokens else ", API-token uploads publish at once"
    detail = f"{owned.name}: {'on' if enabled else 'off'}{first}{scope}{tokens}"
    await deps.notify(*notices.to_all(people, "staging-changed", detail))
    return view
