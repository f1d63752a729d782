"""Rate limits on mint-token: per client address, per publisher, in process and on real Redis."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
import respx
from fakeissuer import Clock, FakeIssuer, github_claims
from obskit import LOOPBACK_PROXY, random_address, scrape, value
from servers import free_port
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from service.errors import refusal_response
from service.observability.clientip import ClientAddress
from service.observability.metrics import Metrics
from service.observability.middleware import ObservabilityMiddleware, RouteTemplates
from service.ratelimit import (
    AddressLimits,
    Limit,
    MemoryWindows,
    Rate,
    RateLimited,
    RateLimiter,
    RedisWindows,
    parse_rate,
)

pytestmark = pytest.mark.anyio

MINT = "/_/oidc/mint-token"


async def mint(client: httpx.AsyncClient, token: str, address: str | None = None) -> httpx.Response:
    headers = {"X-Forwarded-For": address} if address else {}
    return await client.post(MINT, json={"token": token}, headers=headers)


def assert_rate_limited(response: httpx.Response, retry_after: int) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["retry-after"] == str(retry_after)
    body = response.json()
    assert body["message"] == "Token request failed"
    assert [e["code"] for e in body["errors"]] == ["rate-limited"]
    assert f"retry after {retry_after}s" in body["errors"][0]["description"]
    assert "token" not in body


async def test_the_fourth_request_from_one_address_gets_429_until_the_window_turns(
    make_client: Any, clock: Clock
) -> None:
    clock.now = 1_800_000_000 - 20  # 20 s before a 60 s window boundary
    async with make_client(rate_limit_mint_ip=Rate(3, 60)) as client:
        for _ in range(3):
            assert (await mint(client, "junk")).status_code == 422
        assert_rate_limited(await mint(client, "junk"), retry_after=20)
        # The other mint path shares the budget; other routes are not limited.
        assert (await client.post("/_/oidc/github/mint-token", json={})).status_code == 429
        assert (await client.get("/_/oidc/audience")).status_code == 200
        clock.advance(20)
        assert (await mint(client, "junk")).status_code == 422
        text = await scrape(client)
    assert value(text, "mintgate_rate_limited_total", limit="mint-ip") == 2
    assert (
        value(text, "mintgate_http_responses_total", route=MINT, method="POST", status="429") == 1
    )


async def test_a_publisher_over_its_limit_is_refused_without_burning_the_jti(
    make_client: Any, clock: Clock, github: FakeIssuer, issuers_mock: respx.MockRouter
) -> None:
    tokens = [github.sign(github_claims()) for _ in range(3)]
    # The same repository in another case is the same publisher: lookup keys are casefolded.
    loud = github.sign(github_claims(repository="Octo-Org/SampleProject"))
    async with make_client(rate_limit_mint_publisher=Rate(2, 60)) as client:
        assert (await mint(client, tokens[0])).status_code == 200
        assert (await mint(client, tokens[1])).status_code == 200
        assert_rate_limited(await mint(client, tokens[2]), retry_after=60)
        assert (await mint(client, loud)).status_code == 429
        # Another repository has its own budget (and no publisher here).
        other = await mint(client, github.sign(github_claims(repository="octo-org/other")))
        assert other.json()["errors"][0]["code"] == "invalid-publisher"
        clock.advance(60)
        # The limited token was never recorded as used: it mints now.
        assert (await mint(client, tokens[2])).status_code == 200
        text = await scrape(client)
    assert value(text, "mintgate_rate_limited_total", limit="mint-publisher") == 2
    refusals = "mintgate_mint_refusals_total"
    assert value(text, refusals, provider="github", code="rate-limited") == 2


async def test_each_forwarded_client_has_its_own_budget_behind_a_trusted_proxy(
    make_client: Any,
) -> None:
    changes = {"rate_limit_mint_ip": Rate(1, 60), "trusted_proxies": LOOPBACK_PROXY}
    async with make_client(**changes) as client:
        assert (await mint(client, "junk", "203.0.113.1")).status_code == 422
        assert (await mint(client, "junk", "203.0.113.1")).status_code == 429
        assert (await mint(client, "junk", "203.0.113.2")).status_code == 422
        # A client's own X-Forwarded-For entries sit left of what the proxy appended.
        spoofed = await mint(client, "junk", "198.51.100.7, 203.0.113.1")
        assert spoofed.status_code == 429
        # One IPv6 /64 is one client.
        assert (await mint(client, "junk", "2001:db8:1:2::1")).status_code == 422
        assert (await mint(client, "junk", "2001:db8:1:2:ffff::9")).status_code == 429


async def test_without_a_trusted_proxy_x_forwarded_for_is_ignored(make_client: Any) -> None:
    async with make_client(rate_limit_mint_ip=Rate(1, 60)) as client:
        assert (await mint(client, "junk", "203.0.113.1")).status_code == 422
        # A fresh header does not buy a fresh budget: the socket peer is counted.
        assert (await mint(client, "junk", "203.0.113.99")).status_code == 429


@pytest.mark.redis
async def test_two_replicas_on_one_redis_share_the_limits(
    make_client: Any, redis: aioredis.Redis, github: FakeIssuer, issuers_mock: respx.MockRouter
) -> None:
    address = random_address()
    repository = f"octo-org/sampleproject-{address.replace('.', '-')}"  # fresh Redis keys
    changes = {
        "rate_limit_mint_ip": Rate(3, 60),
        "rate_limit_mint_publisher": Rate(2, 60),
        "trusted_proxies": LOOPBACK_PROXY,
        "rate_limit_shared": True,
    }
    async with make_client(redis, **changes) as a, make_client(redis, **changes) as b:
        assert (await mint(a, "junk", address)).status_code == 422
        assert (await mint(b, "junk", address)).status_code == 422
        assert (await mint(a, "junk", address)).status_code == 422
        assert (await mint(b, "junk", address)).status_code == 429
        token = lambda: github.sign(github_claims(repository=repository))  # noqa: E731
        first = await mint(a, token(), random_address())
        second = await mint(b, token(), random_address())
        third = await mint(a, token(), random_address())
        # No publisher is configured for this repository: invalid-publisher until limited.
        assert [r.status_code for r in (first, second, third)] == [422, 422, 429]
        assert third.json()["errors"][0]["code"] == "rate-limited"
    keys = [key async for key in redis.scan_iter(match="mintgate:ratelimit:*")]
    assert keys
    ttls = [await redis.ttl(key) for key in keys]
    assert all(0 < ttl <= 61 for ttl in ttls), "every counter expires"


@pytest.mark.redis
async def test_replicas_count_their_own_limits_unless_sharing_is_switched_on(
    make_client: Any, redis: aioredis.Redis
) -> None:
    address = random_address()
    changes = {"rate_limit_mint_ip": Rate(1, 60), "trusted_proxies": LOOPBACK_PROXY}
    async with make_client(redis, **changes) as a, make_client(redis, **changes) as b:
        assert (await mint(a, "junk", address)).status_code == 422
        assert (await mint(b, "junk", address)).status_code == 422  # b's own budget
        assert (await mint(a, "junk", address)).status_code == 429


async def test_with_redis_down_limits_still_hold_in_each_process(make_client: Any) -> None:
    dead = aioredis.Redis.from_url(
        f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5, socket_timeout=0.5
    )
    async with make_client(dead, rate_limit_mint_ip=Rate(2, 60), rate_limit_shared=True) as client:
        assert (await mint(client, "junk")).status_code == 422
        assert (await mint(client, "junk")).status_code == 422
        assert (await mint(client, "junk")).status_code == 429
        text = await scrape(client)
    await dead.aclose()
    assert value(text, "mintgate_store_errors_total", store="ratelimit") == 3


async def test_the_limiter_guards_any_route_such_as_a_future_login() -> None:
    """Login and 2FA routes reuse the middleware per address and `check` per account."""
    clock = Clock()
    limiter = RateLimiter(MemoryWindows(), clock=clock)
    per_account = Limit("login-account", Rate(2, 300), "account")

    async def login(request: Any) -> Response:
        refused = await limiter.check(per_account, (await request.json())["user"].casefold())
        return refusal_response(refused) if refused else PlainTextResponse("ok")

    routes = [Route("/login", login, methods=["POST"])]
    app = Starlette(routes=routes)
    clients = ClientAddress()
    app.add_middleware(
        ObservabilityMiddleware,
        metrics=Metrics(),
        routes=RouteTemplates(routes),
        clients=clients,
        gate=AddressLimits(
            limiter=limiter,
            rules={"/login": Limit("login-ip", Rate(10, 60), "address")},
            clients=clients,
            respond=refusal_response,
        ),
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        statuses = [
            (await client.post("/login", json={"user": user})).status_code
            for user in ("alice", "Alice", "alice", "bob")
        ]
        assert statuses == [200, 200, 429, 200]
        for _ in range(6):
            await client.post("/login", json={"user": "carol"})
        assert (await client.post("/login", json={"user": "dave"})).status_code == 429


@pytest.mark.redis
async def test_redis_counters_are_one_atomic_count_per_window(redis: aioredis.Redis) -> None:
    windows = RedisWindows(redis)
    key = f"test\x00{random_address()}"
    counts = [await windows.hit(key, 60, 1_800_000_000.0) for _ in range(3)]
    assert counts == [1, 2, 3]
    assert await windows.hit(key, 60, 1_800_000_060.0) == 1  # the next window starts over


async def test_the_memory_store_never_grows_past_its_bound() -> None:
    windows = MemoryWindows(max_keys=2)
    assert await windows.hit("a", 60, 0.0) == 1
    assert await windows.hit("b", 60, 0.0) == 1
    # Full of live windows: a new key is not counted (and no live key is forgotten).
    assert await windows.hit("c", 60, 0.0) == 0
    assert await windows.hit("a", 60, 0.0) == 2
    # Once those windows are over, their slots are reused.
    assert await windows.hit("c", 60, 60.0) == 1


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("60/60", Rate(60, 60)), ("1/1", Rate(1, 1)), ("OFF", None), ("5/86400", Rate(5, 86400))],
    ids=["per-minute", "smallest", "off", "per-day"],
)
def test_rates_parse(raw: str, expected: Rate | None) -> None:
    assert parse_rate(raw) == expected


@pytest.mark.parametrize(
    "raw", ["60", "0/60", "60/0", "a/b", "60/60/60", "-1/60", "5/86401"], ids=str
)
def test_bad_rates_stop_start_up_naming_the_variable(raw: str) -> None:
    from service.settings import Settings, SettingsError

    with pytest.raises(SettingsError, match="MINTGATE_RATE_LIMIT_MINT_IP"):
        Settings.from_env({"MINTGATE_RATE_LIMIT_MINT_IP": raw})


def test_a_rate_limited_refusal_is_429_in_pypis_format() -> None:
    response = refusal_response(RateLimited("rate-limited", "slow down", retry_after=7))
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.body == (
        b'{"message":"Token request failed","errors":[{"code":"rate-limited",'
        b'"description":"slow down"}]}'
    )
