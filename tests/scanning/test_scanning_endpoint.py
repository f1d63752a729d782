"""POST /_/secret-scanning/github: signed reports in, labels out, real leaks revoked."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import jwt
import pytest
import redis.asyncio as aioredis
from fakeissuer import FakeIssuer, github_claims

from service.minting.keys import ephemeral_signing_keys
from service.minting.tokens import serialize, unwrap
from service.publishers.base import Refusal
from service.revocation import revocation_key

pytestmark = pytest.mark.anyio


def bad_checksum(token: str) -> str:
    # Another last character, always: writing "x" over it left one token in 62 (those
    # whose base62 checksum ends in "x") real, and the test failed for it.
    return token[:-1] + ("y" if token.endswith("x") else "x")


def sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def jti(token: str) -> str:
    claims = jwt.decode(str(unwrap(token)), options={"verify_signature": False})
    return str(claims["jti"])


def tampered(scan: Any) -> str:
    """Payload swapped for another token's, checksum recomputed: only the signature fails."""
    header, _, signature = str(unwrap(scan.mint())).split(".")
    other = str(unwrap(scan.mint(ttl=60))).split(".")[1]
    return serialize(f"{header}.{other}.{signature}")


@pytest.mark.redis
async def test_leaked_token_is_revoked_on_every_replica(scan: Any, redis: aioredis.Redis) -> None:
    token = scan.mint()
    async with scan.app(redis=redis) as (_, a), scan.app(redis=redis) as (replica, _):
        assert not isinstance(await replica.state.oauth.verifier.inspect(token), Refusal)
        response = await scan.report(a, scan.body(token))
        refused = await replica.state.oauth.verifier.inspect(token)
    await redis.delete(revocation_key(jti(token)))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.json() == [
        {"token_hash": sha256(token), "token_type": scan.type, "label": "true_positive"}
    ]
    assert refused == Refusal("token-revoked", "token has been revoked")


async def test_expired_token_is_still_revoked_and_a_true_positive(scan: Any) -> None:
    token = scan.mint(ttl=900, age=1000)  # expired 100 s ago: inside the revocation margin
    async with scan.app() as (_, client):
        response = await scan.report(client, scan.body(token))
    assert response.json()[0]["label"] == "true_positive"
    expires = scan.clock.now - 100
    assert scan.revocations.revoked == [(jti(token), expires + 300)]
    assert await scan.revocations.is_revoked(jti(token))


async def test_long_expired_token_is_a_true_positive_with_nothing_to_record(scan: Any) -> None:
    token = scan.mint(ttl=900, age=10_000)
    async with scan.app() as (_, client):
        response = await scan.report(client, scan.body(token))
    assert response.json()[0]["label"] == "true_positive"
    assert scan.revocations.revoked == []


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda k: "pypi-AgEIcHlwaS5vcmcCJGU0ZmQ2", id="random-string"),
        pytest.param(lambda k: "", id="empty"),
        pytest.param(tampered, id="tampered-payload"),
        pytest.param(lambda k: bad_checksum(k.mint()), id="bad-checksum"),
        pytest.param(lambda k: k.mint(keys=ephemeral_signing_keys()), id="another-key"),
        pytest.param(lambda k: "mintgate_" + "A" * 4000, id="prefixed-garbage"),
        pytest.param(lambda k: serialize("a.b.c"), id="checksummed-garbage"),
        pytest.param(
            lambda k: serialize(FakeIssuer("https://ci.example").sign(github_claims())),
            id="foreign-jwt-with-checksum",
        ),
        pytest.param(lambda k: k.mint() + "A" * 20_000, id="oversize-token"),
    ],
)
async def test_anything_but_a_real_token_is_a_false_positive(scan: Any, make: Any) -> None:
    token = make(scan)
    async with scan.app() as (_, client):
        response = await scan.report(client, scan.body(token))
    assert response.status_code == 200
    assert response.json() == [
        {"token_hash": sha256(token), "token_type": scan.type, "label": "false_positive"}
    ]
    assert scan.revocations.revoked == []


async def test_each_match_gets_its_label_in_order(scan: Any) -> None:
    real, other = scan.mint(), scan.mint()
    async with scan.app() as (_, client):
        response = await scan.report(client, scan.body(real, "nope", real, other))
    labels = [(m["token_hash"], m["label"]) for m in response.json()]
    assert labels == [
        (sha256(real), "true_positive"),
        (sha256("nope"), "false_positive"),
        (sha256(real), "true_positive"),
        (sha256(other), "true_positive"),
    ]
    assert [token_id for token_id, _ in scan.revocations.revoked] == [jti(real), jti(other)]


async def test_report_is_audited_without_the_token(
    scan: Any, caplog: pytest.LogCaptureFixture
) -> None:
    token = scan.mint()
    caplog.set_level(logging.INFO, logger="service.scanning")
    async with scan.app() as (_, client):
        await scan.report(client, scan.body(token, "not-ours"))
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("service.scanning")]
    leaked = next(line for line in lines if "leaked" in line)
    assert jti(token) in leaked
    assert scan.source_url in leaked
    assert scan.type in leaked
    assert sha256(token) in leaked
    assert any("false positive" in line and sha256("not-ours") in line for line in lines)
    assert not any(token in r.getMessage() or "not-ours" in r.getMessage() for r in caplog.records)


def without(name: str) -> Any:
    def headers(scan: Any, payload: bytes) -> dict[str, str]:
        signed: dict[str, str] = scan.github.sign(payload)
        del signed[name]
        return signed

    return headers


def replaced(name: str, value: str) -> Any:
    return lambda scan, payload: {**scan.github.sign(payload), name: value}


SIGNATURE = "Github-Public-Key-Signature"
IDENTIFIER = "Github-Public-Key-Identifier"


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        pytest.param(without(SIGNATURE), 400, "missing-signature", id="no-signature"),
        pytest.param(without(IDENTIFIER), 400, "missing-signature", id="no-key-id"),
        pytest.param(lambda s, p: {}, 400, "missing-signature", id="no-headers"),
        pytest.param(replaced(SIGNATURE, "not base64!"), 400, "missing-signature", id="not-b64"),
        pytest.param(replaced(SIGNATURE, "QUJD" * 40), 400, "missing-signature", id="too-long"),
        pytest.param(replaced(IDENTIFIER, "a\nb"), 400, "missing-signature", id="bad-key-id"),
        pytest.param(
            lambda s, p: {**s.new_key().sign(p), IDENTIFIER: s.github.identifier},
            401,
            "invalid-signature",
            id="signed-by-another-key",
        ),
        pytest.param(
            lambda s, p: s.github.sign(p + b" "), 401, "invalid-signature", id="other-body"
        ),
        pytest.param(replaced(SIGNATURE, "MEUCIQ=="), 401, "invalid-signature", id="truncated-der"),
        pytest.param(lambda s, p: s.new_key().sign(p), 401, "invalid-signature", id="unknown-key"),
    ],
)
async def test_unsigned_requests_are_refused_and_revoke_nothing(
    scan: Any, headers: Any, status: int, code: str
) -> None:
    payload = scan.body(scan.mint())
    async with scan.app() as (_, client):
        response = await scan.report(client, payload, headers=headers(scan, payload))
    assert response.status_code == status, response.text
    assert response.json()["errors"][0]["code"] == code
    assert scan.revocations.revoked == []


async def test_oversize_body_is_refused_before_any_signature_work(scan: Any) -> None:
    payload = scan.body(scan.mint()) + b" " * (2 * 1024 * 1024)
    async with scan.app() as (_, client):
        response = await scan.report(client, payload)
    assert response.status_code == 413
    assert response.json()["errors"][0]["code"] == "payload-too-large"
    assert scan.keys_route.call_count == 0
    assert scan.revocations.revoked == []


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        pytest.param(b'[{"token": "mintgate_', "not valid UTF-8 JSON", id="truncated"),
        pytest.param(b"\xff\xfe", "not valid UTF-8 JSON", id="not-utf8"),
        pytest.param(b'{"token": "x"}', "expected a JSON array", id="object"),
        pytest.param(b'["x"]', "[0]: expected an object", id="list-of-strings"),
        pytest.param(b'[{"type": "t"}]', "[0].token: expected a string", id="no-token"),
        pytest.param(b'[{"token": 1}]', "[0].token: expected a string", id="token-number"),
        pytest.param(b'[{"token": "x", "url": 1}]', "[0].url: expected a string", id="url"),
        pytest.param(b"[" + b'{"token":"x"},' * 1000 + b'{"token":"x"}]', "1001", id="too-many"),
    ],
)
async def test_signed_but_malformed_body_is_refused(
    scan: Any, payload: bytes, expected: str
) -> None:
    async with scan.app() as (_, client):
        response = await scan.report(client, payload)
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["code"] == "invalid-payload"
    assert expected in error["description"]


async def test_endpoint_is_absent_when_switched_off(scan: Any) -> None:
    async with scan.app(secret_scanning_keys_url=None) as (_, client):
        response = await scan.report(client, scan.body(scan.mint()))
    assert response.status_code == 404
    assert scan.keys_route.call_count == 0
