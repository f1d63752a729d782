"""Staged publishing records -> JSON, beside the schemas that document them."""

from __future__ import annotations

from typing import Any

from service.http.api.spec import (
    ANY_OBJECT,
    BOOLEAN,
    INTEGER,
    NULLABLE_TIME,
    STRING,
    TIME,
    Schema,
    array,
    obj,
)
from service.staging.manage import StagingView
from service.store.records_staging import StagedFileRecord, StagedReleaseRecord

NULLABLE_STRING: Schema = {"type": ["string", "null"]}

STAGING: Schema = obj(
    {
        "project": STRING,
        "enabled": BOOLEAN,
        "new_versions_only": BOOLEAN,
        "publishers": array(STRING),
        # Uploads authenticated by an API token are staged too (default true).
        "stage_api_tokens": BOOLEAN,
    }
)


def staging(view: StagingView) -> dict[str, Any]:
    return {
        "project": view.project,
        "enabled": view.enabled,
        "new_versions_only": view.new_versions_only,
        "publishers": list(view.publishers),
        "stage_api_tokens": view.stage_api_tokens,
    }


STAGED_FILE: Schema = obj(
    {
        "filename": STRING,
        "size": INTEGER,
        "sha256": STRING,
        # repository, workflow_ref, ref, sha, run_id, environment... as the minted token said
        "provenance": ANY_OBJECT,
        "publishers": array(STRING),
        "subject": STRING,
        "staged_at": TIME,
        "forwarded_at": NULLABLE_TIME,
    }
)


def staged_file(record: StagedFileRecord) -> dict[str, Any]:
    return {
        "filename": record.filename,
        "size": record.size,
        "sha256": record.sha256,
        "provenance": dict(record.provenance),
        "publishers": list(record.publishers),
        "subject": record.subject,
        "staged_at": record.staged_at.isoformat(),
        "forwarded_at": None if record.forwarded_at is None else record.forwarded_at.isoformat(),
    }


STAGED_RELEASE: Schema = obj(
    {
        "id": INTEGER,
        "project": STRING,
        "version": STRING,
        "status": {
            "type": "string",
            "enum": ["staged", "approving", "approved", "rejected", "expired"],
        },
        # Send it back when approving: it names exactly the files you reviewed.
        "digest": STRING,
        "staged_at": TIME,
        "expires_at": TIME,
        "decided_at": NULLABLE_TIME,
        "decided_by": NULLABLE_STRING,
        "files": array(STAGED_FILE),
    }
)


def staged_release(record: StagedReleaseRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "project": record.project,
        "version": record.version,
        "status": record.status,
        "digest": record.digest,
        "staged_at": record.staged_at.isoformat(),
        "expires_at": record.expires_at.isoformat(),
        "decided_at": None if record.decided_at is None else record.decided_at.isoformat(),
        "decided_by": record.decided_by,
        "files": [staged_file(f) for f in record.files],
    }
