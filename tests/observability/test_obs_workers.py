"""Two worker processes, one set of numbers: every scrape sums what every worker counted."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from obskit import value
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from servekit import Served, serve
from testredis import REDIS_URL

from jwks_cache import CacheStats
from service.minting.keys import generate_pem
from service.observability.metrics import Metrics
from service.trust.index import IndexStats

REFUSALS = "mintgate_mint_refusals_total"
MINT = "/_/oidc/mint-token"
MAX_REQUESTS = 600


def refuse_once(url: str) -> int:
    # A new connection each time, so the kernel may hand it to either worker.
    with httpx.Client(timeout=5.0, trust_env=False) as client:
        return client.post(f"{url}{MINT}", json={"token": "junk"}).status_code


def per_worker(directory: Path, scratch: Path) -> dict[str, float]:
    """Each worker's own refusal count, read from its own file (counter_<pid>.db)."""
    counts = {}
    for file in directory.glob("counter_*.db"):
        alone = scratch / file.stem
        alone.mkdir()
        shutil.copy(file, alone / file.name)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(alone))
        text = generate_latest(registry).decode()
        counts[file.stem] = value(text, REFUSALS, provider="unknown", code="invalid-token")
    return counts


@pytest.mark.redis
def test_every_scrape_of_two_workers_shows_the_sum_of_both(tmp_path: Path) -> None:
    key = tmp_path / "signing.pem"
    key.write_bytes(generate_pem())
    directory = tmp_path / "metrics"
    directory.mkdir()
    # What a previous run left behind would break the sum: serve removes it first.
    (directory / "counter_99999.db").write_bytes(b"left over from the last run")
    env = {
        "MINTGATE_WORKERS": "2",
        "MINTGATE_SIGNING_KEY_FILES": str(key),
        "MINTGATE_REDIS_URL": REDIS_URL,
        "MINTGATE_RATE_LIMIT_MINT_IP": "off",
        "PROMETHEUS_MULTIPROC_DIR": str(directory),
    }
    with serve(env, tmp_path / "serve.log") as served:
        sent = spread_over_both_workers(served, directory, tmp_path / "scratch")
        with httpx.Client(timeout=5.0, trust_env=False) as client:
            for _ in range(10):
                text = client.get(f"{served.url}/metrics").text
                assert value(text, REFUSALS, provider="unknown", code="invalid-token") == sent
                count = "mintgate_http_request_duration_seconds_count"
                assert value(text, count, route=MINT, method="POST") == sent


def spread_over_both_workers(served: Served, directory: Path, scratch: Path) -> int:
    """Send refusals until both workers have counted some; how many were sent."""
    sent = 0
    with ThreadPoolExecutor(max_workers=8) as pool:
        while sent < MAX_REQUESTS:
            statuses = list(pool.map(refuse_once, [served.url] * 40))
            assert set(statuses) == {422}, statuses
            sent += len(statuses)
            scratch.mkdir(exist_ok=True)
            shutil.rmtree(scratch)
            scratch.mkdir()
            counts = per_worker(directory, scratch)
            if sum(1 for c in counts.values() if c > 0) >= 2:
                assert sum(counts.values()) == sent
                return sent
    raise AssertionError(f"one worker took all {sent} connections: {served.tail()}")


@pytest.mark.parametrize(
    ("make", "watch", "counted", "once", "untouched"),
    [
        pytest.param(
            CacheStats,
            "watch_jwks",
            ("fetches", "mintgate_jwks_fetches_total"),
            ("stale_serves", "mintgate_jwks_stale_serves_total"),
            "mintgate_jwks_shared_hits_total",
            id="jwks",
        ),
        pytest.param(
            IndexStats,
            "watch_trust_index",
            ("memory", "mintgate_trust_index_memory_answers_total"),
            ("poll_failures", "mintgate_trust_feed_poll_failures_total"),
            "mintgate_trust_index_direct_answers_total",
            id="trust-index",
        ),
    ],
)
def test_in_multiprocess_mode_stats_counters_are_carried_into_the_shared_files(
    make: Any, watch: str, counted: tuple[str, str], once: tuple[str, str], untouched: str
) -> None:
    """A custom collector sees only the worker that is scraped; the mirror adds deltas."""
    stats = make()
    metrics = Metrics()
    metrics.multiprocess = True  # as if PROMETHEUS_MULTIPROC_DIR had been set at import
    getattr(metrics, watch)(stats)
    setattr(stats, counted[0], 2)
    setattr(stats, once[0], 1)
    metrics.observe("/x", "GET", 200, 0.001)
    setattr(stats, counted[0], 3)
    metrics.observe("/x", "GET", 200, 0.001)
    text = generate_latest(metrics.registry).decode()
    assert value(text, counted[1]) == 3
    assert value(text, once[1]) == 1
    assert value(text, untouched) == 0
