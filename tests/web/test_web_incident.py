"""The project page's incident response (issue 21): freeze with a confirmation that says what
it revokes, unfreeze, stage only, and the project's state; attacked first.

Only an owner, with a CSRF token of this session and this session's own recent second
factor, changes anything; every refusal is a page (403, 404, 400 or a redirect to
re-confirm), never a 500, and leaves the publishers, the state and the audit log as
they were. What the page says (the revoked count) comes from the audit log, not the link.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from api.api_helpers import app_for
from fakeissuer import Clock
from starlette.applications import Starlette
from web_helpers import Page

from service.accounts.policy import RECENT_WINDOW
from service.revocation import RevocationStore
from service.store import SqlStore
from service.store.records_publishing import MintedTokenRecord

pytestmark = pytest.mark.anyio

GITHUB = {
    "provider": "github",
    "issuer": "https://token.actions.githubusercontent.com",
    "t_repository": "octo-org/sampleproject",
    "t_repository_owner_id": "1234567",
    "t_workflow": "release.yml",
    "t_environment": "pypi",
    "t_refs": "refs/tags/v*",
}
IDENTITY = "github:octo-org/sampleproject:release.yml:env=pypi"
PROJECT = "sampleproject"
BASE = f"/projects/{PROJECT}"
PUBLISHER_ID = re.compile(r'data-publisher-id="(\d+)"')
# (path under the project, {id} the publisher's; fields that would otherwise be accepted)
ACTIONS = [
    pytest.param("publishers/{id}/freeze", {"confirmed": "yes"}, id="freeze"),
    pytest.param("publishers/{id}/freeze", {}, id="freeze-confirmation-step"),
    pytest.param("publishers/{id}/unfreeze", {}, id="unfreeze"),
    pytest.param("publishers/{id}/stage-only", {"enabled": "on"}, id="stage-only"),
    pytest.param("state", {"state": "archived", "confirmed": "yes"}, id="archive"),
    pytest.param("state", {"state": "quarantined"}, id="quarantine-confirmation-step"),
]
# Controls a maintainer or an owner sees only when they may use them.
OWNER_CONTROLS = ('class="freeze"', 'class="unfreeze"', 'class="stage-only"', 'id="state-form"')


@dataclass
class Site:
    app: Starlette
    clock: Clock
    store: SqlStore

    def browser(self) -> AbstractAsyncContextManager[Page]:
        return Page.over(self.app, self.clock)

    @property
    def revocations(self) -> RevocationStore:
        store: RevocationStore = self.app.state.revocations
        return store

    async def snapshot(self) -> tuple[Any, ...]:
        """Everything an action here could change: publishers, state, audit log."""
        async with self.store.transaction() as tx:
            projects = await tx.projects()
            publishers = [p for project in projects for p in await tx.publishers_of(project.id)]
            events = await tx.audit_events(project=PROJECT)
        return (
            sorted((p.id, p.frozen_at, p.stage_only) for p in publishers),
            sorted((p.normalized_name, p.state) for p in projects),
            len(events),
        )

    async def publisher(self, publisher_id: int) -> tuple[datetime | None, bool]:
        async with self.store.transaction() as tx:
            found = await tx.publisher_by_id(publisher_id)
        assert found is not None
        return found.frozen_at, found.stage_only

    async def state(self, project: str = PROJECT) -> str:
        async with self.store.transaction() as tx:
            found = await tx.project_by_name(project)
        assert found is not None
        return found.state

    async def minted(self, publisher_id: int, jti: str, *, expires_in: float) -> None:
        now = self.clock()
        async with self.store.transaction() as tx:
            await tx.record_minted(
                [
                    MintedTokenRecord(
                        jti=jti,
                        publisher_id=publisher_id,
                        project=PROJECT,
                        issuer=GITHUB["issuer"],
                        repository=IDENTITY,
                        issued_at=datetime.fromtimestamp(now - 60, UTC),
                        expires_at=datetime.fromtimestamp(now + expires_in, UTC),
                    )
                ]
            )

    async def add_role(self, project: str, username: str, role: str) -> None:
        async with self.store.transaction() as tx:
            found = await tx.project_by_name(project)
            user = await tx.user_by_name(username)
            assert found is not None
            assert user is not None
            await tx.add_project_role(found.id, user.id, role, datetime.now(UTC))


@pytest.fixture
async def site(store: SqlStore, clock: Clock, tmp_path: Path) -> AsyncIterator[Site]:
    app = app_for(store, clock, tmp_path)
    async with app.router.lifespan_context(app):
        yield Site(app, clock, store)


async def with_publisher(alice: Page) -> int:
    """Alice owns sampleproject with one GitHub publisher; its id."""
    await alice.owner()
    await alice.get(BASE)
    added = await alice.post(f"{BASE}/publishers", GITHUB)
    assert added.status_code == 200, added.text[:300]
    found = PUBLISHER_ID.findall(added.text)
    assert found, added.text[:300]
    return int(found[-1])


def path_of(action: str, publisher_id: int, project: str = PROJECT) -> str:
    return f"/projects/{project}/" + action.format(id=publisher_id)


async def test_freezing_asks_first_then_revokes_and_says_how_many(site: Site) -> None:
    async with site.browser() as alice:
        publisher_id = await with_publisher(alice)
        await site.minted(publisher_id, "jti-live-1", expires_in=600)
        await site.minted(publisher_id, "jti-live-2", expires_in=900)
        await site.minted(publisher_id, "jti-expired", expires_in=-3600)
        await alice.get(BASE)
        asked = await alice.post(path_of("publishers/{id}/freeze", publisher_id), {})
        assert asked.status_code == 200
        assert f"Freeze <code>{IDENTITY}</code> for {PROJECT}?" in alice.text
        assert "Every unexpired token it minted will be revoked" in alice.text
        assert await site.publisher(publisher_id) == (None, False)  # asking changed nothing
        assert not await site.revocations.is_revoked("jti-live-1")

        done = await alice.post(
            path_of("publishers/{id}/freeze", publisher_id), {"confirmed": "yes"}
        )
        assert done.status_code == 200
        assert done.url.path == f"/web{BASE}"
        assert f"Trusted publisher {IDENTITY} frozen" in alice.text
        assert "2 unexpired tokens it minted were revoked" in alice.text
        assert "does not un-revoke" in alice.text
        assert "2 tokens revoked" in alice.text  # the publisher's row
        assert 'class="unfreeze"' in alice.text
        assert 'class="freeze"' not in alice.text
        assert "<code>publisher:frozen</code>" in alice.text
        assert (await site.publisher(publisher_id))[0] is not None
        assert await site.revocations.is_revoked("jti-live-1")
        assert await site.revocations.is_revoked("jti-live-2")

        await alice.post(path_of("publishers/{id}/unfreeze", publisher_id), {})
        assert "Trusted publisher unfrozen" in alice.text
        assert "stay revoked" in alice.text
        assert 'class="freeze"' in alice.text
        assert "<code>publisher:unfrozen</code>" in alice.text
        assert await site.publisher(publisher_id) == (None, False)
        assert await site.revocations.is_revoked("jti-live-1")  # unfreezing un-revokes nothing


async def test_a_crafted_link_cannot_make_the_page_claim_a_freeze(site: Site) -> None:
    async with site.browser() as alice:
        publisher_id = await with_publisher(alice)
        shown = await alice.get(f"{BASE}?done=publisher-frozen&publisher={publisher_id}")
        assert shown.status_code == 200
        assert "frozen:" not in alice.text
        assert "revoked" not in alice.text.split('id="audit"')[0].split("<main>")[1]


async def test_stage_only_is_a_toggle_and_audited(site: Site) -> None:
    async with site.browser() as alice:
        publisher_id = await with_publisher(alice)
        await alice.get(BASE)
        await alice.post(path_of("publishers/{id}/stage-only", publisher_id), {"enabled": "on"})
        assert "Stage only: every upload from this publisher waits" in alice.text
        assert await site.publisher(publisher_id) == (None, True)
        assert "Allow publishing" in alice.text
        assert "<code>publisher:stage-only</code>" in alice.text
        await alice.post(path_of("publishers/{id}/stage-only", publisher_id), {"enabled": "off"})
        assert await site.publisher(publisher_id) == (None, False)


async def test_the_state_is_shown_and_restrictive_states_ask_first(site: Site) -> None:
    async with site.browser() as alice:
        await with_publisher(alice)
        await alice.get(BASE)
        assert 'id="state">active<' in alice.text
        for state in ("archived", "quarantined"):
            asked = await alice.post(f"{BASE}/state", {"state": state})
            assert asked.status_code == 200
            assert f"Make {PROJECT} {state}?" in alice.text
            assert await site.state() == "active"  # asking changed nothing
            await alice.post(f"{BASE}/state", {"state": state, "confirmed": "yes"})
            assert f"The project is {state} now." in alice.text
            assert await site.state() == state
            assert f'id="state">{state}<' in alice.text
            await alice.post(f"{BASE}/state", {"state": "active"})  # no step to undo it
            assert await site.state() == "active"
        assert alice.text.count("<code>project:state</code>") == 4


async def test_a_maintainer_who_is_not_an_owner_sees_no_controls_and_is_refused(
    site: Site,
) -> None:
    async with site.browser() as alice, site.browser() as bob:
        publisher_id = await with_publisher(alice)
        await bob.sign_up("bob")
        await bob.enrol_totp()
        await site.add_role(PROJECT, "bob", "maintainer")
        shown = await bob.get(BASE)
        assert shown.status_code == 200
        assert 'id="state">active<' in shown.text  # a maintainer sees the state...
        for control in OWNER_CONTROLS:  # ...and no control
            assert control not in shown.text
        before = await site.snapshot()
        for param in ACTIONS:
            action, fields = param.values
            answer = await bob.raw_post(
                path_of(str(action), publisher_id), {**dict(fields), "csrf_token": bob.token()}
            )
            assert answer.status_code == 403, (param.id, answer.status_code, answer.text[:300])
            assert "not-an-owner" in answer.text
            assert IDENTITY not in answer.text  # the confirmation step names nothing
        assert await site.snapshot() == before


@pytest.mark.parametrize(("action", "fields"), ACTIONS)
async def test_a_form_without_this_sessions_csrf_token_changes_nothing(
    site: Site, action: str, fields: dict[str, str]
) -> None:
    async with site.browser() as alice, site.browser() as mallory:
        publisher_id = await with_publisher(alice)
        await mallory.sign_up("mallory")
        await mallory.get("/")
        await alice.get(BASE)
        before = await site.snapshot()
        for attack, token in [
            ("no token", None),
            ("forged token", "0" * 64),
            ("mallory's valid token, bound to her session", mallory.token()),
        ]:
            # A field besides the token, so that it is a form (an empty body has no type).
            sent = {**fields, "note": "x"} | ({} if token is None else {"csrf_token": token})
            answer = await alice.raw_post(path_of(action, publisher_id), sent)
            assert answer.status_code == 403, (attack, answer.status_code)
            assert "csrf-invalid" in answer.text
            assert IDENTITY not in answer.text
        assert await site.snapshot() == before


@pytest.mark.parametrize(("action", "fields"), ACTIONS)
async def test_without_a_recent_second_factor_it_sends_to_confirm_and_changes_nothing(
    site: Site, action: str, fields: dict[str, str]
) -> None:
    async with site.browser() as alice:
        publisher_id = await with_publisher(alice)
        await alice.get(BASE)
        token = alice.token()
        site.clock.advance(RECENT_WINDOW.total_seconds() + 60)
        before = await site.snapshot()
        answer = await alice.raw_post(
            path_of(action, publisher_id), {**fields, "csrf_token": token}
        )
        assert answer.status_code == 303, answer.text[:300]
        assert answer.headers["location"] == f"/web/confirm?next={BASE}"
        assert await site.snapshot() == before


@pytest.mark.parametrize(
    "action",
    ["publishers/{id}/freeze", "publishers/{id}/unfreeze", "publishers/{id}/stage-only"],
)
@pytest.mark.parametrize("confirmed", ["yes", ""], ids=["acting", "confirmation-step"])
async def test_a_publisher_of_another_project_is_refused(
    site: Site, action: str, confirmed: str
) -> None:
    async with site.browser() as alice, site.browser() as mallory:
        victim = await with_publisher(alice)
        await mallory.owner("mallory", project="evilproject")
        await mallory.get("/projects/evilproject")
        before = await site.snapshot()
        fields = {"confirmed": confirmed, "enabled": "on", "csrf_token": mallory.token()}
        answer = await mallory.raw_post(path_of(action, victim, "evilproject"), fields)
        assert answer.status_code == 404, answer.text[:300]
        assert "no-such-publisher" in answer.text
        assert IDENTITY not in answer.text
        assert await site.snapshot() == before


@pytest.mark.parametrize("publisher_id", [0, 2**31, 10**30], ids=["zero", "2^31", "huge"])
async def test_an_impossible_publisher_id_is_a_404_page(site: Site, publisher_id: int) -> None:
    async with site.browser() as alice:
        await with_publisher(alice)
        await alice.get(BASE)
        fields = {"confirmed": "yes", "csrf_token": alice.token()}
        answer = await alice.raw_post(f"{BASE}/publishers/{publisher_id}/freeze", fields)
        assert answer.status_code == 404, answer.text[:300]
        assert "no-such-publisher" in answer.text


MALFORMED_STATES = [
    pytest.param({}, id="missing"),
    pytest.param({"state": ""}, id="empty"),
    pytest.param({"state": "deleted"}, id="unknown"),
    pytest.param({"state": "ARCHIVED"}, id="wrong-case"),
    pytest.param({"state": "archived "}, id="trailing-space"),
    pytest.param({"state": "archived\x00"}, id="nul"),
    pytest.param({"state": "quarantined" * 500, "confirmed": "yes"}, id="long"),
    pytest.param({"state": "<script>x</script>", "confirmed": "yes"}, id="markup"),
]


@pytest.mark.parametrize("fields", MALFORMED_STATES)
async def test_a_malformed_state_is_a_400_page(site: Site, fields: dict[str, str]) -> None:
    async with site.browser() as alice:
        await with_publisher(alice)
        await alice.get(BASE)
        before = await site.snapshot()
        answer = await alice.raw_post(f"{BASE}/state", {**fields, "csrf_token": alice.token()})
        assert answer.status_code == 400, answer.text[:300]
        assert "invalid-project-state" in answer.text
        assert "<script>x" not in answer.text
        assert await site.snapshot() == before


@pytest.mark.parametrize("enabled", [None, "", "yes", "true", "ON"])
async def test_a_malformed_stage_only_switch_is_a_400_page(site: Site, enabled: str | None) -> None:
    async with site.browser() as alice:
        publisher_id = await with_publisher(alice)
        await alice.get(BASE)
        before = await site.snapshot()
        fields = {"csrf_token": alice.token()} | ({} if enabled is None else {"enabled": enabled})
        answer = await alice.raw_post(path_of("publishers/{id}/stage-only", publisher_id), fields)
        assert answer.status_code == 400, answer.text[:300]
        assert "invalid-form" in answer.text
        assert await site.snapshot() == before
