"""A mint that succeeds, and what surrounds it: replay, switches, outages, sharing."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import jwt
import pytest
import redis.asyncio as aioredis
from fakeissuer import GITHUB, NOW, Clock, FakeIssuer, github_claims, gitlab_claims

from service.minting.tokens import PREFIX, unwrap
from service.verifier import registry_verifier

pytestmark = pytest.mark.anyio

SERVICE = "http://127.0.0.1:8000"


async def mint(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/_/oidc/mint-token", json={"token": token})


def minted_claims(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert response.status_code == 200, body
    assert body["success"] is True
    token = body["token"]
    assert token.startswith(PREFIX)
    inner = unwrap(token)
    assert inner is not None
    claims: dict[str, Any] = jwt.decode(inner, options={"verify_signature": False})
    assert claims["exp"] == body["expires"]
    return claims


async def test_github_token_mints_for_every_project_that_trusts_it(
    make_client: Any, issuers_mock: Any, github: FakeIssuer, clock: Clock
) -> None:
    async with make_client() as client:
        response = await mint(client, github.sign(github_claims()))
        claims = minted_claims(response)
        assert claims["projects"] == ["sample-plugin", "sampleproject"]
        assert claims["iss"] == SERVICE
        assert claims["aud"] == "mintgate-upload"
        assert claims["exp"] - claims["iat"] == 900
        assert claims["provenance"]["repository"] == "octo-org/sampleproject"
        assert claims["provenance"]["sha"] == "a" * 40
        assert claims["sub"] == "github:repo:octo-org/sampleproject:environment:pypi"

        verifier = registry_verifier(
            SERVICE, "mintgate-upload", client, allow_loopback_http=True, clock=clock
        )
        token = response.json()["token"]
        verified = await verifier.verify(token, "Sample.Plugin")
        assert not hasattr(verified, "code"), verified
        refusal = await verifier.verify(token, "another-project")
        assert getattr(refusal, "code", None) == "project-not-in-scope"


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param(github_claims(repository="OCTO-ORG/SampleProject"), id="repository-case"),
        pytest.param(github_claims(environment="PyPI"), id="environment-case"),
    ],
)
async def test_github_case_variants_that_github_treats_as_equal_are_accepted(
    make_client: Any, issuers_mock: Any, github: FakeIssuer, claims: dict[str, Any]
) -> None:
    async with make_client() as client:
        assert "sampleproject" in minted_claims(await mint(client, github.sign(claims)))["projects"]


async def test_named_reusable_workflow_in_another_repository_mints(
    make_client: Any, issuers_mock: Any, github: FakeIssuer
) -> None:
    claims = github_claims(
        repository="octo-org/shared-user",
        job_workflow_ref="octo-org/workflows/.github/workflows/publish.yml@refs/tags/v2",
    )
    async with make_client() as client:
        assert minted_claims(await mint(client, github.sign(claims)))["projects"] == ["shared-user"]


async def test_gitlab_token_mints(make_client: Any, issuers_mock: Any, gitlab: FakeIssuer) -> None:
    async with make_client() as client:
        claims = minted_claims(await mint(client, gitlab.sign(gitlab_claims())))
    assert claims["projects"] == ["sampleproject"]
    assert claims["provider"] == "gitlab"


async def test_configured_enterprise_issuer_mints_only_its_own_publishers(
    make_client: Any, issuers_mock: Any
) -> None:
    enterprise = FakeIssuer(GITHUB + "/octo-enterprise", key_name="enterprise")
    enterprise.mock(issuers_mock)
    corp = github_claims(
        issuer=enterprise.url,
        repository="octo-corp/enterprise-pkg",
        owner_id="555",
        environment=None,
    )
    async with make_client() as client:
        assert minted_claims(await mint(client, enterprise.sign(corp)))["projects"] == [
            "enterprise-pkg"
        ]
        # The public repository's claims under the enterprise issuer match nothing there.
        response = await mint(client, enterprise.sign(github_claims(issuer=enterprise.url)))
    assert response.json()["errors"][0]["code"] == "invalid-publisher"


async def test_replayed_token_is_refused(
    make_client: Any, issuers_mock: Any, github: FakeIssuer
) -> None:
    token = github.sign(github_claims())
    async with make_client() as client:
        minted_claims(await mint(client, token))
        again = await mint(client, token)
    assert again.status_code == 422
    assert again.json()["errors"][0]["code"] == "invalid-reuse-token"
    assert "token" not in again.json()


async def test_replay_inside_the_leeway_after_expiry_is_refused(
    make_client: Any, issuers_mock: Any, github: FakeIssuer, clock: Clock
) -> None:
    token = github.sign(github_claims(exp=NOW + 10))
    async with make_client() as client:
        minted_claims(await mint(client, token))
        clock.advance(10 + 25)  # past exp, inside the 30 s leeway: still verifies
        again = await mint(client, token)
    assert again.json()["errors"][0]["code"] == "invalid-reuse-token"


async def test_refused_token_does_not_burn_its_jti(
    make_client: Any, issuers_mock: Any, github: FakeIssuer, clock: Clock
) -> None:
    claims = github_claims(nbf=NOW + 120)
    token = github.sign(claims)
    async with make_client() as client:
        assert (await mint(client, token)).status_code == 422
        clock.advance(120)
        minted_claims(await mint(client, token))


async def test_switched_off_globally_answers_not_enabled(
    make_client: Any, issuers_mock: Any, github: FakeIssuer
) -> None:
    async with make_client(trusted_publishing=False) as client:
        audience = await client.get("/_/oidc/audience")
        response = await mint(client, github.sign(github_claims()))
    assert audience.status_code == 403
    assert response.json()["errors"][0]["code"] == "not-enabled"
    assert issuers_mock.calls.call_count == 0


async def test_switched_off_provider_answers_not_enabled(
    make_client: Any, issuers_mock: Any, github: FakeIssuer, gitlab: FakeIssuer
) -> None:
    async with make_client(disabled_providers=frozenset({"gitlab"})) as client:
        off = await mint(client, gitlab.sign(gitlab_claims()))
        on = await mint(client, github.sign(github_claims()))
    assert off.json()["errors"][0]["code"] == "not-enabled"
    minted_claims(on)


async def test_audience_and_well_known_documents(make_client: Any) -> None:
    async with make_client() as client:
        audience = (await client.get("/_/oidc/audience")).json()
        jwks = (await client.get("/.well-known/jwks.json")).json()
        meta = (await client.get("/.well-known/oauth-authorization-server")).json()
        health = await client.get("/healthz")
        ready = await client.get("/readyz")
    assert audience == {"audience": "mintgate"}
    assert [k["alg"] for k in jwks["keys"]] == ["ES256"]
    assert "d" not in jwks["keys"][0]
    assert meta["issuer"] == SERVICE
    assert meta["jwks_uri"] == f"{SERVICE}/.well-known/jwks.json"
    assert health.status_code == ready.status_code == 200
    assert ready.json() == {"status": "ok", "replay": "ok", "trust": "ok"}


async def test_not_ready_until_the_trusted_publishers_have_loaded(make_client: Any) -> None:
    # A replica that has never read its publishers (its database unreachable since it
    # started) can only refuse mints: a load balancer must not send it any.
    unreachable = "postgresql+asyncpg://postgres@127.0.0.1:1/test"
    async with make_client(database_url=unreachable) as client:
        ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json() == {"status": "unavailable", "replay": "ok", "trust": "not loaded"}


async def test_hundred_concurrent_requests_with_a_new_kid_fetch_once(
    make_client: Any, issuers_mock: Any, github: FakeIssuer
) -> None:
    release, arrived = asyncio.Event(), asyncio.Event()

    async def slow_jwks(request: httpx.Request) -> httpx.Response:
        arrived.set()
        await release.wait()
        return httpx.Response(200, json=github.jwks())

    route = issuers_mock.get(github.jwks_uri).mock(side_effect=slow_jwks)
    tokens = [github.sign(github_claims()) for _ in range(100)]
    async with make_client() as client:
        tasks = [asyncio.ensure_future(mint(client, t)) for t in tokens]
        await arrived.wait()
        for _ in range(50):  # let every request reach the cache while the fetch is held
            await asyncio.sleep(0)
        release.set()
        responses = await asyncio.gather(*tasks)
    assert [r.status_code for r in responses] == [200] * 100
    assert route.call_count == 1


@pytest.mark.parametrize(
    "outage",
    [
        pytest.param(httpx.ConnectError("refused"), id="connection-refused"),
        pytest.param(httpx.ReadTimeout("timeout"), id="timeout"),
        pytest.param(httpx.Response(500), id="http-500"),
        pytest.param(httpx.Response(200, content=b"<html>oops</html>"), id="garbage"),
        pytest.param(httpx.Response(200, json={"keys": []}), id="empty-keyset"),
    ],
)
async def test_issuer_down_with_warm_cache_still_mints(
    make_client: Any, issuers_mock: Any, github: FakeIssuer, clock: Clock, outage: Any
) -> None:
    async with make_client() as client:
        minted_claims(await mint(client, github.sign(github_claims())))
        issuers_mock.get(github.jwks_uri).mock(side_effect=[outage])
        clock.advance(3600 * 2)  # keys are past their TTL: the cache must try the issuer
        response = await mint(client, github.sign(github_claims(now=int(clock.now))))
    minted_claims(response)


@pytest.mark.parametrize(
    "outage",
    [
        pytest.param(httpx.ConnectError("refused"), id="connection-refused"),
        pytest.param(httpx.ConnectTimeout("timeout"), id="timeout"),
        pytest.param(httpx.Response(503), id="http-503"),
        pytest.param(httpx.Response(200, content=b"{not json"), id="garbage"),
        pytest.param(httpx.Response(200, json={"keys": "nope"}), id="keys-not-a-list"),
        pytest.param(
            httpx.Response(302, headers={"Location": "https://evil.example/"}), id="redirect"
        ),
    ],
)
async def test_issuer_down_with_cold_cache_is_503_and_mints_nothing(
    make_client: Any, issuers_mock: Any, github: FakeIssuer, outage: Any
) -> None:
    issuers_mock.get(github.jwks_uri).mock(side_effect=[outage])
    async with make_client() as client:
        response = await mint(client, github.sign(github_claims()))
    assert response.status_code == 503
    assert response.json()["errors"][0]["code"] == "service-unavailable"
    assert "token" not in response.json()


@pytest.mark.redis
async def test_redis_down_is_503_and_mints_nothing(
    make_client: Any, issuers_mock: Any, github: FakeIssuer
) -> None:
    dead = aioredis.Redis.from_url(
        "redis://127.0.0.1:1/0", socket_connect_timeout=0.5, socket_timeout=0.5
    )
    async with make_client(redis=dead) as client:
        response = await mint(client, github.sign(github_claims()))
        ready = await client.get("/readyz")
    await dead.aclose()
    assert response.status_code == 503
    assert response.json()["errors"][0]["code"] == "service-unavailable"
    assert "token" not in response.json()
    assert ready.status_code == 503


@pytest.mark.redis
async def test_one_token_raced_against_two_replicas_sharing_redis_mints_once(
    make_client: Any, issuers_mock: Any, github: FakeIssuer, redis: aioredis.Redis
) -> None:
    token = github.sign(github_claims())
    async with make_client(redis=redis) as one, make_client(redis=redis) as two:
        responses = await asyncio.gather(*(mint(c, token) for c in [one, two] * 5))
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] + [422] * 9
    assert {r.json()["errors"][0]["code"] for r in responses if r.status_code == 422} == {
        "invalid-reuse-token"
    }


@pytest.mark.redis
async def test_redis_replay_record_outlives_exp_by_the_leeway(
    make_client: Any, issuers_mock: Any, github: FakeIssuer, redis: aioredis.Redis, clock: Clock
) -> None:
    from service.replay import replay_key

    claims = github_claims(exp=NOW + 10)
    async with make_client(redis=redis) as client:
        minted_claims(await mint(client, github.sign(claims)))
    expires_at = await redis.expiretime(replay_key(GITHUB, claims["jti"]))
    assert expires_at == NOW + 10 + 30


@pytest.mark.redis
@pytest.mark.parametrize(("shared", "fetches"), [(True, 1), (False, 2)], ids=["shared", "off"])
async def test_replicas_share_fetched_keys_only_when_switched_on(
    make_client: Any,
    issuers_mock: Any,
    github: FakeIssuer,
    redis: aioredis.Redis,
    shared: bool,
    fetches: int,
) -> None:
    route = issuers_mock.get(github.jwks_uri).respond(json=github.jwks())
    async with make_client(redis=redis, jwks_shared=shared) as one:
        minted_claims(await mint(one, github.sign(github_claims())))
    async with make_client(redis=redis, jwks_shared=shared) as two:
        minted_claims(await mint(two, github.sign(github_claims())))
    assert route.call_count == fetches


async def test_refusal_never_describes_another_projects_publishers(
    make_client: Any, issuers_mock: Any, github: FakeIssuer
) -> None:
    # Any GitHub user can mint a token for their own repository; what comes back
    # must not reveal which repositories, owner ids or environments others trust.
    stranger = github_claims(repository="mallory/tool", owner_id="666")
    async with make_client() as client:
        response = await mint(client, github.sign(stranger))
    description = response.json()["errors"][0]["description"]
    assert response.json()["errors"][0]["code"] == "invalid-publisher"
    assert "mallory/tool" in description
    for secret in ("octo-org", "1234567", "pypi", "release.yml", "octo-corp"):
        assert secret not in description


async def test_refusal_explains_the_mismatch_to_the_repository_it_concerns(
    make_client: Any, issuers_mock: Any, github: FakeIssuer
) -> None:
    async with make_client() as client:
        response = await mint(client, github.sign(github_claims(workflow="ci.yml")))
    description = response.json()["errors"][0]["description"]
    assert (
        "workflow_ref: expected 'octo-org/sampleproject/.github/workflows/release.yml@"
        in description
    )
    assert "ci.yml" in description
