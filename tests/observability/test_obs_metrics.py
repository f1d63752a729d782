"""GET /metrics after mints, refusals, a JWKS outage and a Redis outage: the counted values."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
import respx
from fakeissuer import Clock, FakeIssuer, github_claims
from obskit import scrape, value
from publishing.publishingkit import DATA, trust
from servers import free_port
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from service.issuers import load_issuers
from service.observability.clientip import ClientAddress
from service.observability.metrics import Metrics
from service.observability.middleware import ObservabilityMiddleware, RouteTemplates
from service.store import open_store
from service.trust import TrustUnavailable

pytestmark = pytest.mark.anyio

METRICS_TOKEN = "scrape-token-0123456789abcdef"


async def mint(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/_/oidc/mint-token", json={"token": token})


async def test_mints_and_refusals_are_counted_by_provider_and_code(
    make_client: Any, github: FakeIssuer, issuers_mock: respx.MockRouter
) -> None:
    good = github.sign(github_claims())
    async with make_client() as client:
        assert (await mint(client, good)).status_code == 200
        assert (await mint(client, good)).status_code == 422  # replayed
        assert (await mint(client, github.sign(github_claims(aud="pypi")))).status_code == 422
        assert (await mint(client, "not-a-jwt")).status_code == 422
        text = await scrape(client)

    assert value(text, "mintgate_mints_total", provider="github") == 1
    refusals = "mintgate_mint_refusals_total"
    assert value(text, refusals, provider="github", code="invalid-reuse-token") == 1
    assert value(text, refusals, provider="github", code="invalid-token") == 1
    # Refused before the issuer was known: no provider to name.
    assert value(text, refusals, provider="unknown", code="invalid-token") == 1
    assert value(text, "mintgate_replay_refusals_total") == 1
    assert value(text, "mintgate_mints_total", provider="gitlab") == 0


async def test_latency_is_observed_per_route_template_never_per_raw_path(
    make_client: Any, issuers_mock: respx.MockRouter
) -> None:
    async with make_client() as client:
        for path in ("/no/such/a", "/no/such/b", "/%2e%2e/etc/passwd"):
            assert (await client.get(path)).status_code == 404
        assert (await client.get("/_/oidc/audience")).status_code == 200
        assert (await client.request("BREW", "/_/oidc/audience")).status_code == 405
        text = await scrape(client)

    count = "mintgate_http_request_duration_seconds_count"
    assert value(text, count, route="unmatched", method="GET") == 3
    assert value(text, count, route="/_/oidc/audience", method="GET") == 1
    assert value(text, count, route="/_/oidc/audience", method="other") == 1
    assert "/no/such" not in text
    assert "passwd" not in text
    responses = "mintgate_http_responses_total"
    assert value(text, responses, route="unmatched", method="GET", status="404") == 3


async def test_a_jwks_outage_shows_fetches_failures_stale_serves_and_cooldown_hits(
    make_client: Any, clock: Clock, github: FakeIssuer, issuers_mock: respx.MockRouter
) -> None:
    async with make_client() as client:
        assert (await mint(client, github.sign(github_claims()))).status_code == 200
        # A new kid on fresh keys refetches once; a second one inside the cooldown does not.
        unknown = github.sign(github_claims(), kid="rotated-key")
        assert (await mint(client, unknown)).status_code == 422
        assert (await mint(client, unknown)).status_code == 422
        issuers_mock.get(github.jwks_uri).mock(return_value=httpx.Response(500))
        clock.advance(3600)  # past every TTL: the next mint must refetch, which fails
        now = int(clock())
        stale = await mint(client, github.sign(github_claims(now=now)))
        assert stale.status_code == 200, stale.text
        text = await scrape(client)

    assert value(text, "mintgate_jwks_fetches_total") == 3
    assert value(text, "mintgate_jwks_fetch_failures_total") == 1
    assert value(text, "mintgate_jwks_stale_serves_total") == 1
    assert value(text, "mintgate_jwks_cooldown_hits_total") == 1
    assert value(text, "mintgate_jwks_shared_hits_total") == 0


async def test_the_trust_index_shows_memory_answers_loads_polls_and_a_lost_feed(
    make_client: Any, tmp_path: Path, github: FakeIssuer, issuers_mock: respx.MockRouter
) -> None:
    """An operator sees a worker whose feed is lost: its lookups go to the database."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'trust.sqlite3'}"
    seeded = await open_store(url)
    try:
        issuers = load_issuers(DATA / "issuers.toml", audience="mintgate", leeway=30)
        # Pinned already: a first-use pin is a trust change, and the index would reload.
        await trust(seeded, issuers, "sampleproject", repository_id="99999")
    finally:
        await seeded.close()
    async with make_client(trust_source="database", database_url=url) as client:
        for _ in range(3):
            assert (await mint(client, github.sign(github_claims()))).status_code == 200
        text = await scrape(client)
        assert value(text, "mintgate_trust_index_loads_total") == 1
        assert value(text, "mintgate_trust_index_memory_answers_total") == 2
        assert value(text, "mintgate_trust_index_direct_answers_total") == 0
        assert value(text, "mintgate_trust_feed_polls_total") >= 1
        assert value(text, "mintgate_trust_feed_poll_failures_total") == 0

        index = client._transport.app.state.trust_index  # type: ignore[attr-defined]
        index.feed = Lost()
        with pytest.raises(TrustUnavailable):
            await index.caught_up()
        assert (await mint(client, github.sign(github_claims()))).status_code == 200
        text = await scrape(client)
    assert value(text, "mintgate_trust_index_direct_answers_total") == 1
    assert value(text, "mintgate_trust_feed_poll_failures_total") >= 3


class Lost:
    async def read(self, since: int, *, limit: int) -> Any:
        raise TrustUnavailable("the feed's database went away")


async def test_redis_down_counts_replay_and_revocation_store_errors(
    make_client: Any, github: FakeIssuer, issuers_mock: respx.MockRouter
) -> None:
    # Nothing listens there: every command fails at once, as when Redis is down.
    dead = aioredis.Redis.from_url(
        f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5, socket_timeout=0.5
    )
    async with make_client(redis=dead) as client:
        refused = await mint(client, github.sign(github_claims()))
        assert refused.status_code == 503
        assert refused.json()["errors"][0]["code"] == "service-unavailable"
        text = await scrape(client)
        assert value(text, "mintgate_store_errors_total", store="replay") == 1
        refusals = "mintgate_mint_refusals_total"
        assert value(text, refusals, provider="github", code="service-unavailable") == 1
    await dead.aclose()


async def test_revocation_store_errors_are_counted_and_still_raised() -> None:
    from service.observability.stores import CountedRevocations
    from service.revocation import RevocationUnavailable

    class Down:
        async def revoke(self, token_id: str, *, until: int) -> None:
            raise RevocationUnavailable("down")

        async def is_revoked(self, token_id: str) -> bool:
            raise RevocationUnavailable("down")

    seen: list[str] = []
    store = CountedRevocations(Down(), seen.append)
    with pytest.raises(RevocationUnavailable):
        await store.is_revoked("jti")
    with pytest.raises(RevocationUnavailable):
        await store.revoke("jti", until=1)
    assert seen == ["revocation", "revocation"]


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        (None, 401),
        ("Bearer wrong-token-0123456789abcdef", 401),
        (f"bearer {METRICS_TOKEN}", 401),  # exact match only
        (f"Basic {METRICS_TOKEN}", 401),
        (f"Bearer {METRICS_TOKEN}", 200),
    ],
    ids=["none", "wrong", "lowercase-scheme", "basic", "right"],
)
async def test_a_metrics_token_guards_the_endpoint(
    make_client: Any, authorization: str | None, status: int
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    async with make_client(metrics_token=METRICS_TOKEN) as client:
        response = await client.get("/metrics", headers=headers)
    assert response.status_code == status
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert METRICS_TOKEN not in response.text


def test_the_metrics_token_is_not_in_the_settings_repr() -> None:
    from service.settings import Settings

    assert METRICS_TOKEN not in repr(Settings(metrics_token=METRICS_TOKEN))


def test_a_short_metrics_token_stops_start_up_without_echoing_it() -> None:
    from service.settings import Settings, SettingsError

    with pytest.raises(SettingsError, match="MINTGATE_METRICS_TOKEN") as raised:
        Settings.from_env({"MINTGATE_METRICS_TOKEN": "hunter2"})
    assert "hunter2" not in str(raised.value)


async def test_requests_in_flight_are_counted_while_handled_and_after_a_crash() -> None:
    """One process: a count read at scrape time, back to 0 whether handlers answer or raise."""
    metrics = Metrics()
    entered, release = asyncio.Event(), asyncio.Event()

    async def slow(request: Request) -> Response:
        entered.set()
        await release.wait()
        return PlainTextResponse("done")

    async def broken(request: Request) -> Response:
        raise RuntimeError("a bug in a handler")

    routes = [Route("/slow", slow), Route("/broken", broken)]
    app = Starlette(routes=routes)
    app.add_middleware(
        ObservabilityMiddleware,
        metrics=metrics,
        routes=RouteTemplates(routes),
        clients=ClientAddress(),
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    in_flight = "mintgate_http_requests_in_flight"
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        pending = asyncio.ensure_future(client.get("/slow"))
        await entered.wait()
        assert value(metrics.render().decode(), in_flight) == 1
        assert (await client.get("/broken")).status_code == 500
        assert value(metrics.render().decode(), in_flight) == 1
        release.set()
        assert (await pending).status_code == 200
    assert value(metrics.render().decode(), in_flight) == 0
