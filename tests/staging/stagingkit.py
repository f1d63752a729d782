"""What the staging tests share: maintainers with real TOTP, a staged release, a fake registry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import respx
from accounts.accounts_helpers import RecordingNotifier, ctx_for, enrol_totp, new_user
from fakeissuer import Clock
from gateway.gatewaykit import JWKS_URL, REGISTRY, SETTINGS
from publishing.publishingkit import add_role

from service.accounts import totp
from service.accounts.accounts import Accounts, Context
from service.accounts.projects import create_project
from service.gateway import create_gateway
from service.minting.keys import ephemeral_signing_keys
from service.publishers.base import Refusal
from service.staging.backend import Chunks
from service.staging.intake import Intake, Staged, Uploader
from service.staging.manage import set_staging
from service.staging.proof import TotpProof
from service.store import SqlStore, Store, UserRecord
from service.store.records_staging import StagedFileRecord, StagedReleaseRecord

PROJECT = "sampleproject"
# What the in-process gateway's fake issuer signs minted tokens with (`gateway` below).
KEYS = ephemeral_signing_keys()
PROVENANCE = {
    "repository": "octo-org/sampleproject",
    "workflow_ref": "octo-org/sampleproject/.github/workflows/release.yml@refs/tags/v1.0.0",
    "ref": "refs/tags/v1.0.0",
    "sha": "0123456789abcdef0123456789abcdef01234567",
    "run_id": "4242",
    "environment": "pypi",
}
UPLOADER = Uploader(
    subject="github:repo:octo-org/sampleproject:environment:pypi",
    jti="jti-1",
    publishers=("github:octo-org/sampleproject",),
    provenance=PROVENANCE,
)


@dataclass
class Maintainer:
    user: UserRecord
    secret: bytes | None  # TOTP seed; None: no second factor at all

    @property
    def ctx(self) -> Context:
        return ctx_for(self.user)

    def proof(self, clock: Clock) -> TotpProof:
        assert self.secret is not None
        return TotpProof(totp.generate(self.secret, clock()))


async def team(accounts: Accounts, store: SqlStore, clock: Clock) -> dict[str, Maintainer]:
    """alice owns PROJECT (TOTP), bob maintains it (TOTP), carol maintains it without 2FA,
    mallory has TOTP and no role; staging is on for PROJECT."""
    alice = await new_user(accounts, "alice")
    people = {"alice": Maintainer(alice, await enrol_totp(accounts, clock, alice))}
    assert not isinstance(await create_project(accounts.deps, ctx_for(alice), PROJECT), Refusal)
    for name, role, with_totp in (("bob", "maintainer", True), ("carol", "maintainer", False)):
        user = await new_user(accounts, name)
        await add_role(store, PROJECT, user, role, accounts.deps.now())
        secret = await enrol_totp(accounts, clock, user) if with_totp else None
        people[name] = Maintainer(user, secret)
    mallory = await new_user(accounts, "mallory")
    people["mallory"] = Maintainer(mallory, await enrol_totp(accounts, clock, mallory))
    turned = await set_staging(accounts.deps, ctx_for(alice), PROJECT, enabled=True)
    assert not isinstance(turned, Refusal), turned
    clock.advance(totp.STEP)
    return people


async def chunks_of(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 1000):
        yield data[start : start + 1000]


async def stage(
    intake: Intake,
    store: SqlStore,
    filename: str = f"{PROJECT}-1.0.0-py3-none-any.whl",
    data: bytes = b"wheel bytes " * 500,
    version: str = "1.0.0",
) -> StagedReleaseRecord:
    project_id = await intake.staged_project(PROJECT, version, UPLOADER)
    assert project_id is not None
    fields = (("name", PROJECT), ("version", version), (":action", "file_upload"))
    staged = await intake.stage(
        project_id, PROJECT, version, filename, fields, chunks_of(data), UPLOADER
    )
    assert isinstance(staged, Staged), staged
    async with store.transaction() as tx:
        release = await tx.staged_release(staged.release.id)
    assert release is not None
    return release


@dataclass
class FakeForwarder:
    """The registry: keeps every file it was sent whole; can fail, or wait for a gate."""

    received: dict[str, bytes] = field(default_factory=dict)
    sends: int = 0
    fail: Refusal | None = None
    gate: asyncio.Event | None = None

    async def send(self, staged: StagedFileRecord, chunks: Chunks) -> Refusal | None:
        self.sends += 1
        if self.gate is not None:
            await self.gate.wait()
        data = b"".join([c async for c in chunks()])
        if self.fail is not None:
            return self.fail
        self.received[staged.filename] = data
        return None


@asynccontextmanager
async def gateway(
    store: Store, staging: Path, clock: Clock, notices: RecordingNotifier, **settings: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, respx.Route]]:
    """The gateway in process over `store`, staging to `staging`; the registry is respx."""
    configured = replace(
        SETTINGS, database_url="sqlite+aiosqlite:///given", staging_dir=staging, **settings
    )
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        router.get(JWKS_URL).respond(json=KEYS.public_jwks())
        backend = router.post(REGISTRY).respond(200, text="stored\n")
        async with httpx.AsyncClient() as outgoing:
            app = create_gateway(
                configured, client=outgoing, clock=clock, store=store, notifier=notices
            )
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://gw") as driver:
                    yield driver, backend
