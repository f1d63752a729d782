"""/api/v1 for staged publishing: the setting (owners, fresh proof), listing, approving with TOTP.

The approval goes through the app's real forwarder to a registry mocked with respx.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import respx
from api.api_helpers import Api, api_settings, cheap_passwords, codes
from fakeissuer import Clock
from stagingkit import PROJECT, UPLOADER, chunks_of

from service.app import Overrides, create_app
from service.staging.area import FileStagingArea
from service.staging.intake import Intake, Staged
from service.staging.settings import StagingSettings
from service.store import SqlStore

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("database", ["sqlite"], indirect=True)]
REGISTRY = "https://registry.example/legacy/"


async def test_owner_turns_staging_on_and_a_maintainer_approves_what_was_staged(
    store: SqlStore, clock: Clock, tmp_path: Path
) -> None:
    staging = StagingSettings(tmp_path / "staging", REGISTRY, "gateway", "secret")
    with respx.mock(assert_all_mocked=True) as router:
        registry = router.post(REGISTRY).respond(200, text="stored\n")
        async with httpx.AsyncClient() as outgoing:
            overrides = Overrides(
                clock=clock, store=store, passwords=cheap_passwords(), http_client=outgoing
            )
            app = create_app(api_settings(tmp_path, staging=staging), overrides)
            async with app.router.lifespan_context(app), Api.over(app, clock) as api:
                alice = await api.user("alice", two_factor=True)
                mallory = await api.user("mallory", two_factor=True)
                created = await api.post("/projects", alice.session, {"name": PROJECT})
                assert created.status_code == 201, created.text
                path = f"/projects/{PROJECT}/staging"
                bad = await api.http.put(
                    f"/api/v1{path}", json={"enabled": True, "publishers": "x"}, headers=alice.auth
                )
                assert codes(bad) == ["invalid-staging-policy"]
                stranger = await api.http.put(
                    f"/api/v1{path}", json={"enabled": True}, headers=mallory.auth
                )
                assert stranger.status_code == 403
                turned = await api.http.put(
                    f"/api/v1{path}", json={"enabled": True}, headers=alice.auth
                )
                assert turned.status_code == 200, turned.text
                assert (await api.get(path, alice.session)).json()["enabled"] is True

                intake = Intake(store, FileStagingArea(staging.directory), clock=clock)
                project_id = await intake.staged_project(PROJECT, "1.0.0", UPLOADER)
                assert project_id is not None
                staged = await intake.stage(
                    project_id,
                    PROJECT,
                    "1.0.0",
                    f"{PROJECT}-1.0.0.tar.gz",
                    (("name", PROJECT), ("version", "1.0.0")),
                    chunks_of(b"sdist" * 100),
                    UPLOADER,
                )
                assert isinstance(staged, Staged)

                assert (await api.get("/staged", mallory.session)).json()["staged_releases"] == []
                [release] = (await api.get("/staged", alice.session)).json()["staged_releases"]
                assert release["files"][0]["provenance"]["run_id"] == "4242"
                approve = f"/staged/{release['id']}/approve"
                hidden = await api.post(approve, mallory.session, {"digest": release["digest"]})
                assert codes(hidden) == ["no-such-staged-release"]
                body = {"digest": release["digest"], "totp": api.code(alice)}
                approved = await api.post(approve, alice.session, body)
                assert approved.status_code == 200, approved.text
                assert approved.json()["status"] == "approved"
                again = await api.post(approve, alice.session, body)
                assert codes(again) == ["staged-release-decided"]

    assert registry.call_count == 1
    sent = registry.calls[0].request
    assert sent.headers["authorization"].startswith("Basic ")
    assert b"sdist" * 100 in sent.content
    assert b'name="version"\r\n\r\n1.0.0' in sent.content
