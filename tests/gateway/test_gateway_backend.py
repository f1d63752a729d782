"""The gateway's two limits on what it passes on: the size cap, and what the registry answered.

Also: the body is streamed (memory stays flat for an upload many times the
spool size), and revocation through the real Redis mintgate writes to.
"""

from __future__ import annotations

import hashlib
import json
import time
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
import redis.asyncio as aioredis
from gatewaykit import JWKS_URL, PROJECT, REGISTRY, Gateway, Registry, basic, mint, upload, wheel
from starlette.datastructures import Headers, UploadFile
from starlette.formparsers import MultiPartParser
from testredis import REDIS_URL

from service.minting.keys import SigningKeys
from service.minting.tokens import unwrap
from service.revocation import RedisRevocationStore

pytestmark = pytest.mark.anyio

BOUNDARY = "test-boundary-7f3a"


async def streamed_form(
    filename: str, size: int, *, sent: list[int], chunk: int = 64 * 1024
) -> AsyncIterator[bytes]:
    """A multipart upload whose file part is generated as it is sent, counting what was read."""
    fields = {":action": "file_upload", "name": PROJECT, "version": "1.0.0"}
    for name, value in fields.items():
        yield (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        ).encode()
    yield (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="content"; filename="{filename}"'
        "\r\nContent-Type: application/octet-stream\r\n\r\n"
    ).encode()
    for offset in range(0, size, chunk):
        data = bytes([offset // chunk % 251]) * min(chunk, size - offset)
        sent.append(len(data))
        yield data
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


MULTIPART = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


async def test_declared_oversize_is_refused_before_reading(
    gateway: Gateway, registry: Registry, signing: SigningKeys
) -> None:
    filename, _ = wheel(PROJECT, "1.0.0")
    async with gateway(max_upload_bytes=64 * 1024) as client:
        response = await upload(client, mint(signing), file=(filename, b"x" * 65 * 1024))

    assert response.status_code == 413
    assert "larger than this gateway's limit of 65536 bytes" in response.text
    assert registry.upload.call_count == 0


async def test_chunked_oversize_is_cut_off_at_the_cap(
    gateway: Gateway, registry: Registry, signing: SigningKeys
) -> None:
    # No Content-Length: only counting while reading can stop this one.
    sent: list[int] = []
    filename, _ = wheel(PROJECT, "1.0.0")
    body = streamed_form(filename, 8 * 1024 * 1024, sent=sent)
    async with gateway(max_upload_bytes=256 * 1024) as client:
        response = await client.post(
            "/", content=body, headers={**MULTIPART, **basic(mint(signing))}
        )

    assert response.status_code == 413
    assert registry.upload.call_count == 0
    assert sum(sent) < 512 * 1024  # stopped reading soon after the cap, not at the end


@pytest.mark.parametrize(
    ("answer", "status", "message"),
    [
        pytest.param({"status_code": 200, "text": "ok"}, 200, "ok", id="stored"),
        pytest.param(
            {"status_code": 409, "text": "File already exists"},
            409,
            "File already exists",
            id="conflict-relayed",
        ),
        pytest.param(
            {"status_code": 400, "text": "Invalid version"},
            400,
            "Invalid version",
            id="bad-request-relayed",
        ),
        pytest.param(
            {"status_code": 500, "text": "Internal Server Error"},
            502,
            "the registry answered 500: Internal Server Error",
            id="registry-error-is-502",
        ),
        pytest.param(
            {"status_code": 403, "text": "Forbidden"},
            502,
            "refused this gateway's own credentials",
            id="gateway-credentials-refused",
        ),
        pytest.param(
            {"status_code": 302, "headers": {"Location": "https://elsewhere.example/"}},
            502,
            "the registry answered 302",
            id="redirect-not-followed",
        ),
        pytest.param(
            {"side_effect": httpx.ConnectError("connection refused")},
            502,
            "is unreachable",
            id="unreachable",
        ),
        pytest.param(
            {"side_effect": httpx.ReadTimeout("slow")}, 504, "did not answer in time", id="timeout"
        ),
    ],
)
async def test_registry_answer_is_relayed_never_a_500(
    gateway: Gateway,
    registry: Registry,
    signing: SigningKeys,
    answer: dict[str, Any],
    status: int,
    message: str,
) -> None:
    if "side_effect" in answer:
        registry.upload.mock(side_effect=answer["side_effect"])
    else:
        registry.upload.respond(**answer)
    async with gateway() as client:
        response = await upload(client, mint(signing))

    assert registry.upload.call_count == 1
    assert response.status_code == status
    assert message in response.text


def file_digest(size: int, chunk: int = 64 * 1024) -> str:
    """The sha256 of the file part `streamed_form` generates."""
    digest = hashlib.sha256()
    for offset in range(0, size, chunk):
        digest.update(bytes([offset // chunk % 251]) * min(chunk, size - offset))
    return digest.hexdigest()


class StreamingRegistry(httpx.AsyncBaseTransport):
    """mintgate's JWKS, and a registry that parses the upload as it arrives (spooled to disk)."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        self.jwks = jwks
        self.chunks = 0
        self.fields: dict[str, str] = {}
        self.file_sha256 = ""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if str(request.url) == JWKS_URL:
            # A stream, as a real transport returns: the key fetcher reads it in pieces.
            document = httpx.ByteStream(json.dumps(self.jwks).encode())
            return httpx.Response(
                200, headers={"Content-Type": "application/json"}, stream=document
            )
        assert str(request.url) == REGISTRY
        assert isinstance(request.stream, httpx.AsyncByteStream)
        body = request.stream

        async def chunks() -> AsyncIterator[bytes]:
            async for chunk in body:
                self.chunks += 1
                yield chunk

        parsed = await MultiPartParser(Headers(dict(request.headers)), chunks()).parse()
        digest = hashlib.sha256()
        content = parsed["content"]
        assert isinstance(content, UploadFile)
        while data := await content.read(1024 * 1024):
            digest.update(data)
        self.file_sha256 = digest.hexdigest()
        self.fields = {k: v for k, v in parsed.multi_items() if isinstance(v, str)}
        await parsed.close()
        return httpx.Response(200, text="stored")


async def test_upload_is_streamed_through_in_flat_memory(
    gateway: Gateway, signing: SigningKeys
) -> None:
    size = 24 * 1024 * 1024
    filename, _ = wheel(PROJECT, "1.0.0")
    backend = StreamingRegistry(signing.public_jwks())
    async with (
        httpx.AsyncClient(transport=backend) as outgoing,
        gateway(client=outgoing, max_upload_bytes=64 * 1024 * 1024) as client,
    ):
        tracemalloc.start()
        try:
            response = await client.post(
                "/",
                content=streamed_form(filename, size, sent=[]),
                headers={**MULTIPART, **basic(mint(signing))},
            )
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()

    assert response.status_code == 200, response.text
    assert backend.file_sha256 == file_digest(size)
    assert backend.fields == {":action": "file_upload", "name": PROJECT, "version": "1.0.0"}
    assert backend.chunks > 50  # sent on in pieces, not as one body
    # Client, gateway and registry share this process: all three stay well under the file.
    assert peak < 8 * 1024 * 1024, f"peak {peak} bytes for a {size} byte upload"


@pytest.mark.redis
async def test_token_revoked_in_redis_is_refused(
    gateway: Gateway, registry: Registry, signing: SigningKeys, redis: aioredis.Redis
) -> None:
    revoked, other = mint(signing), mint(signing)
    claims = jwt.decode(unwrap(revoked) or "", options={"verify_signature": False})
    # What mintgate's /oauth/revoke writes; the gateway reads the same Redis.
    await RedisRevocationStore(redis).revoke(claims["jti"], until=int(time.time()) + 900)
    async with gateway(redis_url=REDIS_URL) as client:
        refused = await upload(client, revoked)
        accepted = await upload(client, other)

    assert refused.status_code == 403
    assert "token has been revoked" in refused.text
    assert accepted.status_code == 200
    assert registry.upload.call_count == 1
