"""What the observability tests share: reading /metrics, and app settings with limits on."""

from __future__ import annotations

import ipaddress
import json
import logging
import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from service.observability.logs import JsonFormatter, RequestIdFilter

LOOPBACK_PROXY = (ipaddress.ip_network("127.0.0.1/32"),)


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of an exposition: (name, labels) -> value."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(text: str, name: str, **labels: str) -> float:
    """One sample's value, 0 when the exposition does not hold it (a counter never touched)."""
    return samples(text).get((name, frozenset(labels.items())), 0.0)


async def scrape(client: httpx.AsyncClient, **headers: str) -> str:
    response = await client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def random_address() -> str:
    """A documentation-range address of its own, so Redis counters of other tests never mix."""
    return str(ipaddress.ip_address("198.18.0.0") + random.randrange(2**17))


class Captured(logging.Handler):
    """Every record any logger emits, stamped and formatted as `mintgate serve` does."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.lines: list[str] = []
        self.addFilter(RequestIdFilter())
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.lines.append(self.format(record))

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines]


@contextmanager
def captured_logs(level: int = logging.DEBUG) -> Iterator[Captured]:
    root = logging.getLogger()
    handler = Captured()
    previous = root.level
    # A logging.config call elsewhere in the run (Alembic's fileConfig) may have disabled
    # loggers that already existed: a disabled logger would hide a leak from this capture.
    silenced = [
        logger
        for logger in logging.root.manager.loggerDict.values()
        if isinstance(logger, logging.Logger) and logger.disabled
    ]
    for logger in silenced:
        logger.disabled = False
    root.addHandler(handler)
    root.setLevel(level)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
        for logger in silenced:
            logger.disabled = True
