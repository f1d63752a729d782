"""Records -> JSON, beside the schema that documents each shape."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from service.accounts.queries import Role, TwoFactorSummary
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
from service.store.base import AuditRecord, InvitationRecord, SecurityKeyRecord, UserRecord
from service.store.records import ProjectRecord, SessionRecord
from service.store.records_publishing import (
    ApiTokenRecord,
    PendingPublisherRecord,
    PublisherRecord,
    PublisherSpec,
)

NULLABLE_STRING: Schema = {"type": ["string", "null"]}


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


USER: Schema = obj(
    {
        "id": INTEGER,
        "username": STRING,
        "email": STRING,
        "created_at": TIME,
        "two_factor_enabled": BOOLEAN,
    }
)


def user(record: UserRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "username": record.username,
        "email": record.email,
        "created_at": _time(record.created_at),
        "two_factor_enabled": record.two_factor_enabled_at is not None,
    }


SESSION: Schema = obj(
    {"expires_at": TIME, "two_factor_pending": BOOLEAN, "second_factor_at": NULLABLE_TIME}
)


def session(record: SessionRecord) -> dict[str, Any]:
    return {
        "expires_at": _time(record.expires_at),
        "two_factor_pending": record.pending,
        "second_factor_at": _time(record.second_factor_at),
    }


SECURITY_KEY: Schema = obj(
    {"id": INTEGER, "name": STRING, "created_at": TIME, "last_used_at": NULLABLE_TIME}
)


def security_key(record: SecurityKeyRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "name": record.name,
        "created_at": _time(record.created_at),
        "last_used_at": _time(record.last_used_at),
    }


TWO_FACTOR: Schema = obj(
    {
        "enabled": BOOLEAN,
        "methods": array(STRING),
        "totp": BOOLEAN,
        "security_keys": array(SECURITY_KEY),
        "recovery_codes_remaining": INTEGER,
    }
)


def two_factor(summary: TwoFactorSummary) -> dict[str, Any]:
    return {
        "enabled": summary.enabled,
        "methods": summary.methods,
        "totp": summary.totp,
        "security_keys": [security_key(k) for k in summary.security_keys],
        "recovery_codes_remaining": summary.recovery_codes_remaining,
    }


ROLE: Schema = obj({"name": STRING, "role": STRING})


def role(record: Role) -> dict[str, str]:
    return {"name": record.name, "role": record.role}


INVITATION: Schema = obj(
    {
        "id": INTEGER,
        "role": STRING,
        "project": NULLABLE_STRING,
        "organization": NULLABLE_STRING,
        "created_at": TIME,
        "expires_at": TIME,
    }
)


def invitation(record: InvitationRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "role": record.role,
        "project": record.project.normalized_name if record.project else None,
        "organization": record.organization.normalized_name if record.organization else None,
        "created_at": _time(record.created_at),
        "expires_at": _time(record.expires_at),
    }


AUDIT_EVENT: Schema = obj(
    {
        "id": INTEGER,
        "occurred_at": TIME,
        "event": STRING,
        "actor": STRING,
        "subject_user_id": {"type": ["integer", "null"]},
        "project": NULLABLE_STRING,
        "organization": NULLABLE_STRING,
        "ip": NULLABLE_STRING,
        "user_agent": NULLABLE_STRING,
        "details": ANY_OBJECT,
    }
)


def audit_event(record: AuditRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "occurred_at": _time(record.occurred_at),
        "event": record.event,
        "actor": record.actor,
        "subject_user_id": record.subject_user_id,
        "project": record.subject_project,
        "organization": record.subject_organization,
        "ip": record.ip,
        "user_agent": record.user_agent,
        "details": dict(record.details),
    }


RECOVERY_CODES: Schema = obj({"recovery_codes": array(STRING)})


NULLABLE_INTEGER: Schema = {"type": ["integer", "null"]}
# The publisher as its table (TOML-equivalent, issuer made explicit) and what it names.
_SPEC: dict[str, Schema] = {
    "provider": STRING,
    "issuer": STRING,
    "identity": STRING,
    "config": ANY_OBJECT,
}


def _spec(spec: PublisherSpec) -> dict[str, Any]:
    return {
        "provider": spec.provider,
        "issuer": spec.issuer,
        "identity": spec.identity,
        "config": dict(spec.config),
    }


PUBLISHER: Schema = obj(
    {
        "id": INTEGER,
        "project": STRING,
        **_SPEC,
        "source": STRING,
        "created_at": TIME,
        "last_used_at": NULLABLE_TIME,
        "frozen_at": NULLABLE_TIME,
        "stage_only": BOOLEAN,
    }
)


def publisher(record: PublisherRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "project": record.project,
        **_spec(record.spec),
        "source": record.source,
        "created_at": _time(record.created_at),
        "last_used_at": _time(record.last_used_at),
        "frozen_at": _time(record.frozen_at),
        "stage_only": record.stage_only,
    }


PENDING_PUBLISHER: Schema = obj(
    {
        "id": INTEGER,
        "project": STRING,
        "normalized_name": STRING,
        **_SPEC,
        "created_at": TIME,
        "expires_at": TIME,
        "invalidated_at": NULLABLE_TIME,
        "reified_at": NULLABLE_TIME,
        "publisher_id": NULLABLE_INTEGER,
    }
)


def pending_publisher(record: PendingPublisherRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "project": record.project_name,
        "normalized_name": record.normalized_name,
        **_spec(record.spec),
        "created_at": _time(record.created_at),
        "expires_at": _time(record.expires_at),
        "invalidated_at": _time(record.invalidated_at),
        "reified_at": _time(record.reified_at),
        "publisher_id": record.publisher_id,
    }


TRUSTED_PUBLISHING_ONLY: Schema = obj({"project": STRING, "enabled": BOOLEAN})


def trusted_publishing_only(record: ProjectRecord) -> dict[str, Any]:
    return {"project": record.normalized_name, "enabled": record.trusted_publishing_only}


PROJECT_STATE: Schema = obj({"project": STRING, "state": STRING})


def project_state(record: ProjectRecord) -> dict[str, Any]:
    return {"project": record.normalized_name, "state": record.state}


# Metadata only: the token itself is answered once, by its creation.
API_TOKEN: Schema = obj(
    {
        "id": STRING,
        "name": STRING,
        "projects": {"type": ["array", "null"], "items": STRING},
        "created_at": TIME,
        "expires_at": TIME,
        "last_used_at": NULLABLE_TIME,
        "revoked_at": NULLABLE_TIME,
    }
)


def api_token(record: ApiTokenRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "name": record.name,
        "projects": None if record.projects is None else list(record.projects),
        "created_at": _time(record.created_at),
        "expires_at": _time(record.expires_at),
        "last_used_at": _time(record.last_used_at),
        "revoked_at": _time(record.revoked_at),
    }
