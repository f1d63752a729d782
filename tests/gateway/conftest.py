"""Fixtures of the in-process gateway tests: mintgate's key, the mocked registry, the gateway."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx
import pytest
import respx
from fakeissuer import Clock
from gatewaykit import JWKS_URL, REGISTRY, SETTINGS, Gateway, Registry

from service.gateway import ProjectPolicy, create_gateway
from service.minting.keys import SigningKeys, ephemeral_signing_keys
from service.revocation import RevocationStore


@pytest.fixture
def signing() -> SigningKeys:
    return ephemeral_signing_keys()


@pytest.fixture
def registry(signing: SigningKeys) -> Iterator[Registry]:
    """mintgate's JWKS and the registry; any other outgoing request fails the test."""
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        yield Registry(
            jwks=router.get(JWKS_URL).respond(json=signing.public_jwks()),
            upload=router.post(REGISTRY).respond(200, text="stored\n"),
        )


@pytest.fixture
def gateway(clock: Clock, registry: Registry) -> Gateway:
    """Start a gateway (lifespan included) and drive it in process."""

    @asynccontextmanager
    async def start(
        *,
        revocations: RevocationStore | None = None,
        policy: ProjectPolicy | None = None,
        client: httpx.AsyncClient | None = None,
        **changes: Any,
    ) -> AsyncIterator[httpx.AsyncClient]:
        async with httpx.AsyncClient() as default:
            app = create_gateway(
                replace(SETTINGS, **changes),
                client=client or default,
                revocations=revocations,
                policy=policy,
                clock=clock,
            )
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://gw") as driver:
                    yield driver

    return start
