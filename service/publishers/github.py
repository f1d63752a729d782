"""GitHub Actions trusted publishers: which workflow runs may publish.

A publisher names a repository (pinned by its owner's numeric id, so a
deleted-and-recreated owner of the same name gets nothing, and by the
repository's own numeric id, so a deleted-and-recreated repository of the same
name gets nothing either), the TOP-LEVEL workflow file, and optionally an
environment, ref patterns and the reusable workflows its jobs may run inside.

`repository_id` may be named in the table; when it is not, the publisher's
Match carries the token's id and the trust store pins it at the first mint
(crates.io does the same for GitLab namespace ids), refusing any other id
afterwards. `sub` is never compared: a repository's owner can customise which
claims GitHub puts in it, so it proves nothing the other claims do not.

PyPI checks only `job_workflow_ref`, so any workflow in the repository that
calls the trusted one as a reusable workflow can publish. We check both:
`workflow_ref` must be the configured top-level workflow, and a job running
in a different file (`job_workflow_ref != workflow_ref`) is refused unless
that called workflow is listed, optionally pinned to a ref pattern and a sha.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from service.publishers import base

PROVIDER: Final = "github"
DEFAULT_ISSUER: Final = "https://token.actions.githubusercontent.com"

# Every token carries a jti: one without is refused, not replay-keyed by its hash.
REQUIRES_JTI: Final = True
# Publishers are looked up by this claim (casefolded) before any check runs.
LOOKUP_CLAIM: Final = "repository"
# Present and non-empty strings, or the request is refused before any comparison.
REQUIRED_CLAIMS: Final = (
    "sub",
    "repository",
    "repository_owner_id",
    "repository_id",
    "workflow_ref",
    "job_workflow_ref",
    "event_name",
    "ref",
    "sha",
)
# What each checked claim is compared with, and how.
CHECKED_CLAIMS: Final = MappingProxyType(
    {
        "repository": "`repository`, case-insensitive",
        "repository_owner_id": "`repository_owner_id`, exact (pinned id)",
        "repository_id": "`repository_id`, exact (pinned id: named, or recorded at first use)",
        "workflow_ref": "`{repository}/.github/workflows/{workflow}@{ref claim}`; path exact",
        "job_workflow_ref": "equal to workflow_ref, or a listed `reusable_workflows` entry",
        "job_workflow_sha": "the entry's `sha` pin, exact (only when pinned)",
        "environment": "`environment`, case-insensitive (only when configured)",
        "event_name": "not pull_request_target/workflow_run unless in `allow_events`",
        "ref": "one of the anchored `refs` globs (only when configured)",
    }
)
# Events that run with the base repository's privileges on code or artifacts
# an outsider can influence; refused unless the publisher opts in.
RISKY_EVENTS: Final = frozenset({"pull_request_target", "workflow_run"})
PROVENANCE_CLAIMS: Final = ("repository", "workflow_ref", "sha", "ref", "environment", "run_id")

_KEYS: Final = frozenset(
    {
        "repository",
        "repository_owner_id",
        "repository_id",
        "workflow",
        "environment",
        "refs",
        "allow_events",
        "reusable_workflows",
    }
)
_REUSABLE_KEYS: Final = frozenset({"workflow", "ref", "sha"})
_NAME: Final = r"[A-Za-z0-9_.-]+"
_REPOSITORY_RE: Final = re.compile(rf"{_NAME}/{_NAME}")
_WORKFLOW_RE: Final = re.compile(r"[^/\\@\s]+\.ya?ml")
_REUSABLE_RE: Final = re.compile(rf"{_NAME}/{_NAME}/\.github/workflows/[^/\\@\s]+\.ya?ml")
_SHA_RE: Final = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True, slots=True)
class ReusableWorkflow:
    """A called workflow the publisher's jobs may run inside."""

    workflow: str  # owner/repo/.github/workflows/file.yml
    ref: base.Glob | None = None
    sha: str | None = None

    def names(self, path: str) -> bool:
        return _same_path(path, self.workflow)

    def verify(self, ref: str, claims: base.Claims) -> base.Refusal | None:
        if self.ref is not None and not self.ref.matches(ref):
            expected = f"'{self.workflow}@{self.ref.text}' (glob)"
            return base.refuse("job_workflow_ref", expected, claims.get("job_workflow_ref"))
        if self.sha is not None:
            return base.exact(claims, "job_workflow_sha", self.sha)
        return None


@dataclass(frozen=True, slots=True)
class GitHubPublisher:
    repository: str
    repository_owner_id: str
    workflow: str
    issuer: str = DEFAULT_ISSUER
    environment: str | None = None
    refs: tuple[base.Glob, ...] = ()
    allow_events: frozenset[str] = frozenset()
    reusable_workflows: tuple[ReusableWorkflow, ...] = ()
    # None until the first mint pins it in the trust store (or named in the table).
    repository_id: str | None = None

    @property
    def provider(self) -> str:
        return PROVIDER

    @property
    def lookup_key(self) -> str:
        return self.repository.casefold()

    @property
    def identity(self) -> str:
        env = f":env={self.environment}" if self.environment is not None else ""
        return f"{PROVIDER}:{self.repository}:{self.workflow}{env}"

    def verify(self, claims: base.Claims, *, now: int) -> base.Match | base.Refusal:
        missing = base.first_missing(claims, REQUIRED_CLAIMS)
        if missing is not None:
            return missing
        refusal = base.first_refusal(
            base.casefold(claims, "repository", self.repository),
            base.pinned_id(claims, "repository_owner_id", self.repository_owner_id),
            self._repository_id(claims),
            self._top_level(claims),
            self._job_workflow(claims),
            self._environment(claims),
            self._event(claims),
            base.glob(claims, "ref", self.refs) if self.refs else None,
        )
        if refusal is not None:
            return refusal
        provenance = {k: v for k in PROVENANCE_CLAIMS if isinstance(v := claims.get(k), str) and v}
        if claims["job_workflow_ref"] != claims["workflow_ref"]:
            provenance["job_workflow_ref"] = claims["job_workflow_ref"]
        pin = None if self.repository_id is not None else str(claims["repository_id"])
        return base.Match(self.identity, provenance, first_use_repository_id=pin)

    def _repository_id(self, claims: base.Claims) -> base.Refusal | None:
        if self.repository_id is not None:
            return base.pinned_id(claims, "repository_id", self.repository_id)
        # Unpinned: only an id that could be pinned may match, or nothing is.
        found = base.id_claim(claims, "repository_id")
        return found if isinstance(found, base.Refusal) else None

    def _top_level(self, claims: base.Claims) -> base.Refusal | None:
        value: str = claims["workflow_ref"]
        path, _, ref = value.partition("@")
        expected = f"{self.repository}/.github/workflows/{self.workflow}"
        if _same_path(path, expected) and ref == claims["ref"]:
            return None
        return base.refuse("workflow_ref", f"'{expected}@...' (... = the ref claim)", value)

    def _job_workflow(self, claims: base.Claims) -> base.Refusal | None:
        value: str = claims["job_workflow_ref"]
        if value == claims["workflow_ref"]:
            return None
        path, at, ref = value.partition("@")
        candidates = [entry for entry in self.reusable_workflows if at and entry.names(path)]
        if not candidates:
            listed = [f"'{entry.workflow}@...'" for entry in self.reusable_workflows]
            expected = " or ".join(["the workflow_ref claim", *listed])
            return base.refuse("job_workflow_ref", expected, value)
        refusals = [entry.verify(ref, claims) for entry in candidates]
        return None if None in refusals else refusals[0]

    def _environment(self, claims: base.Claims) -> base.Refusal | None:
        if self.environment is None:
            return None
        return base.casefold(claims, "environment", self.environment)

    def _event(self, claims: base.Claims) -> base.Refusal | None:
        event: str = claims["event_name"]
        if event in RISKY_EVENTS and event not in self.allow_events:
            expected = f"an event other than {event!r} (not in allow_events)"
            return base.refuse("event_name", expected, event)
        return None


def _same_path(path: str, expected: str) -> bool:
    """`owner/repo/rest`: owner and repo compared case-insensitively, the rest exactly."""
    got, want = path.split("/", 2), expected.split("/", 2)
    if len(got) != 3:
        return False
    return "/".join(got[:2]).casefold() == "/".join(want[:2]).casefold() and got[2] == want[2]


def from_table(table: Mapping[str, object], *, issuer: str) -> GitHubPublisher:
    """Build from one TOML publisher table; raise `base.ConfigError` naming the bad key."""
    base.known_keys(table, _KEYS, "")
    repository = base.config_string(table, "repository", _REPOSITORY_RE, "'owner/repo'")
    owner_id = base.config_id(table, "repository_owner_id")
    if owner_id is None:
        raise base.ConfigError("repository_owner_id", "is required")
    repository_id = base.config_id(table, "repository_id")
    workflow = base.config_string(table, "workflow", _WORKFLOW_RE, "a file name like 'release.yml'")
    environment = base.config_optional(table, "environment", None, "a non-empty string")
    refs = base.config_strings(table, "refs")
    if refs is not None and (not refs or not all(r.startswith("refs/") for r in refs)):
        raise base.ConfigError("refs", "expected a non-empty list of full refs like 'refs/tags/v*'")
    events = base.config_strings(table, "allow_events") or []
    if unknown := sorted(set(events) - RISKY_EVENTS):
        raise base.ConfigError(
            "allow_events", f"expected only {sorted(RISKY_EVENTS)}, got {unknown}"
        )
    return GitHubPublisher(
        repository=repository,
        repository_owner_id=owner_id,
        workflow=workflow,
        issuer=issuer,
        environment=environment,
        refs=tuple(base.Glob.compile(r) for r in refs or ()),
        allow_events=frozenset(events),
        reusable_workflows=_reusable(table.get("reusable_workflows")),
        repository_id=repository_id,
    )


def _reusable(value: object) -> tuple[ReusableWorkflow, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise base.ConfigError("reusable_workflows", "expected a list of tables")
    entries = []
    for index, entry in enumerate(value):
        prefix = f"reusable_workflows[{index}]."
        base.known_keys(entry, _REUSABLE_KEYS, prefix)
        workflow = base.config_string(
            entry, "workflow", _REUSABLE_RE, "'owner/repo/.github/workflows/file.yml'", prefix
        )
        ref = base.config_optional(entry, "ref", None, "a non-empty string", prefix)
        sha = base.config_optional(entry, "sha", _SHA_RE, "40 lowercase hex digits", prefix)
        entries.append(ReusableWorkflow(workflow, base.Glob.compile(ref) if ref else None, sha))
    return tuple(entries)
