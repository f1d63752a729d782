"""Prometheus metrics of one app, correct across uvicorn's worker processes.

With one process the counters live in this app's own registry. With several
(`mintgate serve` and MINTGATE_WORKERS > 1) prometheus-client's multiprocess
mode is on: PROMETHEUS_MULTIPROC_DIR is set before the workers start, every
value is written to a per-process file there, and a scrape, whichever worker
answers it, sums the files of all of them.

Labels are bounded sets only: provider names from issuers.toml, refusal codes,
route templates, methods and status codes. Never a path, a project or a key.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, cast

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from jwks_cache import CacheStats
from service.publishers.base import INVALID_REUSE_TOKEN

if TYPE_CHECKING:
    from service.trust.index import IndexStats

M = TypeVar("M", bound=MetricWrapperBase)

UNKNOWN = "unknown"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Mints take about a millisecond; a JWKS fetch or a slow Redis, tens to thousands.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

# A stats object's field -> (metric name without _total, help). Each stats object is a
# plain dataclass of counts its owner increments (jwks_cache's CacheStats, the trust
# index's IndexStats), read at scrape time.
Fields = dict[str, tuple[str, str]]

JWKS_COUNTERS: Fields = {
    "hits": ("mintgate_jwks_cache_hits", "Keys served fresh from the JWKS cache"),
    "fetches": ("mintgate_jwks_fetches", "Upstream JWKS fetches attempted"),
    "fetch_failures": ("mintgate_jwks_fetch_failures", "Upstream JWKS fetches that failed"),
    "stale_serves": ("mintgate_jwks_stale_serves", "Keys served stale while the issuer was down"),
    "cooldown_hits": (
        "mintgate_jwks_cooldown_hits",
        "Unknown kids refused without a refetch (cooldown)",
    ),
    "shared_hits": ("mintgate_jwks_shared_hits", "JWKS loaded from the Redis shared level"),
}

TRUST_INDEX_COUNTERS: Fields = {
    "memory": (
        "mintgate_trust_index_memory_answers",
        "Trusted-publisher lookups answered from the index in memory",
    ),
    "loads": (
        "mintgate_trust_index_loads",
        "Trusted-publisher lookups of a key the index did not hold, loaded from the database",
    ),
    "direct": (
        "mintgate_trust_index_direct_answers",
        "Trusted-publisher lookups sent to the database because the change feed was not"
        " known current",
    ),
    "polls": ("mintgate_trust_feed_polls", "Polls of the trust change feed that succeeded"),
    "poll_failures": (
        "mintgate_trust_feed_poll_failures",
        "Polls of the trust change feed that failed or were abandoned",
    ),
}


def multiprocess_mode() -> bool:
    """True when prometheus-client writes values to PROMETHEUS_MULTIPROC_DIR.

    Decided by prometheus-client when it is first imported, so ask it rather than the
    environment: a variable set later changes nothing in this process.
    """
    return values.ValueClass is not values.MutexValue


class StatsCollector(Collector):
    """Reads a stats object at scrape time: its owner stays free of Prometheus, and a count
    costs it an integer increment."""

    def __init__(self, stats: object, fields: Fields) -> None:
        self._stats = stats
        self._fields = fields

    def collect(self) -> Iterator[Metric]:
        for field, (name, doc) in self._fields.items():
            yield CounterMetricFamily(name, doc, value=getattr(self._stats, field))


class _StatsMirror:
    """Multiprocess mode: a custom collector would only see the worker that is scraped, so

    each worker adds its stats' deltas to file-backed counters after each request.
    """

    def __init__(self, stats: object, fields: Fields, registry: CollectorRegistry) -> None:
        self._stats = stats
        self._seen = dict.fromkeys(fields, 0)
        self._counters = {
            field: Counter(name, doc, registry=registry) for field, (name, doc) in fields.items()
        }

    def sync(self) -> None:
        for field, counter in self._counters.items():
            value: int = getattr(self._stats, field)
            delta = value - self._seen[field]
            if delta:
                self._seen[field] = value
                counter.inc(delta)


class Metrics:
    """Every metric of one app, and the observer calls that feed them."""

    def __init__(self) -> None:
        self.multiprocess = multiprocess_mode()
        self.registry = CollectorRegistry()
        r = self.registry
        self.mints = Counter("mintgate_mints", "Tokens minted", ["provider"], registry=r)
        self.refusals = Counter(
            "mintgate_mint_refusals", "Mint requests refused", ["provider", "code"], registry=r
        )
        self.replay_refusals = Counter(
            "mintgate_replay_refusals", "OIDC tokens refused as already used", registry=r
        )
        self.store_errors = Counter(
            "mintgate_store_errors",
            "A store did not answer (replay and revocation fail closed, rate limits fall back)",
            ["store"],
            registry=r,
        )
        self.journal = Counter(
            "mintgate_mint_journal_records",
            "Mint records moved from the journal into the database (written) or set aside",
            ["outcome"],
            registry=r,
        )
        self.journal_backlog = Gauge(
            "mintgate_mint_journal_waiting",
            "Mint records in the journal not yet in the database, after this worker's last"
            " drain pass; at the journal's bound (100,000) mints answer 503",
            registry=r,
            multiprocess_mode="livemax",
        )
        self.rate_limited = Counter(
            "mintgate_rate_limited", "Requests refused by a rate limit", ["limit"], registry=r
        )
        self.latency = Histogram(
            "mintgate_http_request_duration_seconds",
            "Time from request start to the last byte of the response",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.responses = Counter(
            "mintgate_http_responses", "Responses sent", ["route", "method", "status"], registry=r
        )
        self.in_flight = Gauge(
            "mintgate_http_requests_in_flight",
            "Requests being handled now",
            registry=r,
            multiprocess_mode="livesum",
        )
        # One process: a plain count read at scrape time, instead of a locked update at
        # the start and the end of every request. Several: each worker's file must hold it.
        self._in_flight = 0
        if not self.multiprocess:
            self.in_flight.set_function(lambda: self._in_flight)
        self._mirrors: list[_StatsMirror] = []
        # labels() costs a lock and a tuple per call; the label sets are few and fixed.
        self._children: dict[tuple[object, ...], MetricWrapperBase] = {}

    def request_started(self) -> None:
        if self.multiprocess:
            self.in_flight.inc()
        else:
            self._in_flight += 1

    def request_finished(self) -> None:
        if self.multiprocess:
            self.in_flight.dec()
        else:
            self._in_flight -= 1

    # The mint observer (service.exchange.MintObserver).
    def minted(self, provider: str) -> None:
        self._child(self.mints, provider).inc()

    def refused(self, provider: str, code: str) -> None:
        self._child(self.refusals, provider, code).inc()
        if code == INVALID_REUSE_TOKEN:
            self.replay_refusals.inc()

    def store_unavailable(self, store: str) -> None:
        self._child(self.store_errors, store).inc()

    # The mint journal's observer (service.trust.journal.JournalObserver).
    def journaled(self, outcome: str, count: int) -> None:
        self._child(self.journal, outcome).inc(count)

    def backlog(self, waiting: int) -> None:
        self.journal_backlog.set(waiting)

    def limited(self, limit: str) -> None:
        self._child(self.rate_limited, limit).inc()

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self._child(self.latency, route, method).observe(seconds)
        self._child(self.responses, route, method, str(status)).inc()
        for mirror in self._mirrors:
            mirror.sync()

    def watch_jwks(self, stats: CacheStats) -> None:
        self._watch(stats, JWKS_COUNTERS)

    def watch_trust_index(self, stats: IndexStats) -> None:
        self._watch(stats, TRUST_INDEX_COUNTERS)

    def _watch(self, stats: object, fields: Fields) -> None:
        if self.multiprocess:
            self._mirrors.append(_StatsMirror(stats, fields, self.registry))
        else:
            self.registry.register(StatsCollector(stats, fields))

    def render(self) -> bytes:
        if not self.multiprocess:
            return generate_latest(self.registry)
        # A fresh registry per scrape, as prometheus-client documents for multiprocess mode.
        merged = CollectorRegistry()
        MultiProcessCollector(merged, path=os.environ.get(MULTIPROC_ENV))  # type: ignore[no-untyped-call]
        return generate_latest(merged)

    def _child(self, metric: M, *labels: str) -> M:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return cast(M, child)


def metrics_route(metrics: Metrics, *, token: str | None) -> Route:
    """`GET /metrics`, open or behind `Authorization: Bearer <token>`."""
    expected = f"Bearer {token}".encode() if token else None

    async def endpoint(request: Request) -> Response:
        if expected is not None:
            given = request.headers.get("authorization", "").encode("latin-1", "replace")
            if not hmac.compare_digest(given, expected):
                return PlainTextResponse(
                    "metrics need a bearer token\n",
                    status_code=401,
                    headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
                )
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return Route("/metrics", endpoint, methods=["GET"])


def parse_metrics_token(raw: str) -> str:
    """`MINTGATE_METRICS_TOKEN`: never echoed; long enough not to be guessed."""
    if len(raw) < 16 or any(c.isspace() for c in raw):
        raise ValueError("expected at least 16 characters without spaces")
    return raw


@contextlib.contextmanager
def multiprocess_directory() -> Iterator[Path]:
    """Where worker processes write their values, set up before any of them starts.

    An operator's PROMETHEUS_MULTIPROC_DIR is used as given, its *.db files removed first:
    prometheus-client keeps every file it finds, so the last run's counts would carry on.
    Otherwise a fresh temporary directory, removed on exit.
    """
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        directory = Path(given)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink()
        yield directory
        return
    directory = Path(tempfile.mkdtemp(prefix="mintgate-metrics-"))
    os.environ[MULTIPROC_ENV] = str(directory)
    try:
        yield directory
    finally:
        del os.environ[MULTIPROC_ENV]
        shutil.rmtree(directory, ignore_errors=True)
