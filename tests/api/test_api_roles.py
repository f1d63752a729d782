"""Roles over HTTP: list with the project's flags, change, remove, leave; the recent proof is
judged per session; the last owner stays."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from api_helpers import Api, User, bearer, codes

pytestmark = pytest.mark.anyio


async def _put(api: Api, path: str, session: str, body: Any) -> httpx.Response:
    return await api.http.put(f"/api/v1{path}", json=body, headers=bearer(session))


async def _team(api: Api, kind: str = "projects") -> tuple[User, User]:
    """alice owns pkg (a project or an organization), bob joined it; both with TOTP."""
    alice = await api.user("alice", two_factor=True)
    bob = await api.user("bob", two_factor=True)
    assert (await api.post(f"/{kind}", alice.session, {"name": "Pkg"})).status_code == 201
    place = "project" if kind == "projects" else "organization"
    role = "maintainer" if kind == "projects" else "member"
    invited = await api.post(
        "/invitations", alice.session, {"username": "bob", "role": role, place: "pkg"}
    )
    assert invited.status_code == 201, invited.text
    accepted = await api.post(f"/invitations/{invited.json()['id']}/accept", bob.session)
    assert accepted.status_code == 200, accepted.text
    return alice, bob


async def test_a_project_roster_shows_its_flags_and_members(api: Api) -> None:
    _, bob = await _team(api)
    listed = await api.get("/projects/PKG/roles", bob.session)
    assert listed.status_code == 200, listed.text
    assert listed.json() == {
        "kind": "project",
        "place": {
            "name": "pkg",
            "display_name": "Pkg",
            "two_factor_required": False,
            "trusted_publishing_only": False,
        },
        "roles": [
            {"username": "alice", "role": "owner", "two_factor": True},
            {"username": "bob", "role": "maintainer", "two_factor": True},
        ],
    }
    stranger = await api.user("eve", two_factor=True)
    refused = await api.get("/projects/pkg/roles", stranger.session)
    assert (refused.status_code, codes(refused)) == (403, ["not-a-member"])


async def test_promote_demote_remove_and_the_last_owner(api: Api) -> None:
    alice, bob = await _team(api)
    promoted = await _put(api, "/projects/pkg/roles/bob", alice.session, {"role": "owner"})
    assert promoted.json() == {
        "kind": "project",
        "name": "pkg",
        "username": "bob",
        "old_role": "maintainer",
        "role": "owner",
    }
    removed = await api.delete("/projects/pkg/roles/alice", bob.session)
    assert (removed.status_code, removed.json()["role"]) == (200, None)
    last = await api.delete("/projects/pkg/roles/bob", bob.session)
    assert (last.status_code, codes(last)) == (409, ["last-owner"])
    gone = await api.get("/projects/pkg/roles", alice.session)
    assert (gone.status_code, codes(gone)) == (403, ["not-a-member"])
    trail = await api.get("/audit", bob.session, params={"project": "pkg"})
    events = [e["event"] for e in trail.json()["events"]]
    assert events[-2:] == ["role:changed", "role:removed"]


async def test_a_member_leaves_an_organization(api: Api) -> None:
    alice, bob = await _team(api, "organizations")
    left = await api.delete("/organizations/pkg/roles/BOB", bob.session)
    assert left.status_code == 200, left.text
    assert left.json()["old_role"] == "member"
    listed = await api.get("/organizations/pkg/roles", alice.session)
    assert [r["username"] for r in listed.json()["roles"]] == ["alice"]
    assert "two_factor_required" not in listed.json()["place"]


async def test_a_proof_in_one_session_does_not_vouch_for_another(api: Api) -> None:
    alice, _ = await _team(api)
    other = await api.session("alice")  # a second browser: password, then its own proof
    assert (await api.confirm_totp(alice, other)).status_code == 200
    api.clock.advance(16 * 60)
    assert (await api.confirm_totp(alice)).status_code == 200  # the first session, fresh again
    stale = await _put(api, "/projects/pkg/roles/bob", other, {"role": "owner"})
    assert (stale.status_code, codes(stale)) == (403, ["recent-two-factor-required"])
    stale = await api.delete("/projects/pkg/roles/bob", other)
    assert (stale.status_code, codes(stale)) == (403, ["recent-two-factor-required"])
    fresh = await _put(api, "/projects/pkg/roles/bob", alice.session, {"role": "owner"})
    assert fresh.status_code == 200, fresh.text


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        pytest.param("/projects/pkg/roles/bob", {}, 400, "invalid-payload", id="no-role"),
        pytest.param("/projects/pkg/roles/bob", {"role": 1}, 400, "invalid-payload", id="int"),
        pytest.param("/projects/pkg/roles/bob", [], 400, "invalid-payload", id="not-an-object"),
        pytest.param(
            "/projects/pkg/roles/bob", {"role": "admin"}, 400, "invalid-role", id="unknown-role"
        ),
        pytest.param(
            "/projects/pkg/roles/nobody", {"role": "owner"}, 404, "no-such-role", id="no-user"
        ),
        pytest.param(
            "/projects/bad%20name!/roles/bob", {"role": "owner"}, 400, "invalid-name", id="name"
        ),
        pytest.param(
            "/projects/pkg%0A/roles/bob",
            {"role": "owner"},
            404,
            "no-such-project-or-organization",
            id="newline",
        ),
        pytest.param(
            "/organizations/pkg/roles/bob",
            {"role": "owner"},
            404,
            "no-such-project-or-organization",
            id="no-such-organization",
        ),
    ],
)
async def test_bad_input_is_refused_and_changes_nothing(
    api: Api, path: str, body: Any, status: int, code: str
) -> None:
    alice, _ = await _team(api)
    before = (await api.get("/projects/pkg/roles", alice.session)).json()
    refused = await _put(api, path, alice.session, body)
    assert (refused.status_code, codes(refused)) == (status, [code])
    assert (await api.get("/projects/pkg/roles", alice.session)).json() == before
