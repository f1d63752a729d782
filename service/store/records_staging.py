"""Records of staged publishing (issue 13): a project's staging policy, staged releases, files."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

StagedStatus = Literal["staged", "approving", "approved", "rejected", "expired"]
STAGED_STATUSES: tuple[StagedStatus, ...] = (
    "staged",
    "approving",
    "approved",
    "rejected",
    "expired",
)


@dataclass(frozen=True, slots=True)
class StagingPolicyRecord:
    """Whether a project's uploads wait for a maintainer's approval."""

    project_id: int
    enabled: bool
    new_versions_only: bool  # stage only until a version has had one approval
    publishers: tuple[str, ...]  # publisher identities staged; empty: every publisher
    updated_at: datetime
    updated_by_user_id: int | None
    stage_api_tokens: bool = True  # API-token uploads are staged too (whatever `publishers` says)


@dataclass(frozen=True, slots=True)
class StagedFileRecord:
    id: int
    release_id: int
    filename: str
    size: int
    sha256: str  # hex, of the bytes as received from the uploader
    storage_key: str  # where the staging area keeps it; never a path the uploader chose
    fields: tuple[tuple[str, str], ...]  # the upload form's text fields, sent on approval
    provenance: Mapping[str, str]  # from the minted token: repository, workflow, ref, sha...
    publishers: tuple[str, ...]
    subject: str
    jti: str
    staged_at: datetime
    forwarded_at: datetime | None


@dataclass(frozen=True, slots=True)
class StagedReleaseRecord:
    id: int
    project_id: int
    project: str  # PEP 503 normalised
    version: str
    status: StagedStatus
    staged_at: datetime
    expires_at: datetime
    decided_at: datetime | None
    decided_by_user_id: int | None
    decided_by: str | None  # the username at the time, kept if the account goes
    approving_since: datetime | None  # when an approval claimed it; set only in `approving`
    files: tuple[StagedFileRecord, ...]

    @property
    def digest(self) -> str:
        """SHA-256 over every file's name and SHA-256: what a maintainer saw and approves."""
        lines = sorted(f"{f.filename} {f.sha256}\n" for f in self.files)
        return hashlib.sha256("".join(lines).encode()).hexdigest()

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at


@dataclass(frozen=True, slots=True)
class ApprovalChallenge:
    """A security-key challenge issued for one approval of one set of files."""

    release_id: int
    digest: str
