"""Approving a staged release with a security key through /api/v1 (SQLite and PostgreSQL).

The software authenticator signs real WebAuthn assertions; the registry is mocked with
respx behind the app's real forwarder. A key's answer is good for one release, the
files it held when the challenge was issued, and once.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from accounts.softkey import SoftKey
from api.api_helpers import URL, Api, User, api_settings, cheap_passwords, codes
from fakeissuer import Clock
from stagingkit import PROJECT, stage

from service.app import Overrides, create_app
from service.staging.area import FileStagingArea
from service.staging.intake import Intake
from service.staging.settings import StagingSettings
from service.store import SqlStore
from service.store.records_staging import StagedReleaseRecord

pytestmark = pytest.mark.anyio
REGISTRY = "https://registry.example/legacy/"
WHEEL = f"{PROJECT}-{{}}-py3-none-any.whl"


@dataclass
class Scene:
    api: Api
    alice: User
    key: SoftKey
    intake: Intake
    store: SqlStore
    registry: respx.Route

    async def release(self, version: str, filename: str | None = None) -> StagedReleaseRecord:
        name = filename or WHEEL.format(version)
        return await stage(self.intake, self.store, name, f"{name} bytes".encode(), version)

    async def answer(self, release_id: int) -> dict[str, Any]:
        """The key's answer to a challenge issued for approving this release as it is now."""
        options = await self.api.post(f"/staged/{release_id}/approve/options", self.alice.session)
        assert options.status_code == 200, options.text
        signed: dict[str, Any] = json.loads(
            self.key.sign_in(json.dumps(options.json()["public_key"]))
        )
        return signed

    async def approve(self, release_id: int, digest: str, answer: Any) -> httpx.Response:
        body = {"digest": digest, "credential": answer}
        return await self.api.post(f"/staged/{release_id}/approve", self.alice.session, body)

    async def status(self, release_id: int) -> str:
        async with self.store.transaction() as tx:
            found = await tx.staged_release(release_id)
        assert found is not None
        return found.status


@pytest.fixture
async def scene(store: SqlStore, clock: Clock, tmp_path: Path) -> AsyncIterator[Scene]:
    """alice owns PROJECT with a security key as her only second factor; staging is on."""
    staging = StagingSettings(tmp_path / "staging", REGISTRY, "gateway", "secret")
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        registry = router.post(REGISTRY).respond(200, text="stored\n")
        async with httpx.AsyncClient() as outgoing:
            overrides = Overrides(
                clock=clock, store=store, passwords=cheap_passwords(), http_client=outgoing
            )
            app = create_app(api_settings(tmp_path, staging=staging), overrides)
            async with app.router.lifespan_context(app), Api.over(app, clock) as api:
                alice = await api.user("alice")
                key = SoftKey(URL, "mintgate.test")
                options = await api.post("/me/two-factor/security-keys/options", alice.session)
                attestation = json.loads(key.register(json.dumps(options.json()["public_key"])))
                added = await api.post(
                    "/me/two-factor/security-keys",
                    alice.session,
                    {"name": "yubikey", "credential": attestation},
                )
                assert added.status_code == 201, added.text
                created = await api.post("/projects", alice.session, {"name": PROJECT})
                assert created.status_code == 201, created.text
                path = f"/api/v1/projects/{PROJECT}/staging"
                turned = await api.http.put(path, json={"enabled": True}, headers=alice.auth)
                assert turned.status_code == 200, turned.text
                intake = Intake(store, FileStagingArea(staging.directory), clock=clock)
                yield Scene(api, alice, key, intake, store, registry)


async def test_a_key_answer_made_for_the_release_publishes_it_once(scene: Scene) -> None:
    release = await scene.release("1.0.0")
    answer = await scene.answer(release.id)
    approved = await scene.approve(release.id, release.digest, answer)
    assert approved.status_code == 200, approved.text
    assert (approved.json()["status"], approved.json()["decided_by"]) == ("approved", "alice")
    again = await scene.approve(release.id, release.digest, answer)
    assert codes(again) == ["staged-release-decided"]
    assert scene.registry.call_count == 1
    assert b"1.0.0-py3-none-any.whl bytes" in scene.registry.calls[0].request.content


async def test_an_answer_made_for_another_release_is_refused(scene: Scene) -> None:
    first = await scene.release("1.0.0")
    second = await scene.release("2.0.0")
    for_second = await scene.answer(second.id)
    refused = await scene.approve(first.id, first.digest, for_second)
    assert (refused.status_code, codes(refused)) == (403, ["approval-confirmation-stale"])
    assert scene.registry.call_count == 0
    assert (await scene.status(first.id), await scene.status(second.id)) == ("staged", "staged")


async def test_an_answer_made_before_the_files_changed_is_refused(scene: Scene) -> None:
    release = await scene.release("1.0.0")
    before = await scene.answer(release.id)
    # A second file joins the same waiting release: what alice's key signed for is gone.
    grown = await scene.release("1.0.0", f"{PROJECT}-1.0.0.tar.gz")
    assert grown.id == release.id
    assert grown.digest != release.digest
    refused = await scene.approve(grown.id, grown.digest, before)
    assert (refused.status_code, codes(refused)) == (403, ["approval-confirmation-stale"])
    assert scene.registry.call_count == 0
    assert await scene.status(release.id) == "staged"


async def test_a_replayed_answer_is_refused(scene: Scene) -> None:
    release = await scene.release("1.0.0")
    answer = await scene.answer(release.id)
    # The registry fails the first send: the release waits again, the answer is spent.
    scene.registry.side_effect = [httpx.Response(503, text="try later"), httpx.Response(200)]
    failed = await scene.approve(release.id, release.digest, answer)
    assert codes(failed) == ["forward-failed"]
    assert await scene.status(release.id) == "staged"
    replayed = await scene.approve(release.id, release.digest, answer)
    assert (replayed.status_code, codes(replayed)) == (400, ["webauthn-challenge-unknown"])
    assert scene.registry.call_count == 1
    # A new answer, made for this approval, goes through.
    approved = await scene.approve(release.id, release.digest, await scene.answer(release.id))
    assert approved.status_code == 200, approved.text
    assert scene.registry.call_count == 2
