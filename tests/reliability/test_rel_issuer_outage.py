"""The issuer's JWKS endpoint goes down while mints keep coming, with the keys already cached.

A real loopback JWKS server counts every request it gets, so "upstream attempts"
is what the issuer saw, not what the cache says it did. Time is the service's
injected clock, advanced by the test, so cooldowns and TTLs pass without sleeping;
the JWKS server stamps each request with that clock.

- Known kids never fail: fresh keys answer from the cache, and expired keys are
  served stale while every refresh fails.
- Unknown kids get a clean 422 `invalid-token` naming the kid, and cost the
  issuer at most one request per cooldown while the keys are fresh; once they
  are stale, unknown kids add nothing to the retry schedule known kids cause.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fakeissuer import Clock
from relkit import EcIssuer, JwksServer, app_settings, jwks_server, write_config

from service.app import Overrides, create_app

pytestmark = pytest.mark.anyio

MINT = "/_/oidc/mint-token"
COOLDOWN = 60.0
TTL = 300.0  # the issuer sends no Cache-Control: the default TTL applies
MIN_TTL = 60.0  # the cap of the retry backoff after failed refreshes
OUTAGE = 300.0  # long enough for the backoff to reach its cap and hold it three times


@dataclass
class Service:
    client: httpx.AsyncClient
    jwks: JwksServer
    issuer: EcIssuer
    clock: Clock
    rogues: int = 0
    _mark: int = 0
    _start: float = 0.0

    async def round(self, known: int, unknown: int) -> None:
        """`known` valid tokens and `unknown` tokens with never-seen kids, all at once."""
        good = [self.issuer.token(self.clock.now)[0] for _ in range(known)]
        bad = []
        for _ in range(unknown):
            self.rogues += 1
            claims = self.issuer.token(self.clock.now)[1]
            bad.append(self.issuer.sign(claims, kid=f"rogue-{self.rogues}"))
        answers = await asyncio.gather(
            *(self.client.post(MINT, json={"token": token}) for token in good + bad)
        )
        minted, refused = answers[:known], answers[known:]
        assert [r.status_code for r in minted] == [200] * known, minted[0].text
        for response in refused:
            assert response.status_code == 422, response.text
            error = response.json()["errors"][0]
            assert error["code"] == "invalid-token"
            assert error["description"].startswith("kid: 'rogue-")
            assert "token" not in response.json()

    def outage(self) -> float:
        """Switch the issuer down; from now on `attempts()` lists what reached it."""
        self.jwks.up = False
        self._mark, self._start = len(self.jwks.stamps), self.clock.now
        return self._start

    def attempts(self) -> list[float]:
        """Seconds since the outage began at which the issuer got a JWKS request."""
        return [stamp - self._start for stamp in self.jwks.stamps[self._mark :]]


@asynccontextmanager
async def service(tmp_path: Path) -> AsyncIterator[Service]:
    issuer, clock = EcIssuer(), Clock()
    with jwks_server(issuer) as jwks:
        jwks.stamp = clock
        settings = app_settings(
            write_config(tmp_path, jwks.url),
            jwks_cooldown=COOLDOWN,
            jwks_default_ttl=TTL,
            jwks_min_ttl=MIN_TTL,
        )
        app = create_app(settings, Overrides(clock=clock))
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://test"
            ) as client,
        ):
            warm = Service(client, jwks, issuer, clock)
            await warm.round(known=1, unknown=0)
            assert jwks.requests == 1
            yield warm


async def test_issuer_down_with_fresh_keys_known_kids_mint_and_unknown_kids_cost_one_fetch_per_cooldown(  # noqa: E501
    tmp_path: Path,
) -> None:
    async with service(tmp_path) as svc:
        start = svc.outage()
        span = 4 * COOLDOWN  # inside the TTL: the keys stay fresh throughout
        while svc.clock.now - start < span:
            svc.clock.advance(5)
            await svc.round(known=10, unknown=20)
        attempts = svc.attempts()
    # The first unknown kid tries at once (the warm-up fetch arms no cooldown), then
    # one per cooldown, counted from the last refetch an unknown kid caused.
    assert attempts == [5 + COOLDOWN * n for n in range(4)], attempts
    assert svc.rogues == 20 * int(span / 5)


async def test_issuer_down_with_expired_keys_a_burst_serves_stale_keys_with_one_fetch(
    tmp_path: Path,
) -> None:
    async with service(tmp_path) as svc:
        svc.clock.advance(TTL + 1)
        svc.outage()
        await svc.round(known=300, unknown=300)  # all waiting on one single-flight fetch
        assert svc.attempts() == [0.0]


async def outage_schedule(tmp_path: Path, unknown: int) -> list[float]:
    """An outage right after the keys expired, one round a second: when did the issuer hear?"""
    async with service(tmp_path) as svc:
        svc.clock.advance(TTL)
        start = svc.outage()
        while svc.clock.now - start < OUTAGE:
            await svc.round(known=2, unknown=unknown)
            svc.clock.advance(1)
        return svc.attempts()


def documented_schedule() -> list[float]:
    """jwks_cache.cache: after the n-th failure in a row, wait min(min_ttl, 2**(n-1)) seconds."""
    schedule, at, failures = [], 0.0, 0
    while at < OUTAGE:
        schedule.append(at)
        failures += 1
        at += min(MIN_TTL, 2.0 ** (failures - 1))
    return schedule


async def test_issuer_down_with_expired_keys_unknown_kids_add_no_upstream_attempts(
    tmp_path: Path,
) -> None:
    quiet = await outage_schedule(tmp_path, unknown=0)
    sprayed = await outage_schedule(tmp_path, unknown=5)
    assert sprayed == quiet
    # 0, 1, 3, 7 ... 63, then one attempt per MIN_TTL (here equal to the cooldown).
    assert quiet == documented_schedule()
