"""Forwarding an approved file to the registry: the gateway's own multipart sender, reused."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Protocol

import httpx

from service.gateway.errors import Denied
from service.gateway.forward import Backend, Outgoing, send
from service.publishers.base import Refusal
from service.staging.rules import FORWARD_FAILED
from service.store.records_staging import StagedFileRecord

Chunks = Callable[[], AsyncIterator[bytes]]


class Forwarder(Protocol):
    async def send(self, staged: StagedFileRecord, chunks: Chunks) -> Refusal | None:
        """None once the registry has stored the file."""


class BackendForwarder:
    def __init__(self, client: httpx.AsyncClient, backend: Backend) -> None:
        self.client = client
        self.backend = backend

    async def send(self, staged: StagedFileRecord, chunks: Chunks) -> Refusal | None:
        out = Outgoing(staged.fields, staged.filename, staged.size, chunks)
        relayed = await send(self.client, self.backend, out)
        if isinstance(relayed, Denied):
            return Refusal(FORWARD_FAILED, f"{staged.filename}: {relayed.message}")
        if not 200 <= relayed.status < 300:
            return Refusal(
                FORWARD_FAILED,
                f"{staged.filename}: the registry answered {relayed.status}:"
                f" {relayed.text.strip()[:300]}",
            )
        return None
