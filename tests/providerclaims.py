"""Tokens and publisher tables of the preset providers, shaped like the real ones.

Each `*_claims` builder follows the provider's documented claim set (the
sources are named in service/publishers/presets/*.toml); each `*_TABLE` is a
publisher table that matches it. `MISSING` as an override drops a claim.
"""

from __future__ import annotations

import uuid
from typing import Any

from fakeissuer import AUDIENCE, NOW

MISSING: Any = object()
SHA = "c" * 40


def _finish(claims: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not MISSING}


def _registered(iss: str, sub: str, now: int) -> dict[str, Any]:
    return {
        "iss": iss,
        "aud": AUDIENCE,
        "sub": sub,
        "jti": str(uuid.uuid4()),
        "iat": now - 5,
        "nbf": now - 5,
        "exp": now + 300,
    }


# --- Google Cloud ---------------------------------------------------------------

GOOGLE = "https://accounts.google.com"
GOOGLE_EMAIL = "release@sampleproject.iam.gserviceaccount.com"
GOOGLE_SUB = "104729104729104729104"
GOOGLE_TABLE: dict[str, Any] = {"email": GOOGLE_EMAIL, "sub": GOOGLE_SUB}


def google_claims(*, now: int = NOW, **overrides: Any) -> dict[str, Any]:
    claims = _registered(GOOGLE, GOOGLE_SUB, now)
    claims |= {"azp": GOOGLE_SUB, "email": GOOGLE_EMAIL, "email_verified": True}
    return _finish(claims, overrides)


# --- ActiveState ----------------------------------------------------------------

ACTIVESTATE = "https://platform.activestate.com/api/v1/oauth/oidc"
ACTOR_ID = "5f4b7a2e-7c1d-4b7e-9a3c-0d9e8f7a6b5c"
ACTIVESTATE_TABLE: dict[str, Any] = {
    "organization": "octo-org",
    "project": "sampleproject",
    "actor_id": ACTOR_ID,
}


def activestate_claims(*, now: int = NOW, **overrides: Any) -> dict[str, Any]:
    claims = _registered(ACTIVESTATE, "org:octo-org:project:sampleproject", now)
    claims |= {
        "organization": "octo-org",
        "organization_id": "0b7e1f4c-1111-4222-8333-444455556666",
        "project": "sampleproject",
        "project_id": "0b7e1f4c-7777-4888-9999-aaaabbbbcccc",
        "project_path": "octo-org/sampleproject",
        "project_visibility": "public",
        "actor": "octocat",
        "actor_id": ACTOR_ID,
        "builder": "pypi-publisher",
        "ingredient": "sampleproject",
        "artifact_id": "e3d2c1b0-0000-4000-8000-000000000001",
    }
    return _finish(claims, overrides)


# --- CircleCI -------------------------------------------------------------------

CIRCLE_ORG = "c1c1c1c1-0000-4000-8000-00000000000a"
CIRCLE_OTHER_ORG = "c1c1c1c1-0000-4000-8000-00000000000b"
CIRCLE_PROJECT = "c1c1c1c1-0000-4000-8000-000000000001"
CIRCLE_PIPELINE_DEFINITION = "c1c1c1c1-0000-4000-8000-000000000002"
CIRCLE_CONTEXT = "c1c1c1c1-0000-4000-8000-000000000003"
CIRCLE_USER = "c1c1c1c1-0000-4000-8000-000000000004"


def circleci_issuer(org_id: str = CIRCLE_ORG) -> str:
    return f"https://oidc.circleci.com/org/{org_id}"


CIRCLECI_TABLE: dict[str, Any] = {
    "issuer": circleci_issuer(),
    "org_id": CIRCLE_ORG,
    "project_id": CIRCLE_PROJECT,
    "pipeline_definition_id": CIRCLE_PIPELINE_DEFINITION,
    "context_id": CIRCLE_CONTEXT,
    "vcs_origin": "github.com/octo-org/sampleproject",
    "refs": ["refs/tags/v*"],
}


def circleci_claims(
    *, now: int = NOW, org_id: str = CIRCLE_ORG, **overrides: Any
) -> dict[str, Any]:
    origin, ref = "github.com/octo-org/sampleproject", "refs/tags/v1.0.0"
    sub = (
        f"org/{org_id}/project/{CIRCLE_PROJECT}/user/{CIRCLE_USER}"
        f"/vcs-origin/{origin}/vcs-ref/{ref}"
    )
    claims = _registered(circleci_issuer(org_id), sub, now)
    claims |= {
        "oidc.circleci.com/org-id": org_id,
        "oidc.circleci.com/project-id": CIRCLE_PROJECT,
        "oidc.circleci.com/pipeline-definition-id": CIRCLE_PIPELINE_DEFINITION,
        "oidc.circleci.com/pipeline-id": "c1c1c1c1-0000-4000-8000-000000000005",
        "oidc.circleci.com/workflow-id": "c1c1c1c1-0000-4000-8000-000000000006",
        "oidc.circleci.com/job-id": "c1c1c1c1-0000-4000-8000-000000000007",
        "oidc.circleci.com/vcs-origin": origin,
        "oidc.circleci.com/vcs-ref": ref,
        "oidc.circleci.com/context-ids": [CIRCLE_CONTEXT],
        "oidc.circleci.com/ssh-rerun": False,
    }
    return _finish(claims, overrides)


# --- Buildkite ------------------------------------------------------------------

BUILDKITE = "https://agent.buildkite.com"
BUILDKITE_ORG_ID = "b0b0b0b0-0000-4000-8000-00000000000a"
BUILDKITE_TABLE: dict[str, Any] = {
    "organization_slug": "acme-inc",
    "organization_id": BUILDKITE_ORG_ID,
    "pipeline_slug": "release",
    "tags": ["v*"],
}


def buildkite_claims(
    *,
    now: int = NOW,
    organization: str = "acme-inc",
    pipeline: str = "release",
    **overrides: Any,
) -> dict[str, Any]:
    sub = f"organization:{organization}:pipeline:{pipeline}:ref:refs/tags/v1.0.0:commit:{SHA}:step:"
    claims = _registered(BUILDKITE, sub, now)
    claims |= {
        "organization_slug": organization,
        "organization_id": BUILDKITE_ORG_ID,
        "pipeline_slug": pipeline,
        "pipeline_id": "b0b0b0b0-0000-4000-8000-000000000001",
        "build_number": 42,
        "build_branch": "v1.0.0",
        "build_tag": "v1.0.0",
        "build_commit": SHA,
        "step_key": None,
        "job_id": "b0b0b0b0-0000-4000-8000-000000000002",
        "agent_id": "b0b0b0b0-0000-4000-8000-000000000003",
        "build_source": "webhook",
        "runner_environment": "buildkite-hosted",
    }
    return _finish(claims, overrides)


# --- Semaphore ------------------------------------------------------------------

SEMAPHORE_ORG_ID = "5e5e5e5e-0000-4000-8000-00000000000a"
SEMAPHORE_PROJECT_ID = "5e5e5e5e-0000-4000-8000-000000000001"


def semaphore_issuer(organization: str = "octo") -> str:
    return f"https://{organization}.semaphoreci.com"


SEMAPHORE_TABLE: dict[str, Any] = {
    "issuer": semaphore_issuer(),
    "organization": "octo",
    "organization_id": SEMAPHORE_ORG_ID,
    "project": "sampleproject",
    "project_id": SEMAPHORE_PROJECT_ID,
    "repo_slug": "octo-org/sampleproject",
    "refs": ["refs/tags/v*"],
}


def semaphore_claims(
    *, now: int = NOW, organization: str = "octo", **overrides: Any
) -> dict[str, Any]:
    sub = (
        f"org:{organization}:project:{SEMAPHORE_PROJECT_ID}:repo:sampleproject"
        ":ref_type:tag:ref:refs/tags/v1.0.0"
    )
    claims = _registered(semaphore_issuer(organization), sub, now)
    claims |= {
        "org": organization,
        "org_id": SEMAPHORE_ORG_ID,
        "prj": "sampleproject",
        "prj_id": SEMAPHORE_PROJECT_ID,
        "repo": "sampleproject",
        "repo_slug": "octo-org/sampleproject",
        "ref": "refs/tags/v1.0.0",
        "ref_type": "tag",
        "tag": "v1.0.0",
        "branch": "",
        "pr_branch": "",
        "pr": "",
        "wf_id": "5e5e5e5e-0000-4000-8000-000000000002",
        "ppl_id": "5e5e5e5e-0000-4000-8000-000000000003",
        "job_id": "5e5e5e5e-0000-4000-8000-000000000004",
        "job_type": "pipeline_job",
        "trg": "h:f-i:f",
    }
    return _finish(claims, overrides)
