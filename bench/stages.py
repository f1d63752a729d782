"""Microseconds per stage of one mint, mintgate's code next to the floor's, in process.

    .venv/bin/python bench/stages.py [--n 2000]

Complements the py-spy profile of `mint_bench.py --profile`: the same stages
timed one by one on one GitHub-shaped token, no server, no network, no Redis
(the replay store is timed in the full benchmark). Each figure is the median
of 5 runs of `--n` calls.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from issuer import GITHUB, make_tokens, write_issuers, write_keys

from jwks_cache.keyset import parse_jwks
from service.exchange import Exchange
from service.issuers import load_issuers
from service.minting.keys import load_signing_keys
from service.minting.tokens import Grant, Minter
from service.oidc.envelope import Envelope, open_envelope
from service.oidc.verify import verify_token
from service.replay import MemoryReplayStore, replay_key
from service.trust.toml import load_trust

ROOT = Path(__file__).resolve().parent.parent


def per_call_us(fn: Callable[[], object], n: int) -> float:
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(n):
            fn()
        runs.append((time.perf_counter() - started) / n * 1e6)
    return statistics.median(runs)


def run_coroutine(make: Callable[[], Any]) -> Callable[[], object]:
    """Drive a coroutine that never suspends without an event loop (the pure stages)."""

    def call() -> object:
        coroutine = make()
        try:
            coroutine.send(None)
        except StopIteration as done:
            return done.value
        raise RuntimeError("stage suspended")

    return call


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    n = max(100, min(args.n, 20_000))
    with tempfile.TemporaryDirectory(prefix="mintstages-") as tmp:
        files = write_keys(Path(tmp))
        write_issuers(files, "http://127.0.0.1:1/jwks")
        _, (token,), _ = make_tokens(files, 1, lifetime=900)
        issuers = load_issuers(files.issuers, audience="mintgate", leeway=30)
        trust = load_trust(ROOT / "tests" / "data" / "publishers.toml", issuers)
        minter = Minter(
            load_signing_keys([files.signing_key]),
            issuer="http://127.0.0.1:8000",
            audience="mintgate-upload",
            ttl=900,
        )
        signing = serialization.load_pem_private_key(files.signing_key.read_bytes(), None)
        assert isinstance(signing, ec.EllipticCurvePrivateKey)
        key = next(iter(parse_jwks(files.jwks.read_bytes()).values()))
    issuer = issuers[GITHUB]
    body = json.dumps({"token": token}).encode()
    now = int(time.time())
    envelope = open_envelope(token)
    assert isinstance(envelope, Envelope), envelope
    claims = verify_token(envelope, key, issuer, now=now)
    assert isinstance(claims, dict), claims
    exchange = Exchange(
        issuers=issuers,
        keys=None,  # type: ignore[arg-type]  # _grant never asks for keys
        trust=trust,
        replay=MemoryReplayStore(max_entries=1000),
        minter=minter,
    )
    grant = run_coroutine(lambda: exchange._grant(GITHUB, "github", claims, now, []))()
    assert isinstance(grant, Grant), grant
    small = {"iss": "x", "aud": "y", "sub": claims["sub"], "jti": "j" * 24, "iat": 1, "exp": 2}

    def floor_decode() -> object:
        return jwt.decode(token, key.key, algorithms=["RS256"], audience="mintgate", issuer=GITHUB)

    def mintgate_verify() -> object:
        return verify_token(envelope, key, issuer, now=now)

    grant_of = run_coroutine(lambda: exchange._grant(GITHUB, "github", claims, now, []))
    rows: list[tuple[str, str, Callable[[], object]]] = [
        ("both", "json.loads(body)", lambda: json.loads(body)),
        ("floor", "jwt.decode (key object, aud, iss)", floor_decode),
        ("floor", "jwt.encode ES256, 6 claims", lambda: jwt.encode(small, signing, "ES256")),
        ("mintgate", "oidc.envelope.open_envelope", lambda: open_envelope(token)),
        ("mintgate", "oidc.verify.verify_token", mintgate_verify),
        ("mintgate", "Exchange._grant (3 GitHub publishers)", grant_of),
        ("mintgate", "Minter.mint (ES256 + checksum)", lambda: minter.mint(grant, now=now)),
        ("mintgate", "replay.replay_key (sha256)", lambda: replay_key(GITHUB, claims["jti"])),
    ]
    print(f"{'who':<10}{'stage':<42}{'us/call':>9}")
    for who, name, fn in rows:
        print(f"{who:<10}{name:<42}{per_call_us(fn, n):>9.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
