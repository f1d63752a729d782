"""The staged-release pages: the link twine prints leads to a page a maintainer can review,
approve with a code made for that approval (forwarded once, to a registry mocked with
respx through the app's real forwarder), or reject; nobody else sees anything."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import respx
from api.api_helpers import api_settings, cheap_passwords
from fakeissuer import Clock
from staging.stagingkit import PROJECT, PROVENANCE, stage
from starlette.applications import Starlette
from web_helpers import Page, PageFactory

from service.app import Overrides, create_app
from service.staging.area import FileStagingArea
from service.staging.intake import Intake
from service.staging.settings import StagingSettings
from service.store import SqlStore
from service.store.records_staging import StagedReleaseRecord

pytestmark = pytest.mark.anyio
REGISTRY = "https://registry.example/legacy/"
DATA = b"wheel bytes " * 500
HIDDEN = re.compile(r'type="hidden" name="([^"]+)" value="([^"]*)"')


@dataclass
class Site:
    app: Starlette
    clock: Clock
    store: SqlStore
    registry: respx.Route
    intake: Intake

    def browser(self) -> AbstractAsyncContextManager[Page]:
        return Page.over(self.app, self.clock)

    async def staged(self, owner: Page) -> StagedReleaseRecord:
        """Alice turns staging on from her project page; a trusted-publishing upload waits."""
        await owner.get(f"/projects/{PROJECT}")
        await owner.post(f"/projects/{PROJECT}/staging", {"enabled": "on"})
        assert "Staged publishing on" in owner.text
        return await stage(self.intake, self.store, data=DATA)

    async def status(self, release_id: int) -> str:
        async with self.store.transaction() as tx:
            found = await tx.staged_release(release_id)
        assert found is not None
        return found.status


@pytest.fixture
async def site(store: SqlStore, clock: Clock, tmp_path: Path) -> AsyncIterator[Site]:
    staging = StagingSettings(tmp_path / "staging", REGISTRY, "gateway", "secret")
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        registry = router.post(REGISTRY).respond(200, text="stored\n")
        async with httpx.AsyncClient() as outgoing:
            overrides = Overrides(
                clock=clock, store=store, passwords=cheap_passwords(), http_client=outgoing
            )
            app = create_app(api_settings(tmp_path, staging=staging), overrides)
            async with app.router.lifespan_context(app):
                area = FileStagingArea(staging.directory)
                yield Site(app, clock, store, registry, Intake(store, area, clock=clock))


async def test_the_list_and_the_page_show_what_would_be_published(site: Site) -> None:
    async with site.browser() as alice:
        await alice.owner()
        release = await site.staged(alice)
        listed = await alice.get("/staged")
        assert listed.status_code == 200
        assert f'href="/web/staged/{release.id}"' in listed.text
        assert "1.0.0" in alice.text
        shown = await alice.get(f"/staged/{release.id}")
        assert shown.status_code == 200
        [staged] = release.files
        for expected in (
            staged.filename,
            f"{len(DATA)} bytes",
            staged.sha256,
            release.digest,
            *PROVENANCE.values(),
            staged.staged_at.strftime("%Y-%m-%d %H:%M:%S"),
        ):
            assert expected in alice.text, expected
        assert re.search(r'id="status">staged<', shown.text)


async def test_a_code_made_for_the_approval_publishes_the_files_once(site: Site) -> None:
    async with site.browser() as alice:
        await alice.owner()
        release = await site.staged(alice)
        await alice.get(f"/staged/{release.id}")
        hidden = dict(HIDDEN.findall(alice.text))
        assert hidden["digest"] == release.digest
        approved = await alice.post(
            f"/staged/{release.id}/approve", {"digest": hidden["digest"], "code": alice.code()}
        )
        assert approved.status_code == 200, alice.text[:500]
        assert approved.url.path == f"/web/staged/{release.id}"
        assert "Approved: every file was sent to the registry." in alice.text
        assert re.search(r'id="status">approved by alice', approved.text)
        assert 'id="approve-form"' not in approved.text
        again = await alice.raw_post(
            f"/staged/{release.id}/approve",
            {"digest": release.digest, "code": alice.code(), "csrf_token": alice.token()},
        )
        assert again.status_code == 409
        assert "staged-release-decided" in again.text
    assert site.registry.call_count == 1
    sent = site.registry.calls[0].request
    assert DATA in sent.content
    assert sent.headers["authorization"].startswith("Basic ")
    assert await site.status(release.id) == "approved"


@pytest.mark.parametrize(
    ("code", "digest", "refused"),
    [
        pytest.param("000000", None, "invalid-totp", id="wrong code"),
        pytest.param(None, "0" * 64, "staged-release-changed", id="files other than shown"),
        pytest.param("", None, "code: the authenticator", id="no code"),
    ],
)
async def test_an_approval_without_its_own_proof_forwards_nothing(
    site: Site, code: str | None, digest: str | None, refused: str
) -> None:
    async with site.browser() as alice:
        await alice.owner()
        release = await site.staged(alice)
        await alice.get(f"/staged/{release.id}")
        fields = {
            "digest": digest or release.digest,
            "code": alice.code() if code is None else code,
        }
        answer = await alice.post(f"/staged/{release.id}/approve", fields)
        assert answer.status_code in (400, 409), answer.status_code
        assert refused in alice.text
        assert 'id="approve-form"' in answer.text  # the page again, to try once more
    assert site.registry.call_count == 0
    assert await site.status(release.id) == "staged"


async def test_a_rejected_release_is_never_published(site: Site) -> None:
    async with site.browser() as alice:
        await alice.owner()
        release = await site.staged(alice)
        await alice.get(f"/staged/{release.id}")
        rejected = await alice.post(f"/staged/{release.id}/reject", {"reason": "not ours"})
        assert rejected.status_code == 200
        assert "Rejected: nothing was published" in alice.text
        assert re.search(r'id="status">rejected by alice', rejected.text)
        assert "Nothing is waiting." in (await alice.get("/staged")).text
        await alice.get(f"/projects/{PROJECT}")
        assert "staged:rejected" in alice.text
        assert "reason=not ours" in alice.text
    assert site.registry.call_count == 0
    assert await site.status(release.id) == "rejected"


async def test_someone_without_a_role_sees_and_decides_nothing(site: Site) -> None:
    async with site.browser() as alice, site.browser() as mallory:
        await alice.owner()
        release = await site.staged(alice)
        await mallory.sign_up("mallory")
        await mallory.enrol_totp()
        listed = await mallory.get("/staged")
        assert "Nothing is waiting." in listed.text
        assert PROJECT not in listed.text
        shown = await mallory.get(f"/staged/{release.id}")
        assert shown.status_code == 404
        assert "no-such-staged-release" in shown.text
        assert release.files[0].sha256 not in shown.text
        for action, fields in [
            ("approve", {"digest": release.digest, "code": mallory.code()}),
            ("reject", {"reason": "mine now"}),
        ]:
            answer = await mallory.post(f"/staged/{release.id}/{action}", fields)
            assert answer.status_code == 404, action
            assert "no-such-staged-release" in mallory.text
    assert site.registry.call_count == 0
    assert await site.status(release.id) == "staged"


async def test_an_approval_without_this_pages_csrf_token_is_refused(site: Site) -> None:
    async with site.browser() as alice, site.browser() as mallory:
        await alice.owner()
        release = await site.staged(alice)
        await mallory.sign_up("mallory")
        await alice.get(f"/staged/{release.id}")
        for attack, token in [
            ("no token", None),
            ("forged token", "0" * 64),
            ("mallory's valid token, bound to her session", mallory.token()),
        ]:
            fields = {"digest": release.digest, "code": alice.code()}
            sent = fields if token is None else {**fields, "csrf_token": token}
            for action in ("approve", "reject"):
                answer = await alice.raw_post(f"/staged/{release.id}/{action}", sent)
                assert answer.status_code == 403, (attack, action)
                assert "csrf-invalid" in answer.text
    assert site.registry.call_count == 0
    assert await site.status(release.id) == "staged"


async def test_the_pages_say_when_staging_is_not_configured(
    make_page: PageFactory, store: SqlStore, clock: Clock, tmp_path: Path
) -> None:
    intake = Intake(store, FileStagingArea(tmp_path / "elsewhere"), clock=clock)
    async with make_page() as alice:
        await alice.owner()
        await alice.get(f"/projects/{PROJECT}")
        await alice.post(f"/projects/{PROJECT}/staging", {"enabled": "on"})
        release = await stage(intake, store, data=DATA)
        assert 'id="staging-not-configured"' in (await alice.get("/staged")).text
        shown = await alice.get(f"/staged/{release.id}")
        assert 'id="staging-not-configured"' in shown.text
        assert 'id="approve-form"' not in shown.text
        answer = await alice.post(
            f"/staged/{release.id}/approve", {"digest": release.digest, "code": alice.code()}
        )
        assert answer.status_code == 503
        assert "staging-not-configured" in alice.text


async def test_the_project_page_switches_staging_for_new_versions_only(site: Site) -> None:
    async with site.browser() as alice:
        await alice.owner()
        await alice.get(f"/projects/{PROJECT}")
        assert "<strong>Off</strong>: trusted-publishing uploads publish at once" in alice.text
        await alice.post(
            f"/projects/{PROJECT}/staging", {"enabled": "on", "new_versions_only": "on"}
        )
        assert "for the first upload of a version only" in alice.text
        assert "project:staging" in alice.text
        await alice.post(f"/projects/{PROJECT}/staging", {"enabled": "off"})
        assert "Staged publishing off" in alice.text
        broken = await alice.post(f"/projects/{PROJECT}/staging", {})
        assert broken.status_code == 400
        assert "enabled: expected on or off" in alice.text
