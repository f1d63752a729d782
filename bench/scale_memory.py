"""Memory that could grow with the registry: the JWKS cache per issuer, Redis per jti.

JWKS: a JWKSCache over K issuers, every one fetched, in this process; the
resident-set growth per issuer with one key and with the most keys a JWKS may
hold (jwks_cache.keyset.DEFAULT_MAX_KEYS): the cache holds one entry per
configured issuer and never more keys than that, so K times the second
figure bounds it.

Redis: `mints` tokens minted through a server in chunks, each chunk signed
just before it is sent with a short lifetime; the live replay records (the
bench's own Redis database) and their memory are sampled after each chunk and
until every record has expired.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import itertools
import json
import random
import time
from typing import Any

import redis
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from scale_setup import Keys, loadgen_async, sign
from servers import Server

from jwks_cache.cache import JWKSCache
from jwks_cache.keyset import DEFAULT_MAX_KEYS, parse_jwks
from jwks_cache.model import FetchedKeys, IssuerSource


class _Mallinfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


_libc = ctypes.CDLL(None)
_libc.mallinfo2.restype = _Mallinfo2


def heap_bytes() -> int:
    """Bytes malloc has handed out and not had back (glibc): Python objects and OpenSSL keys.

    Unlike the resident set, it does not hide growth in memory freed earlier.
    """
    info = _libc.mallinfo2()
    return int(info.uordblks + info.hblkhd)


class _Fetcher:
    def __init__(self, document: bytes) -> None:
        self.document = document

    async def fetch(self, source: IssuerSource) -> FetchedKeys:
        # Parsed afresh per issuer, as a real fetch would: no key object is shared.
        return FetchedKeys(parse_jwks(self.document), self.document, 3600.0)


def _jwks(count: int) -> bytes:
    keys = []
    for index in range(count):
        public = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
        keys.append({**json.loads(RSAAlgorithm.to_jwk(public)), "kid": f"k{index}"})
    return json.dumps({"keys": keys}).encode()


async def _cache_growth(issuers: int, document: bytes) -> float:
    sources = [IssuerSource(f"https://ci-{i}.bench.example/oidc") for i in range(issuers)]
    gc.collect()
    before = heap_bytes()
    cache = JWKSCache(sources, _Fetcher(document))
    for source in sources:
        await cache.get_key(source.issuer, "k0")
    gc.collect()
    grown = heap_bytes() - before
    assert len(cache.issuers()) == issuers
    return grown / issuers


def jwks_memory(issuers: int) -> dict[str, Any]:
    one, most = _jwks(1), _jwks(DEFAULT_MAX_KEYS)
    per_one = asyncio.run(_cache_growth(issuers, one))
    per_most = asyncio.run(_cache_growth(issuers, most))
    return {
        "issuers": issuers,
        "bytes_per_issuer_1_key": per_one,
        "bytes_per_issuer_max_keys": per_most,
        "max_keys": DEFAULT_MAX_KEYS,
        "bound_bytes": per_most * issuers,
    }


def redis_growth(
    server: Server,
    keys: Keys,
    client: redis.Redis,
    *,
    mints: int,
    chunk: int,
    lifetime: int,
    leeway: int,
) -> dict[str, Any]:
    return asyncio.run(_redis_growth(server, keys, client, mints, chunk, lifetime, leeway))


async def _redis_growth(
    server: Server,
    keys: Keys,
    client: redis.Redis,
    mints: int,
    chunk: int,
    lifetime: int,
    leeway: int,
) -> dict[str, Any]:
    """Mint in chunks, each signed just before it is sent; sample every second meanwhile,
    then until every record has expired."""
    started = time.monotonic()
    base_memory = int(client.info("memory")["used_memory"])
    samples: list[dict[str, float]] = []
    done, refused, per_record = 0, 0, float("nan")
    while done < mints:
        _, tokens = sign(keys, min(chunk, mints - done), lifetime)
        load = asyncio.create_task(loadgen_async(server.port, tokens, 16, 110.0))
        while not load.done():
            samples.append(_sample(client, started, base_memory, done))
            await asyncio.wait({load}, timeout=1.0)
        result = load.result()
        done += int(result["requests"])
        refused += int(result["non200"]) + sum(result["errors"].values())
        if per_record != per_record:  # nan: not measured yet
            per_record = _memory_usage(client)
        samples.append(_sample(client, started, base_memory, done))
        print(
            f"  redis: {done:,} mints, {samples[-1]['records']:,.0f} live records,"
            f" {samples[-1]['memory'] / 2**20:.1f} MiB over the start",
            flush=True,
        )
        if int(result["requests"]) == 0:
            break
    last_mint = time.monotonic()
    deadline = last_mint + lifetime + leeway + 30
    while time.monotonic() < deadline:
        samples.append(_sample(client, started, base_memory, done))
        if samples[-1]["records"] == 0:
            break
        await asyncio.sleep(1.0)
    peak = max(samples, key=lambda s: s["records"])
    return {
        "mints": done,
        "refused": refused,
        "lifetime_s": lifetime,
        "leeway_s": leeway,
        "bytes_per_record": per_record,
        "peak_records": peak["records"],
        "peak_memory_bytes": peak["memory"],
        "peak_at_mints": peak["mints"],
        "records_at_end": samples[-1]["records"],
        "memory_at_end_bytes": samples[-1]["memory"],
        "seconds_to_empty_after_last_mint": samples[-1]["t"] - (last_mint - started),
        "mint_seconds": last_mint - started,
        "samples": samples,
    }


def _sample(client: redis.Redis, started: float, base: int, done: int) -> dict[str, float]:
    return {
        "t": time.monotonic() - started,
        "mints": done,
        "records": sum(1 for _ in client.scan_iter(match="mintgate:jti:*", count=5000)),
        "memory": int(client.info("memory")["used_memory"]) - base,
    }


def _memory_usage(client: redis.Redis, sample: int = 500) -> float:
    """MEMORY USAGE averaged over a sample of the bench's live replay records."""
    found = client.scan_iter(match="mintgate:jti:*", count=1000)
    names = list(itertools.islice(found, 5000))
    chosen = random.sample(names, min(sample, len(names)))
    sizes = [int(client.memory_usage(n) or 0) for n in chosen]
    return sum(sizes) / len(sizes) if sizes else float("nan")
