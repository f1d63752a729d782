"""POST /_/oidc/mint-token end to end, in process: real keys, real JWTs, mocked transport."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from fakeissuer import AUDIENCE, GITHUB, GITLAB, NOW, FakeIssuer, github_claims, gitlab_claims

pytestmark = pytest.mark.anyio

Build = Callable[[FakeIssuer, FakeIssuer], Any]


async def mint(client: httpx.AsyncClient, token: Any) -> httpx.Response:
    return await client.post("/_/oidc/mint-token", json={"token": token})


def refused(response: httpx.Response, code: str, status: int = 422) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    assert response.status_code == status, body
    assert "token" not in body
    assert body["message"] == "Token request failed"
    assert [e["code"] for e in body["errors"]] == [code], body
    return body


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def hs256_with_public_key(gh: FakeIssuer) -> str:
    """The classic confusion: HMAC keyed with the issuer's public key bytes."""
    public = gh.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = f"{b64({'alg': 'HS256', 'kid': gh.kid})}.{b64(github_claims())}"
    mac = hmac.new(public, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def unsigned(claims: dict[str, Any]) -> str:
    return f"{b64({'alg': 'none', 'kid': 'key-1'})}.{b64(claims)}."


# One row per attack: (id, how to build the token, expected code).
HOSTILE: list[tuple[str, Build, str]] = [
    ("alg-none", lambda gh, gl: unsigned(github_claims()), "invalid-token"),
    ("hs256-with-public-key", lambda gh, gl: hs256_with_public_key(gh), "invalid-token"),
    (
        "missing-kid",
        lambda gh, gl: jwt.encode(github_claims(), gh.key, algorithm="RS256"),
        "invalid-token",
    ),
    ("wrong-aud", lambda gh, gl: gh.sign(github_claims(aud="pypi")), "invalid-token"),
    ("aud-list", lambda gh, gl: gh.sign(github_claims(aud=[AUDIENCE])), "invalid-token"),
    (
        "expired",
        lambda gh, gl: gh.sign(github_claims(iat=NOW - 900, exp=NOW - 31)),
        "invalid-token",
    ),
    ("nbf-in-future", lambda gh, gl: gh.sign(github_claims(nbf=NOW + 120)), "invalid-token"),
    ("iat-in-future", lambda gh, gl: gh.sign(github_claims(iat=NOW + 120)), "invalid-token"),
    ("exp-not-a-number", lambda gh, gl: gh.sign(github_claims(exp="never")), "invalid-token"),
    ("missing-jti", lambda gh, gl: gh.sign(github_claims(jti=None)), "invalid-token"),
    ("missing-sub", lambda gh, gl: gh.sign(github_claims(sub=None)), "invalid-token"),
    ("wrong-kid", lambda gh, gl: gh.sign(github_claims(), kid="no-such-key"), "invalid-token"),
    (
        "signed-by-another-key",
        lambda gh, gl: FakeIssuer(GITHUB, key_name="attacker").sign(github_claims()),
        "invalid-token",
    ),
    (
        "alg-key-mismatch-es256",
        lambda gh, gl: f"{b64({'alg': 'ES256', 'kid': gh.kid})}.{b64(github_claims())}.c2ln",
        "invalid-token",
    ),
    ("oversized", lambda gh, gl: gh.sign(github_claims(pad="x" * 9000)), "invalid-token"),
    ("not-a-jwt", lambda gh, gl: "abc.def", "invalid-token"),
    ("bad-base64", lambda gh, gl: "!!!.@@@.###", "invalid-token"),
    ("header-not-object", lambda gh, gl: "WzFd.e30.c2ln", "invalid-token"),
    (
        "pull-request-target",
        lambda gh, gl: gh.sign(github_claims(event="pull_request_target")),
        "invalid-publisher",
    ),
    (
        "workflow-run",
        lambda gh, gl: gh.sign(github_claims(event="workflow_run")),
        "invalid-publisher",
    ),
    (
        "right-owner-name-wrong-owner-id",
        lambda gh, gl: gh.sign(github_claims(owner_id="7654321")),
        "invalid-publisher",
    ),
    (
        "wrong-workflow",
        lambda gh, gl: gh.sign(github_claims(workflow="ci.yml")),
        "invalid-publisher",
    ),
    (
        "workflow-name-as-prefix",
        lambda gh, gl: gh.sign(github_claims(workflow="release.yml.disabled.yml")),
        "invalid-publisher",
    ),
    (
        "workflow-name-case",
        lambda gh, gl: gh.sign(github_claims(workflow="Release.yml")),
        "invalid-publisher",
    ),
    (
        "trusted-workflow-called-from-another",
        lambda gh, gl: gh.sign(
            github_claims(
                workflow="ci.yml",
                job_workflow_ref="octo-org/sampleproject/.github/workflows/release.yml@refs/tags/v1.0.0",
            )
        ),
        "invalid-publisher",
    ),
    (
        "reusable-workflow-not-listed",
        lambda gh, gl: gh.sign(
            github_claims(
                job_workflow_ref="evil/workflows/.github/workflows/publish.yml@refs/heads/main"
            )
        ),
        "invalid-publisher",
    ),
    (
        "wrong-environment",
        lambda gh, gl: gh.sign(github_claims(environment="staging")),
        "invalid-publisher",
    ),
    (
        "no-environment",
        lambda gh, gl: gh.sign(github_claims(environment=None)),
        "invalid-publisher",
    ),
    (
        "ref-outside-pattern",
        lambda gh, gl: gh.sign(github_claims(ref="refs/heads/main")),
        "invalid-publisher",
    ),
    (
        "ref-pattern-unanchored",
        lambda gh, gl: gh.sign(github_claims(ref="refs/heads/evil/refs/tags/v1")),
        "invalid-publisher",
    ),
    (
        "repository-lookalike",
        lambda gh, gl: gh.sign(github_claims(repository="octo-org/sampleproject-evil")),
        "invalid-publisher",
    ),
    (
        "repository-claim-not-a-string",
        lambda gh, gl: gh.sign({**github_claims(), "repository": ["octo-org/sampleproject"]}),
        "invalid-publisher",
    ),
    (
        "gitlab-environment-case",
        lambda gh, gl: gl.sign(gitlab_claims(environment="Release")),
        "invalid-publisher",
    ),
    (
        "gitlab-other-namespace",
        lambda gh, gl: gl.sign(gitlab_claims(project_path="evil-group/sampleproject")),
        "invalid-publisher",
    ),
    (
        "gitlab-config-file-prefix",
        lambda gh, gl: gl.sign(gitlab_claims(ci_config_file=".gitlab-ci.yml.evil")),
        "invalid-publisher",
    ),
    (
        "gitlab-token-with-github-issuer-claims",
        lambda gh, gl: gh.sign(gitlab_claims(iss=GITHUB)),
        "invalid-publisher",
    ),
]


@pytest.mark.parametrize(
    ("build", "code"), [(b, c) for _, b, c in HOSTILE], ids=[i for i, _, _ in HOSTILE]
)
async def test_hostile_token_is_refused(
    make_client: Any,
    issuers_mock: Any,
    github: FakeIssuer,
    gitlab: FakeIssuer,
    build: Build,
    code: str,
) -> None:
    async with make_client() as client:
        refused(await mint(client, build(github, gitlab)), code)


# Issuers that configuration does not name: refused before any request is made.
UNTRUSTED_ISSUERS = [
    ("unknown-issuer", "https://evil.example.com"),
    ("trailing-slash", GITHUB + "/"),
    ("case-folded", GITHUB.upper()),
    ("enterprise-slug-not-configured", GITHUB + "/other-enterprise"),
    ("gitlab-subpath", GITLAB + "/evil"),
    ("http-scheme", "http://token.actions.githubusercontent.com"),
]


@pytest.mark.parametrize(
    "issuer", [u for _, u in UNTRUSTED_ISSUERS], ids=[i for i, _ in UNTRUSTED_ISSUERS]
)
async def test_untrusted_issuer_is_refused_without_a_request(
    make_client: Any, issuers_mock: Any, issuer: str
) -> None:
    attacker = FakeIssuer(issuer, key_name="attacker")
    issuers_mock.get(url__startswith=issuer).respond(json=attacker.jwks())
    async with make_client() as client:
        body = refused(
            await mint(client, attacker.sign(github_claims(issuer=issuer))), "invalid-token"
        )
    assert "iss" in body["errors"][0]["description"]
    assert issuers_mock.calls.call_count == 0


@pytest.mark.parametrize(
    ("payload", "description"),
    [
        (b"not json", "not JSON"),
        (b"[]", "JSON object"),
        (b'{"token": 42}', "not a string"),
        (b'{"token": null}', "not a string"),
        (b'{"tok": "x"}', "not a string"),
        (b'{"token": "' + b"x" * 70_000 + b'"}', "larger than"),
    ],
    ids=["not-json", "not-object", "token-int", "token-null", "token-missing", "huge-body"],
)
async def test_bad_payload_is_refused(
    make_client: Any, issuers_mock: Any, payload: bytes, description: str
) -> None:
    async with make_client() as client:
        response = await client.post("/_/oidc/mint-token", content=payload)
    body = refused(response, "invalid-payload")
    assert description in body["errors"][0]["description"]
