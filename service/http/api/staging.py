"""Staged publishing: a project's setting, its staged releases, approving and rejecting.

An approval carries its own second factor (`totp`, or `credential` answering a
challenge from .../approve/options) and the `digest` of the files reviewed.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response

from service.http.api import staging_views as views
from service.http.api.errors import invalid, reply
from service.http.api.request import (
    Body,
    authenticate,
    authenticate_recent,
    client_ip,
    context,
    credential,
    flag,
    json_body,
    path_id,
    text,
)
from service.http.api.spec import ANY_OBJECT, BOOLEAN, Endpoint, Query, array, obj, string
from service.http.api.state import api_state
from service.publishers.base import Refusal
from service.staging import manage, review
from service.staging.approve import Approvals
from service.staging.proof import KeyProof, Proof, TotpProof
from service.staging.rules import MAX_PUBLISHER, NO_SUCH_STAGED_RELEASE
from service.staging.wiring import approvals


def _approvals(request: Request) -> Approvals:
    api = api_state(request)
    return api.staging or approvals(None, api.accounts, None, api.rp)


def _release_id(request: Request) -> int | Refusal:
    missing = Refusal(NO_SUCH_STAGED_RELEASE, "no such staged release in your projects")
    return path_id(request, "release_id", missing)


async def get_staging(request: Request) -> Response | Refusal:
    auth = await authenticate(request)
    if isinstance(auth, Refusal):
        return auth
    project: str = request.path_params["project"]
    found = await manage.get_staging(api_state(request).deps, context(request, auth), project)
    return found if isinstance(found, Refusal) else reply(views.staging(found))


async def put_staging(request: Request) -> Response | Refusal:
    auth = await authenticate_recent(request)
    if isinstance(auth, Refusal):
        return auth
    body = await json_body(request)
    if isinstance(body, Refusal):
        return body
    enabled = body.get("enabled")
    # Required, not defaulted: a typo must not switch the protection off.
    if not isinstance(enabled, bool):
        return invalid("enabled: expected true or false")
    new_only = flag(body, "new_versions_only")
    if isinstance(new_only, Refusal):
        return new_only
    # Absent means on: leaving the field out must not open a way around review.
    stage_tokens = body.get("stage_api_tokens", True)
    if not isinstance(stage_tokens, bool):
        return invalid("stage_api_tokens: expected true or false")
    project: str = request.path_params["project"]
    updated = await manage.set_staging(
        api_state(request).deps,
        context(request, auth),
        project,
        enabled=enabled,
        new_versions_only=new_only,
        publishers=body.get("publishers", []),
        stage_api_tokens=stage_tokens,
    )
    return updated if isinstance(updated, Refusal) else reply(views.staging(updated))


async def list_staged(request: Request) -> Response | Refusal:
    auth = await authenticate(request)
    if isinstance(auth, Refusal):
        return auth
    project = request.query_params.get("project")
    decided = request.query_params.get("decided", "false")
    if decided not in ("true", "false"):
        return invalid("decided: expected true or false")
    found = await review.list_staged(
        api_state(request).deps,
        context(request, auth),
        project=project,
        decided=decided == "true",
    )
    if isinstance(found, Refusal):
        return found
    return reply({"staged_releases": [views.staged_release(r) for r in found]})


async def show_staged(request: Request) -> Response | Refusal:
    auth = await authenticate(request)
    if isinstance(auth, Refusal):
        return auth
    release_id = _release_id(request)
    if isinstance(release_id, Refusal):
        return release_id
    found = await review.show_staged(api_state(request).deps, context(request, auth), release_id)
    return found if isinstance(found, Refusal) else reply(views.staged_release(found))


def _proof(body: Body) -> Proof | Refusal | None:
    if "totp" in body and "credential" in body:
        return invalid("send one confirmation: totp or credential, not both")
    if "totp" in body:
        code = text(body, "totp", max_length=16)
        return code if isinstance(code, Refusal) else TotpProof(code)
    if "credential" in body:
        answer = credential(body, "credential")
        return answer if isinstance(answer, Refusal) else KeyProof(answer)
    return None


async def approve(request: Request) -> Response | Refusal:
    auth = await authenticate(request)
    if isinstance(auth, Refusal):
        return auth
    release_id = _release_id(request)
    if isinstance(release_id, Refusal):
        return release_id
    body = await json_body(request)
    if isinstance(body, Refusal):
        return body
    digest = text(body, "digest", max_length=64)
    if isinstance(digest, Refusal):
        return digest
    proof = _proof(body)
    if isinstance(proof, Refusal):
        return proof
    # The same per-address and per-account budget as every other second-factor attempt.
    limited = await api_state(request).attempts.check(
        "two-factor", client_ip(request), str(auth.user.id)
    )
    if limited is not None:
        return limited
    approved = await _approvals(request).approve(context(request, auth), release_id, digest, proof)
    return approved if isinstance(approved, Refusal) else reply(views.staged_release(approved))


async def approve_options(request: Request) -> Response | Refusal:
    auth = await authenticate(request)
    if isinstance(auth, Refusal):
        return auth
    release_id = _release_id(request)
    if isinstance(release_id, Refusal):
        return release_id
    options = await _approvals(request).key_options(context(request, auth), release_id)
    if isinstance(options, Refusal):
        return options
    return reply({"public_key": json.loads(options.json)})


async def reject(request: Request) -> Response | Refusal:
    auth = await authenticate(request)
    if isinstance(auth, Refusal):
        return auth
    release_id = _release_id(request)
    if isinstance(release_id, Refusal):
        return release_id
    body = await json_body(request)
    if isinstance(body, Refusal):
        return body
    reason = text(body, "reason", max_length=500, required=False)
    if isinstance(reason, Refusal):
        return reason
    api = api_state(request)
    rejected = await review.reject_staged(
        api.deps, _approvals(request).area, context(request, auth), release_id, reason
    )
    return rejected if isinstance(rejected, Refusal) else reply(views.staged_release(rejected))


STAGED = "/staged/{release_id:int}"

ENDPOINTS = [
    Endpoint(
        "GET",
        "/projects/{project}/staging",
        get_staging,
        "Whether the project's uploads wait for approval (maintainers)",
        {200: views.STAGING},
    ),
    Endpoint(
        "PUT",
        "/projects/{project}/staging",
        put_staging,
        "Stage uploads until a maintainer approves (owners, recent 2FA);"
        " API-token uploads too unless stage_api_tokens is false",
        {200: views.STAGING},
        body=obj(
            {"enabled": BOOLEAN},
            {
                "new_versions_only": BOOLEAN,
                "publishers": array(string(MAX_PUBLISHER)),
                "stage_api_tokens": BOOLEAN,
            },
        ),
    ),
    Endpoint(
        "GET",
        "/staged",
        list_staged,
        "Staged releases of the projects I maintain, waiting ones unless decided=true",
        {200: obj({"staged_releases": array(views.STAGED_RELEASE)})},
        query=[
            Query("project", string(200), "one project I maintain"),
            Query("decided", {"type": "string", "enum": ["true", "false"]}, "include decided"),
        ],
    ),
    Endpoint(
        "GET",
        STAGED,
        show_staged,
        "One staged release of a project I maintain",
        {200: views.STAGED_RELEASE},
    ),
    Endpoint(
        "POST",
        STAGED + "/approve",
        approve,
        "Publish a staged release: the digest reviewed and a second factor made for it",
        {200: views.STAGED_RELEASE},
        body=obj({"digest": string(64)}, {"totp": string(16), "credential": ANY_OBJECT}),
    ),
    Endpoint(
        "POST",
        STAGED + "/approve/options",
        approve_options,
        "A security-key challenge for approving this release as it is now",
        {200: obj({"public_key": ANY_OBJECT})},
    ),
    Endpoint(
        "POST",
        STAGED + "/reject",
        reject,
        "Discard a staged release: its files are deleted, nothing is published",
        {200: views.STAGED_RELEASE},
        body=obj({}, {"reason": string(500)}),
    ),
]
