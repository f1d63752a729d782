"""Send an accepted upload on to the registry, as a fresh multipart body, and relay its answer.

The body is rebuilt from the checked fields (never the caller's raw bytes), so
the registry sees exactly the name and file the token was checked against. The
file is read back from its spool in chunks while httpx sends; Content-Length is
computed up front because simple WSGI servers (pypiserver under wsgiref) do not
read chunked request bodies. Authorization is the gateway's own, never the caller's.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import httpx

from service.gateway.errors import Denied
from service.gateway.upload import Upload

log = logging.getLogger(__name__)

CHUNK = 256 * 1024
# The registry's answer is relayed as text for twine to print; more than this is noise.
MAX_ANSWER = 16 * 1024


@dataclass(frozen=True, slots=True)
class Backend:
    url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 300.0

    @property
    def auth(self) -> httpx.BasicAuth | None:
        if self.username is None or self.password is None:
            return None
        return httpx.BasicAuth(self.username, self.password)


@dataclass(frozen=True, slots=True)
class Relayed:
    status: int
    text: str


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One file and its form fields, as the registry will receive them."""

    fields: tuple[tuple[str, str], ...]
    filename: str
    size: int
    chunks: Callable[[], AsyncIterator[bytes]]  # the file's bytes, read when sent


def outgoing(upload: Upload) -> Outgoing:
    async def chunks() -> AsyncIterator[bytes]:
        await upload.content.seek(0)
        while chunk := await upload.content.read(CHUNK):
            yield chunk

    return Outgoing(upload.fields, upload.filename, upload.content.size or 0, chunks)


class Body:
    """A multipart/form-data body whose length is known before it is streamed."""

    def __init__(self, out: Outgoing) -> None:
        boundary = secrets.token_hex(16)
        self.content_type = f"multipart/form-data; boundary={boundary}"
        parts = []
        for name, value in out.fields:
            # Names were checked against a strict pattern in `upload`, so quoting is safe.
            head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
            parts.append(head.encode() + value.encode("utf-8") + b"\r\n")
        self.head = (
            b"".join(parts)
            + (
                f'--{boundary}\r\nContent-Disposition: form-data; name="content";'
                f' filename="{out.filename}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
        )
        self.tail = f"\r\n--{boundary}--\r\n".encode()
        self.chunks = out.chunks
        self.length = len(self.head) + out.size + len(self.tail)

    async def stream(self) -> AsyncIterator[bytes]:
        yield self.head
        async for chunk in self.chunks():
            yield chunk
        yield self.tail


async def forward(client: httpx.AsyncClient, backend: Backend, upload: Upload) -> Relayed | Denied:
    return await send(client, backend, outgoing(upload))


async def send(client: httpx.AsyncClient, backend: Backend, out: Outgoing) -> Relayed | Denied:
    body = Body(out)
    headers = {"Content-Type": body.content_type, "Content-Length": str(body.length)}
    try:
        async with client.stream(
            "POST",
            backend.url,
            content=body.stream(),
            headers=headers,
            auth=backend.auth,
            timeout=httpx.Timeout(backend.timeout, connect=10.0),
            follow_redirects=False,
        ) as response:
            text = await _bounded_text(response)
    except httpx.TimeoutException:
        log.warning("registry timed out on upload of %s", out.filename)
        return Denied(504, "the registry behind this gateway did not answer in time")
    except httpx.TransportError as exc:
        log.warning("registry unreachable: %s", type(exc).__name__)
        return Denied(502, "the registry behind this gateway is unreachable; try again later")
    return _relay(response.status_code, text)


def _relay(status: int, text: str) -> Relayed | Denied:
    if status in (401, 403, 407):
        # The registry refused the gateway's own credentials: not the uploader's fault,
        # and a 403 relayed as-is would read as "your token is bad".
        log.error("registry refused the gateway's credentials (%d)", status)
        return Denied(502, "the registry refused this gateway's own credentials; tell its operator")
    if status >= 500 or status < 200 or 300 <= status < 400:
        # twine treats redirects as an attack and retries 5xx; neither is the client's to see.
        return Denied(502, f"the registry answered {status}: {text.strip()[:500]}")
    return Relayed(status, text)


async def _bounded_text(response: httpx.Response) -> str:
    data = bytearray()
    async for chunk in response.aiter_bytes():
        data.extend(chunk[: MAX_ANSWER - len(data)])
        if len(data) >= MAX_ANSWER:
            break
    return data.decode("utf-8", errors="replace")
