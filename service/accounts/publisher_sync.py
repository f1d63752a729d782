"""`mintgate publishers sync FILE`: make the database's TOML-seeded publishers match a file.

Only publishers the sync itself added (source "sync") are ever removed; what
owners added through the API is theirs and stays. A project named in the file
and missing from the database is created without owners, as an operator's
project. One transaction: the database matches the file, or nothing changed.
"""

from __future__ import annotations

import contextlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from service.accounts.core import Context, Deps, audit
from service.issuers import Issuers
from service.publishers.base import ConfigError
from service.store.base import ProjectRecord, Transaction
from service.store.records_publishing import PublisherSpec
from service.trust import normalize_project
from service.trust.tables import publisher_spec
from service.trust.toml import TrustConfigError, load_trust


@dataclass
class SyncReport:
    added: list[tuple[str, str]] = field(default_factory=list)  # (project, publisher identity)
    removed: list[tuple[str, str]] = field(default_factory=list)
    unchanged: list[tuple[str, str]] = field(default_factory=list)
    created_projects: list[str] = field(default_factory=list)


# (project, fingerprint) -> (name as written, spec): a file's publishers, read and checked.
Specs = dict[tuple[str, str], tuple[str, PublisherSpec]]


def read_specs(path: Path, issuers: Issuers) -> Specs:
    """(project, fingerprint) -> (name as written, spec); raises TrustConfigError."""
    load_trust(path, issuers)  # the loader's checks and messages (file, table, key) first
    document = tomllib.loads(path.read_text(encoding="utf-8"))
    out: Specs = {}
    for name, project in document.get("project", {}).items():
        for index, table in enumerate(project.get("publisher", [])):
            try:
                spec = publisher_spec(table, issuers)[1]
            except ConfigError as exc:
                where = f"{path}: [project.{name}] publisher #{index + 1}"
                raise TrustConfigError(f"{where}: {exc.key}: {exc.message}") from None
            out[normalize_project(name), spec.fingerprint] = (name, spec)
    return out


class _DryRun(Exception):
    """Raised at the end of a dry run's transaction, so the database rolls it back."""


async def sync_publishers(
    deps: Deps, ctx: Context, issuers: Issuers, path: Path, *, dry_run: bool = False
) -> SyncReport:
    """Raises TrustConfigError for a bad file, before anything is written.

    A dry run does everything in its transaction, then rolls it back: the report is the
    diff the real run would make, computed by the same code.
    """
    return await sync_specs(deps, ctx, read_specs(path, issuers), dry_run=dry_run)


async def sync_specs(
    deps: Deps, ctx: Context, wanted: Specs, *, dry_run: bool = False
) -> SyncReport:
    """sync_publishers for a file already read (read_specs): MINTGATE_PUBLISHERS_FILE is
    checked once at start-up and that very content is applied."""
    report = SyncReport()
    with contextlib.suppress(_DryRun):
        await _sync(deps, ctx, wanted, report, dry_run=dry_run)
    return report


async def _sync(
    deps: Deps,
    ctx: Context,
    wanted: Specs,
    report: SyncReport,
    *,
    dry_run: bool,
) -> None:
    now = deps.now()
    async with deps.store.transaction() as tx:
        present: dict[tuple[str, str], tuple[int, str]] = {}
        projects: dict[str, ProjectRecord] = {}
        for key in sorted({project for project, _ in wanted}):
            found = await tx.project_by_name(key)
            if found is not None:
                projects[key] = found
                for row in await tx.publishers_of(found.id):
                    present[key, row.spec.fingerprint] = (row.id, row.source)
        for row in await tx.publishers_from("sync"):
            if (row.project, row.spec.fingerprint) not in wanted:
                project = await tx.project_by_name(row.project)
                assert project is not None
                await tx.delete_publisher(project.id, row.id)
                report.removed.append((row.project, row.spec.identity))
                await _audit(tx, deps, ctx, "publisher:removed", row.project, row.id, row.spec)
        for (key, fingerprint), (name, spec) in sorted(wanted.items()):
            if (key, fingerprint) in present:
                report.unchanged.append((key, spec.identity))
                continue
            if key not in projects:
                projects[key] = await _create(tx, deps, ctx, name, key)
                report.created_projects.append(key)
            added = await tx.add_publisher(
                projects[key].id, spec, source="sync", created_by=None, now=now
            )
            report.added.append((key, spec.identity))
            await _audit(tx, deps, ctx, "publisher:added", key, added.id, spec)
        if dry_run:
            raise _DryRun


async def _create(tx: Transaction, deps: Deps, ctx: Context, name: str, key: str) -> ProjectRecord:
    project = await tx.add_project(name, key, deps.now())
    await audit(tx, deps, ctx, "project:created", project=key, source="publishers sync")
    # The name is taken now, as in projects.create_project.
    voided = await tx.invalidate_pending_publishers(key, deps.now())
    if voided:
        await audit(tx, deps, ctx, "pending-publisher:invalidated", project=key, count=voided)
    return project


async def _audit(
    tx: Transaction,
    deps: Deps,
    ctx: Context,
    event: str,
    project: str,
    publisher_id: int,
    spec: PublisherSpec,
) -> None:
    await audit(
        tx,
        deps,
        ctx,
        event,
        project=project,
        publisher_id=publisher_id,
        provider=spec.provider,
        issuer=spec.issuer,
        publisher=spec.identity,
        source="publishers sync",
    )
