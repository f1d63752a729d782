"""The preset and custom providers through POST /_/oidc/mint-token: real keys, mocked transport.

Every issuer here is a FakeIssuer served by respx, and the issuers and
publishers files are written to tmp_path, so each row runs the whole exchange:
allow-list, discovery and JWKS, signature, lookup, rules, replay, minting.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import respx
from fakeissuer import FakeIssuer
from providerclaims import (
    ACTIVESTATE,
    BUILDKITE,
    CIRCLE_ORG,
    CIRCLE_OTHER_ORG,
    CIRCLE_PIPELINE_DEFINITION,
    CIRCLE_PROJECT,
    GOOGLE,
    GOOGLE_EMAIL,
    MISSING,
    activestate_claims,
    buildkite_claims,
    circleci_claims,
    circleci_issuer,
    google_claims,
    semaphore_claims,
    semaphore_issuer,
)

from service.minting.tokens import unwrap

pytestmark = pytest.mark.anyio

CUSTOM = "https://ci.example.com/oidc"
GOOGLE_CERTS = "https://www.googleapis.com/oauth2/v3/certs"

ISSUERS = f"""
[[issuer]]
url = "{GOOGLE}"
provider = "google"
jwks_hosts = ["www.googleapis.com"]

[[issuer]]
url = "{ACTIVESTATE}"
provider = "activestate"

[[issuer]]
url = "{circleci_issuer()}"
provider = "circleci"

[[issuer]]
url = "{circleci_issuer(CIRCLE_OTHER_ORG)}"
provider = "circleci"

[[issuer]]
url = "{BUILDKITE}"
provider = "buildkite"

[[issuer]]
url = "{semaphore_issuer()}"
provider = "semaphore"

[[issuer]]
url = "{semaphore_issuer("evil")}"
provider = "semaphore"

[[issuer]]
url = "{CUSTOM}"
provider = "custom"
lookup = "repository"
"""

PUBLISHERS = f"""
[[project.google-pkg.publisher]]
provider = "google"
email = "{GOOGLE_EMAIL}"

[[project.activestate-pkg.publisher]]
provider = "activestate"
organization = "octo-org"
project = "sampleproject"
actor_id = "{activestate_claims()["actor_id"]}"

[[project.circleci-pkg.publisher]]
provider = "circleci"
issuer = "{circleci_issuer()}"
org_id = "{CIRCLE_ORG}"
project_id = "{CIRCLE_PROJECT}"
pipeline_definition_id = "{CIRCLE_PIPELINE_DEFINITION}"
refs = ["refs/tags/v*"]

# Another CircleCI organization, with a project of its own.
[[project.their-circleci-pkg.publisher]]
provider = "circleci"
issuer = "{circleci_issuer(CIRCLE_OTHER_ORG)}"
org_id = "{CIRCLE_OTHER_ORG}"
project_id = "c1c1c1c1-0000-4000-8000-0000000000ff"
pipeline_definition_id = "{CIRCLE_PIPELINE_DEFINITION}"

[[project.buildkite-pkg.publisher]]
provider = "buildkite"
organization_slug = "acme-inc"
organization_id = "{buildkite_claims()["organization_id"]}"
pipeline_slug = "release"
tags = ["v*"]

[[project.semaphore-pkg.publisher]]
provider = "semaphore"
issuer = "{semaphore_issuer()}"
organization = "octo"
organization_id = "{semaphore_claims()["org_id"]}"
project = "sampleproject"
project_id = "{semaphore_claims()["prj_id"]}"
refs = ["refs/tags/v*"]

[[project.custom-pkg.publisher]]
provider = "custom"
issuer = "{CUSTOM}"
lookup = "repository"
required = ["sha"]
claims = [
  {{ claim = "repository", casefold = "octo/sampleproject" }},
  {{ claim = "ref", glob = "refs/tags/v*" }},
]
"""

Issuers = dict[str, FakeIssuer]


def custom_claims(**overrides: Any) -> dict[str, Any]:
    claims = google_claims(iss=CUSTOM, sub="repo:octo/sampleproject", email=MISSING)
    claims.update(repository="octo/sampleproject", ref="refs/tags/v1.0.0", sha="e" * 40)
    claims.pop("email_verified")
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not MISSING}


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    issuers, publishers = tmp_path / "issuers.toml", tmp_path / "publishers.toml"
    issuers.write_text(ISSUERS, encoding="utf-8")
    publishers.write_text(PUBLISHERS, encoding="utf-8")
    return {"issuers_file": issuers, "publishers_file": publishers}


@pytest.fixture
def fakes() -> Issuers:
    urls = {
        "google": GOOGLE,
        "activestate": ACTIVESTATE,
        "circleci": circleci_issuer(),
        "circleci-other": circleci_issuer(CIRCLE_OTHER_ORG),
        "buildkite": BUILDKITE,
        "semaphore": semaphore_issuer(),
        "semaphore-evil": semaphore_issuer("evil"),
        "custom": CUSTOM,
    }
    return {name: FakeIssuer(url) for name, url in urls.items()}


@pytest.fixture
def router(fakes: Issuers) -> Iterator[respx.MockRouter]:
    """Every outgoing request is mocked; one not routed here fails the test."""
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as mock:
        for name, fake in fakes.items():
            if name != "google":
                fake.mock(mock)
        # Google publishes its keys on another host, allowed by `jwks_hosts`.
        google = fakes["google"]
        mock.get(f"{GOOGLE}/.well-known/openid-configuration").respond(
            json={"issuer": GOOGLE, "jwks_uri": GOOGLE_CERTS}
        )
        mock.get(GOOGLE_CERTS).respond(json=google.jwks())
        yield mock


async def mint(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/_/oidc/mint-token", json={"token": token})


def refused(response: httpx.Response, code: str) -> str:
    body: dict[str, Any] = response.json()
    assert response.status_code == 422, body
    assert "token" not in body
    assert [e["code"] for e in body["errors"]] == [code], body
    description: str = body["errors"][0]["description"]
    return description


Build = Callable[[Issuers], str]

# One row per provider: (provider, token, project, minted `sub`).
GOOD: list[tuple[str, Build, str, str]] = [
    ("google", lambda f: f["google"].sign(google_claims()), "google-pkg", "google:"),
    (
        "activestate",
        lambda f: f["activestate"].sign(activestate_claims()),
        "activestate-pkg",
        "activestate:org:octo-org:project:sampleproject",
    ),
    ("circleci", lambda f: f["circleci"].sign(circleci_claims()), "circleci-pkg", "circleci:org/"),
    (
        "buildkite",
        lambda f: f["buildkite"].sign(buildkite_claims()),
        "buildkite-pkg",
        "buildkite:organization:acme-inc:pipeline:release:",
    ),
    ("semaphore", lambda f: f["semaphore"].sign(semaphore_claims()), "semaphore-pkg", "semaphore:"),
    (
        "custom",
        lambda f: f["custom"].sign(custom_claims()),
        "custom-pkg",
        "custom:repo:octo/sampleproject",
    ),
]


@pytest.mark.parametrize(
    ("build", "project", "subject"),
    [(b, p, s) for _, b, p, s in GOOD],
    ids=[i for i, _, _, _ in GOOD],
)
async def test_each_provider_mints_for_its_project(
    make_client: Any,
    files: dict[str, Path],
    fakes: Issuers,
    router: respx.MockRouter,
    build: Build,
    project: str,
    subject: str,
) -> None:
    async with make_client(**files) as client:
        response = await mint(client, build(fakes))
    body = response.json()
    assert response.status_code == 200, body
    inner = unwrap(body["token"])
    assert inner is not None
    claims = jwt.decode(inner, options={"verify_signature": False})
    assert claims["projects"] == [project]
    assert claims["sub"].startswith(subject)


# One row per attack: (id, token, expected code, how the refusal starts).
HOSTILE: list[tuple[str, Build, str, str]] = [
    (
        "google-verified-as-string",
        lambda f: f["google"].sign(google_claims(email_verified="true")),
        "invalid-publisher",
        "valid token, but no corresponding publisher: email_verified: ",
    ),
    (
        "google-other-account",
        lambda f: f["google"].sign(google_claims(email="x@evil.iam.gserviceaccount.com")),
        "invalid-publisher",
        "valid token, but no trusted publisher for email ",
    ),
    (
        "activestate-other-builder",
        lambda f: f["activestate"].sign(activestate_claims(builder="evil")),
        "invalid-publisher",
        "valid token, but no corresponding publisher: builder: ",
    ),
    (
        "buildkite-other-org-same-pipeline",
        lambda f: f["buildkite"].sign(buildkite_claims(organization="evil-inc")),
        "invalid-publisher",
        "valid token, but no corresponding publisher: organization_slug: ",
    ),
    (
        "buildkite-org-id-not-requested",
        lambda f: f["buildkite"].sign(buildkite_claims(organization_id=MISSING)),
        "invalid-publisher",
        "valid token, but no corresponding publisher: organization_id: ",
    ),
    (
        "buildkite-missing-job-id",
        lambda f: f["buildkite"].sign(buildkite_claims(job_id=MISSING)),
        "invalid-publisher",
        "valid token, but no corresponding publisher: job_id: ",
    ),
    (
        "circleci-ssh-rerun",
        lambda f: f["circleci"].sign(circleci_claims(**{"oidc.circleci.com/ssh-rerun": True})),
        "invalid-publisher",
        "valid token, but no corresponding publisher: oidc.circleci.com/ssh-rerun: ",
    ),
    (
        # Another organization's issuer, configured, naming our project id.
        "circleci-other-org-issuer",
        lambda f: f["circleci-other"].sign(circleci_claims(org_id=CIRCLE_OTHER_ORG)),
        "invalid-publisher",
        "valid token, but no trusted publisher for oidc.circleci.com/project-id ",
    ),
    (
        # Our organization's issuer in `iss`, signed with the other one's key.
        "circleci-other-org-key",
        lambda f: f["circleci-other"].sign(circleci_claims()),
        "invalid-token",
        "signature does not verify",
    ),
    (
        "circleci-ref-unanchored",
        lambda f: f["circleci"].sign(
            circleci_claims(**{"oidc.circleci.com/vcs-ref": "refs/heads/x/refs/tags/v1"})
        ),
        "invalid-publisher",
        "valid token, but no corresponding publisher: oidc.circleci.com/vcs-ref: ",
    ),
    (
        "semaphore-debug-job",
        lambda f: f["semaphore"].sign(semaphore_claims(job_type="debug_job")),
        "invalid-publisher",
        "valid token, but no corresponding publisher: job_type: ",
    ),
    (
        "semaphore-other-org-issuer",
        lambda f: f["semaphore-evil"].sign(semaphore_claims(organization="evil")),
        "invalid-publisher",
        "valid token, but no trusted publisher for prj ",
    ),
    (
        "custom-lookalike-repository",
        lambda f: f["custom"].sign(custom_claims(repository="octo/sampleproject-evil")),
        "invalid-publisher",
        "valid token, but no trusted publisher for repository ",
    ),
    (
        "custom-ref-unanchored",
        lambda f: f["custom"].sign(custom_claims(ref="refs/heads/evil/refs/tags/v1")),
        "invalid-publisher",
        "valid token, but no corresponding publisher: ref: ",
    ),
    (
        "custom-required-claim-missing",
        lambda f: f["custom"].sign(custom_claims(sha=MISSING)),
        "invalid-publisher",
        "valid token, but no corresponding publisher: sha: ",
    ),
]


@pytest.mark.parametrize(
    ("build", "code", "why"),
    [(b, c, w) for _, b, c, w in HOSTILE],
    ids=[i for i, _, _, _ in HOSTILE],
)
async def test_hostile_token_is_refused(
    make_client: Any,
    files: dict[str, Path],
    fakes: Issuers,
    router: respx.MockRouter,
    build: Build,
    code: str,
    why: str,
) -> None:
    async with make_client(**files) as client:
        description = refused(await mint(client, build(fakes)), code)
    assert description.startswith(why), description


async def test_another_organizations_issuer_never_meets_our_publishers(
    make_client: Any, files: dict[str, Path], fakes: Issuers, router: respx.MockRouter
) -> None:
    token = fakes["circleci-other"].sign(circleci_claims(org_id=CIRCLE_OTHER_ORG))
    async with make_client(**files) as client:
        description = refused(await mint(client, token), "invalid-publisher")
    assert description.startswith("valid token, but no trusted publisher for")
    assert "circleci-pkg" not in description
    assert CIRCLE_ORG not in description


async def test_an_unconfigured_organization_issuer_is_never_fetched(
    make_client: Any, files: dict[str, Path], router: respx.MockRouter
) -> None:
    stranger = FakeIssuer(semaphore_issuer("stranger"))
    route = router.get(url__startswith=stranger.url).respond(json=stranger.jwks())
    token = stranger.sign(semaphore_claims(organization="stranger"))
    async with make_client(**files) as client:
        refused(await mint(client, token), "invalid-token")
    assert route.call_count == 0


async def test_a_provider_is_off_unless_an_issuer_is_configured(
    make_client: Any, fakes: Issuers, router: respx.MockRouter
) -> None:
    # The default test configuration names only GitHub and GitLab issuers.
    async with make_client() as client:
        description = refused(
            await mint(client, fakes["buildkite"].sign(buildkite_claims())), "invalid-token"
        )
    assert "is not a trusted issuer" in description
    assert router.calls.call_count == 0


@pytest.mark.parametrize("provider", [i for i, _, _, _ in GOOD])
async def test_a_disabled_provider_is_not_enabled(
    make_client: Any,
    files: dict[str, Path],
    fakes: Issuers,
    router: respx.MockRouter,
    provider: str,
) -> None:
    build = next(b for i, b, _, _ in GOOD if i == provider)
    async with make_client(**files, disabled_providers=frozenset({provider})) as client:
        description = refused(await mint(client, build(fakes)), "not-enabled")
    assert provider in description
    assert router.calls.call_count == 0


async def test_a_token_of_a_preset_provider_is_used_once(
    make_client: Any, files: dict[str, Path], fakes: Issuers, router: respx.MockRouter
) -> None:
    token = fakes["buildkite"].sign(buildkite_claims())
    async with make_client(**files) as client:
        assert (await mint(client, token)).status_code == 200
        refused(await mint(client, token), "invalid-reuse-token")


@pytest.mark.parametrize(
    ("provider", "build"),
    [
        ("google", lambda f: f["google"].sign(google_claims(jti=MISSING))),
        ("circleci", lambda f: f["circleci"].sign(circleci_claims(jti=MISSING))),
    ],
    ids=["google", "circleci"],
)
async def test_token_without_jti_is_used_once_keyed_by_its_hash(
    make_client: Any,
    files: dict[str, Path],
    fakes: Issuers,
    router: respx.MockRouter,
    provider: str,
    build: Build,
) -> None:
    # These providers document no jti: the token's own digest is the replay key.
    token = build(fakes)
    assert "jti" not in jwt.decode(token, options={"verify_signature": False})
    async with make_client(**files) as client:
        assert (await mint(client, token)).status_code == 200
        refused(await mint(client, token), "invalid-reuse-token")


async def test_provider_that_always_sends_jti_refuses_a_token_without_one(
    make_client: Any, files: dict[str, Path], fakes: Issuers, router: respx.MockRouter
) -> None:
    token = fakes["buildkite"].sign(buildkite_claims(jti=MISSING))
    async with make_client(**files) as client:
        assert "jti" in refused(await mint(client, token), "invalid-token")
