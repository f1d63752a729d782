"""Projects, organizations, invitations, audit and the last-method rule over HTTP."""

from __future__ import annotations

import pytest
from api_helpers import Api, codes

pytestmark = pytest.mark.anyio


async def test_a_project_invitation_round_trip(api: Api) -> None:
    alice = await api.user("alice", two_factor=True)
    bob = await api.user("bob", two_factor=True)
    assert (await api.post("/projects", alice.session, {"name": "My_Pkg"})).status_code == 201
    taken = await api.post("/projects", bob.session, {"name": "my.pkg"})
    assert (taken.status_code, codes(taken)) == (409, ["name-taken"])
    invited = await api.post(
        "/invitations",
        alice.session,
        {"username": "bob", "role": "maintainer", "project": "my-pkg"},
    )
    assert invited.status_code == 201, invited.text
    waiting = await api.get("/invitations", bob.session)
    [invitation] = waiting.json()["invitations"]
    assert invitation["project"] == "my-pkg"
    accepted = await api.post(f"/invitations/{invitation['id']}/accept", bob.session)
    assert accepted.status_code == 200
    mine = await api.get("/projects", bob.session)
    assert mine.json() == {"projects": [{"name": "my-pkg", "role": "maintainer"}]}
    trail = await api.get("/audit", alice.session, params={"project": "My.Pkg"})
    events = [e["event"] for e in trail.json()["events"]]
    assert events[:2] == ["project:created", "role:added"]
    assert "invitation:accepted" in events


async def test_a_project_trail_is_for_its_members(api: Api) -> None:
    alice = await api.user("alice", two_factor=True)
    mallory = await api.user("mallory", two_factor=True)
    await api.post("/projects", alice.session, {"name": "pkg"})
    refused = await api.get("/audit", mallory.session, params={"project": "pkg"})
    assert (refused.status_code, codes(refused)) == (403, ["not-a-maintainer"])


async def test_an_organization_is_created_and_listed(api: Api) -> None:
    alice = await api.user("alice", two_factor=True)
    assert (await api.post("/organizations", alice.session, {"name": "Acme"})).status_code == 201
    listed = await api.get("/organizations", alice.session)
    assert listed.json() == {"organizations": [{"name": "acme", "role": "owner"}]}


async def test_the_last_method_of_a_maintainer_cannot_be_removed(api: Api) -> None:
    alice = await api.user("alice", two_factor=True)
    await api.post("/projects", alice.session, {"name": "pkg"})
    refused = await api.delete("/me/two-factor/totp", alice.session)
    assert (refused.status_code, codes(refused)) == (409, ["last-two-factor-method"])
    methods = await api.get("/me/two-factor", alice.session)
    assert methods.json()["methods"] == ["totp"]


async def test_removing_a_method_needs_a_recent_proof(api: Api) -> None:
    alice = await api.user("alice", two_factor=True)
    api.clock.advance(16 * 60)
    stale = await api.delete("/me/two-factor/totp", alice.session)
    assert (stale.status_code, codes(stale)) == (403, ["recent-two-factor-required"])
    assert (await api.confirm_totp(alice)).status_code == 200
    removed = await api.delete("/me/two-factor/totp", alice.session)
    assert removed.json() == {"remaining_methods": 0}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param({"name": ""}, "invalid-payload", id="empty"),
        pytest.param({"name": 5}, "invalid-payload", id="not-a-string"),
        pytest.param({"name": "-bad-"}, "invalid-name", id="bad-name"),
        pytest.param({}, "invalid-payload", id="missing"),
    ],
)
async def test_bad_input_is_a_400_and_writes_nothing(
    api: Api, body: dict[str, object], code: str
) -> None:
    alice = await api.user("alice", two_factor=True)
    refused = await api.post("/projects", alice.session, body)
    assert (refused.status_code, codes(refused)) == (400, [code])
    assert (await api.get("/projects", alice.session)).json() == {"projects": []}


async def test_an_id_beyond_any_row_is_a_404(api: Api) -> None:
    alice = await api.user("alice", two_factor=True)
    huge = await api.post(f"/invitations/{2**70}/decline", alice.session)
    assert (huge.status_code, codes(huge)) == (404, ["no-such-invitation"])
