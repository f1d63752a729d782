"""The one stage that could grow with the registry, alone: SqlTrustStore.publishers_for.

In this process, against each level's database, round-robin (so load that
comes and goes falls on every level alike): the time from asking for a
token's publishers to holding the rebuilt Publisher, through the same store
and SQL the exchange uses. Calls ask for seeded publishers spread over the
whole table and all issuers, so pages are not hot by repetition.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path
from typing import Any

from service.issuers import Issuers, load_issuers
from service.store import open_store
from service.store.sql import SqlStore
from service.trust.seed import issuer_tables, publisher_table
from service.trust.sql import SqlTrustStore
from service.trust.tables import publisher_spec


def _asks(level: int, issuers: Issuers, count: int) -> list[tuple[str, str]]:
    """(issuer, lookup key) of `count` seeded publishers spread over the whole table."""
    tables = issuer_tables(len(issuers))
    out = []
    for index in range(count):
        number = (index * 7919) % level
        _, spec = publisher_spec(publisher_table(number, tables[number % len(tables)]), issuers)
        out.append((spec.issuer, spec.lookup_key))
    return out


async def _lookups(urls: dict[int, str], issuers_file: Path, calls: int) -> dict[int, list[float]]:
    configured = load_issuers(issuers_file, audience="mintgate", leeway=30)
    stores: dict[int, SqlStore] = {level: await open_store(url) for level, url in urls.items()}
    try:
        trusts = {level: SqlTrustStore(store, configured) for level, store in stores.items()}
        asks = {level: _asks(level, configured, calls) for level in urls}
        times: dict[int, list[float]] = {level: [] for level in urls}
        for level, trust in trusts.items():  # warm: pools open
            await trust.publishers_for(*asks[level][0])
        for index in range(calls):
            for level, trust in trusts.items():
                started = time.perf_counter()
                found = await trust.publishers_for(*asks[level][index])
                times[level].append(time.perf_counter() - started)
                if len(found) != 1:
                    raise RuntimeError(f"{level}: {asks[level][index]} found {len(found)}")
        return times
    finally:
        for store in stores.values():
            await store.close()


def lookup_stage(
    urls: dict[int, str], issuers_file: Path, calls: int = 2000
) -> list[dict[str, Any]]:
    """issuers_file: every issuer the seeded publishers name (the K-issuer configuration)."""
    times = asyncio.run(_lookups(urls, issuers_file, calls))
    out = []
    for level, measured in times.items():
        ordered = sorted(measured)
        out.append(
            {
                "publishers": level + 1,
                "calls": len(ordered),
                "p50_ms": statistics.median(ordered) * 1e3,
                "p99_ms": ordered[int(0.99 * (len(ordered) - 1))] * 1e3,
            }
        )
    return out
