"""100,000 exchanges in one process: resident memory grows less than 10%.

`Exchange.mint` is driven directly (the app's own instance, wired by
`create_app` with the in-process replay store), so the figure is the
exchange's: envelope, key cache, signature, publishers, replay store, minting.
Tokens are ES256 (about 50 µs to sign, against several hundred for RS256) and
signed a thousand at a time just before use, so the test never holds more
than a chunk of them and their memory is not counted as the service's.

Time is the injected clock, one simulated millisecond per exchange, and the
OIDC tokens live 5 s with no leeway: the replay store holds about 5,000 live
records at any moment, so a store that forgot to purge expired records would
grow by 100,000 entries (tens of MB) and fail here. Warm-up (10,000 exchanges,
10 simulated seconds) fills it to that level before the first measurement.

About 50 s on 2 cores; marked slow so `-m "not slow"` skips it locally, and run
in CI like every other test.
"""

from __future__ import annotations

import gc
from pathlib import Path

import jwt
import pytest
from fakeissuer import Clock, github_claims
from relkit import EcIssuer, app_settings, jwks_server, write_config

from service.app import Overrides, create_app
from service.exchange import Exchange
from service.minting.tokens import Minted

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

EXCHANGES = 100_000
WARM_UP = 10_000
CHUNK = 1_000
STEP = 0.001  # simulated seconds per exchange
LIFETIME = 5  # seconds an OIDC token (and so its replay record) lives
GROWTH = 1.10


def resident_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc/self/status")


async def exchanges(exchange: Exchange, issuer: EcIssuer, clock: Clock, count: int) -> None:
    template = github_claims()
    headers = {"kid": issuer.kid}
    for first in range(0, count, CHUNK):
        start = clock.now
        chunk = []
        for n in range(CHUNK):
            now = int(start + n * STEP)
            claims = {**template, "jti": f"{start}-{n}", "iat": now, "nbf": now}
            claims["exp"] = now + LIFETIME
            chunk.append(jwt.encode(claims, issuer.key, algorithm="ES256", headers=headers))
        for n, token in enumerate(chunk):
            clock.now = start + n * STEP
            result = await exchange.mint(token)
            assert isinstance(result, Minted), (first + n, result)
        clock.now = start + CHUNK * STEP


async def test_hundred_thousand_exchanges_grow_resident_memory_less_than_ten_percent(
    tmp_path: Path,
) -> None:
    issuer, clock = EcIssuer(), Clock()
    with jwks_server(issuer) as jwks:
        # The file-only source: the figure is the exchange's own. The database source's
        # memory is bounded by its index (an LRU, tests/publishing/test_trust_index.py) and
        # its records leave with their commit; 110,000 commits would treble this test.
        settings = app_settings(write_config(tmp_path, jwks.url, leeway=0), trust_source="toml")
        app = create_app(settings, Overrides(clock=clock))
        async with app.router.lifespan_context(app):
            exchange: Exchange = app.state.exchange
            await exchanges(exchange, issuer, clock, WARM_UP)
            gc.collect()
            before = resident_kib()
            await exchanges(exchange, issuer, clock, EXCHANGES)
            gc.collect()
            after = resident_kib()
    assert jwks.requests == 1  # the keys stayed cached: every exchange ran the whole path
    assert after < before * GROWTH, f"resident memory {before} KiB -> {after} KiB"
