"""Incident response over HTTP (issue 21): freeze, unfreeze, stage-only and project state.

Owners only, with a fresh second factor in this very session; bad bodies are 400s
with a code and change nothing.
"""

from __future__ import annotations

from typing import Any

import pytest
from api_helpers import Api, User, bearer, codes

pytestmark = pytest.mark.anyio

GITHUB: dict[str, Any] = {
    "provider": "github",
    "repository": "octo-org/sampleproject",
    "repository_owner_id": "1234567",
    "workflow": "release.yml",
}
PROJECT = "/projects/sampleproject"


async def owner_with_publisher(api: Api) -> tuple[User, int]:
    alice = await api.user("alice", two_factor=True)
    assert (
        await api.post("/projects", alice.session, {"name": "sampleproject"})
    ).status_code == 201
    added = await api.post(f"{PROJECT}/publishers", alice.session, GITHUB)
    assert added.status_code == 201, added.text
    return alice, added.json()["id"]


def calls(publisher_id: int) -> dict[str, tuple[str, str, dict[str, Any]]]:
    base = f"{PROJECT}/publishers/{publisher_id}"
    return {
        "freeze": ("POST", f"{base}/freeze", {}),
        "unfreeze": ("POST", f"{base}/unfreeze", {}),
        "stage-only": ("PUT", f"{base}/stage-only", {"enabled": True}),
        "state": ("PUT", f"{PROJECT}/state", {"state": "archived"}),
    }


async def test_an_owner_freezes_and_unfreezes_with_the_count_reported(api: Api) -> None:
    alice, publisher_id = await owner_with_publisher(api)
    frozen = await api.post(f"{PROJECT}/publishers/{publisher_id}/freeze", alice.session, {})
    assert frozen.status_code == 200, frozen.text
    assert frozen.json()["revoked"] == 0
    assert frozen.json()["publisher"]["frozen_at"] is not None
    thawed = await api.post(f"{PROJECT}/publishers/{publisher_id}/unfreeze", alice.session, {})
    assert thawed.status_code == 200
    assert thawed.json()["frozen_at"] is None
    state = await api.http.put(
        f"/api/v1{PROJECT}/state", json={"state": "quarantined"}, headers=bearer(alice.session)
    )
    assert state.json() == {"project": "sampleproject", "state": "quarantined"}


@pytest.mark.parametrize("route", ["freeze", "unfreeze", "stage-only", "state"])
async def test_a_maintainer_is_refused(api: Api, route: str) -> None:
    alice, publisher_id = await owner_with_publisher(api)
    bob = await api.user("bob", two_factor=True)
    invited = await api.post(
        "/invitations",
        alice.session,
        {"username": "bob", "role": "maintainer", "project": "sampleproject"},
    )
    assert (
        await api.post(f"/invitations/{invited.json()['id']}/accept", bob.session)
    ).status_code == 200
    method, path, body = calls(publisher_id)[route]
    refused = await api.http.request(
        method, f"/api/v1{path}", json=body, headers=bearer(bob.session)
    )
    assert (refused.status_code, codes(refused)) == (403, ["not-an-owner"])


@pytest.mark.parametrize("route", ["freeze", "unfreeze", "stage-only", "state"])
async def test_a_stolen_session_without_a_fresh_second_factor_is_refused(
    api: Api, route: str
) -> None:
    alice, publisher_id = await owner_with_publisher(api)
    stolen = await api.session("alice")  # signed in with the password, never proved 2FA here
    method, path, body = calls(publisher_id)[route]
    refused = await api.http.request(method, f"/api/v1{path}", json=body, headers=bearer(stolen))
    assert refused.status_code in (401, 403), refused.text
    assert codes(refused)[0] in {"recent-two-factor-required", "two-factor-pending"}
    listed = await api.get(f"{PROJECT}/publishers", alice.session)
    (publisher,) = listed.json()["publishers"]
    assert publisher["frozen_at"] is None
    assert not publisher["stage_only"]


MALFORMED = [
    pytest.param("freeze", {"since": "yesterday"}, id="freeze-since-not-a-time"),
    pytest.param("freeze", {"since": "2027-01-15T10:00:00"}, id="freeze-since-without-zone"),
    pytest.param("freeze", {"until": 5}, id="freeze-until-a-number"),
    pytest.param("freeze", {"sinse": "2027-01-15T10:00:00Z"}, id="freeze-unknown-field"),
    pytest.param(
        "freeze",
        {"since": "2027-01-15T10:00:00Z", "until": "2027-01-14T10:00:00Z"},
        id="freeze-window-backwards",
    ),
    pytest.param("stage-only", {}, id="stage-only-missing"),
    pytest.param("stage-only", {"enabled": "yes"}, id="stage-only-a-string"),
    pytest.param("state", {}, id="state-missing"),
    pytest.param("state", {"state": "deleted"}, id="state-unknown"),
    pytest.param("state", {"state": ["archived"]}, id="state-a-list"),
]


@pytest.mark.parametrize(("route", "body"), MALFORMED)
async def test_malformed_bodies_are_400_with_a_code_and_change_nothing(
    api: Api, route: str, body: dict[str, Any]
) -> None:
    alice, publisher_id = await owner_with_publisher(api)
    method, path, _ = calls(publisher_id)[route]
    refused = await api.http.request(
        method, f"/api/v1{path}", json=body, headers=bearer(alice.session)
    )
    assert refused.status_code == 400, refused.text
    assert codes(refused)[0] in {"invalid-payload", "invalid-project-state"}
    listed = await api.get(f"{PROJECT}/publishers", alice.session)
    (publisher,) = listed.json()["publishers"]
    assert publisher["frozen_at"] is None
    assert not publisher["stage_only"]


async def test_a_body_that_is_not_json_is_refused(api: Api) -> None:
    alice, publisher_id = await owner_with_publisher(api)
    refused = await api.http.post(
        f"/api/v1{PROJECT}/publishers/{publisher_id}/freeze",
        content=b"{not json",
        headers={**bearer(alice.session), "content-type": "application/json"},
    )
    assert refused.status_code == 400
    assert codes(refused) == ["invalid-payload"]
