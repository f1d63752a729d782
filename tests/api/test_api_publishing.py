"""Trusted publishers, the trusted-publishing-only switch, pending publishers and API tokens
over HTTP: owners only, with a fresh second factor; tokens shown once."""

from __future__ import annotations

from typing import Any

import pytest
from api_helpers import Api, User, codes

pytestmark = pytest.mark.anyio

# The TOML-equivalent table an owner sends.
GITHUB: dict[str, Any] = {
    "provider": "github",
    "repository": "octo-org/sampleproject",
    "repository_owner_id": "1234567",
    "workflow": "release.yml",
    "environment": "pypi",
}
PUBLISHERS = "/projects/sampleproject/publishers"


async def owner(api: Api, name: str = "alice") -> User:
    user = await api.user(name, two_factor=True)
    created = await api.post("/projects", user.session, {"name": "sampleproject"})
    assert created.status_code == 201, created.text
    return user


async def test_an_owner_adds_lists_and_removes_a_github_publisher(api: Api) -> None:
    alice = await owner(api)
    added = await api.post(PUBLISHERS, alice.session, GITHUB)
    assert added.status_code == 201, added.text
    publisher = added.json()
    assert publisher["provider"] == "github"
    assert publisher["issuer"] == "https://token.actions.githubusercontent.com"
    assert publisher["config"]["repository"] == "octo-org/sampleproject"
    listed = await api.get(PUBLISHERS, alice.session)
    assert [p["id"] for p in listed.json()["publishers"]] == [publisher["id"]]
    again = await api.post(PUBLISHERS, alice.session, GITHUB)
    assert (again.status_code, codes(again)) == (409, ["publisher-exists"])
    removed = await api.delete(f"{PUBLISHERS}/{publisher['id']}", alice.session)
    assert (removed.status_code, removed.json()["id"]) == (200, publisher["id"])
    assert (await api.get(PUBLISHERS, alice.session)).json() == {"publishers": []}
    gone = await api.delete(f"{PUBLISHERS}/{publisher['id']}", alice.session)
    assert (gone.status_code, codes(gone)) == (404, ["no-such-publisher"])


async def test_a_maintainer_cannot_manage_publishers(api: Api) -> None:
    alice = await owner(api)
    bob = await api.user("bob", two_factor=True)
    invited = await api.post(
        "/invitations",
        alice.session,
        {"username": "bob", "role": "maintainer", "project": "sampleproject"},
    )
    assert invited.status_code == 201, invited.text
    accepted = await api.post(f"/invitations/{invited.json()['id']}/accept", bob.session)
    assert accepted.status_code == 200, accepted.text
    for refused in (
        await api.post(PUBLISHERS, bob.session, GITHUB),
        await api.get(PUBLISHERS, bob.session),
        await api.http.put(
            "/api/v1/projects/sampleproject/trusted-publishing-only",
            json={"enabled": True},
            headers=bob.auth,
        ),
    ):
        assert (refused.status_code, codes(refused)) == (403, ["not-an-owner"])


async def test_a_stale_confirmation_is_refused_until_confirmed_again(api: Api) -> None:
    alice = await owner(api)
    api.clock.advance(16 * 60)
    stale = await api.post(PUBLISHERS, alice.session, GITHUB)
    assert (stale.status_code, codes(stale)) == (403, ["recent-two-factor-required"])
    assert (await api.get(PUBLISHERS, alice.session)).status_code == 403
    assert (await api.confirm_totp(alice)).status_code == 200
    assert (await api.post(PUBLISHERS, alice.session, GITHUB)).status_code == 201


async def test_an_unknown_project_is_a_404(api: Api) -> None:
    alice = await owner(api)
    missing = await api.get("/projects/nothing-here/publishers", alice.session)
    assert (missing.status_code, codes(missing)) == (404, ["no-such-project"])


@pytest.mark.parametrize(
    ("change", "key"),
    [
        pytest.param({"repository_owner_id": None}, "repository_owner_id", id="missing-key"),
        pytest.param({"provider": "nope"}, "provider", id="unknown-provider"),
        pytest.param({"issuer": "https://evil.example"}, "issuer", id="unknown-issuer"),
    ],
)
async def test_an_invalid_publisher_is_a_400_naming_the_key(
    api: Api, change: dict[str, Any], key: str
) -> None:
    alice = await owner(api)
    table = {k: v for k, v in {**GITHUB, **change}.items() if v is not None}
    refused = await api.post(PUBLISHERS, alice.session, table)
    assert (refused.status_code, codes(refused)) == (400, ["invalid-publisher-config"])
    assert refused.json()["errors"][0]["description"].startswith(f"{key}:")
    assert (await api.get(PUBLISHERS, alice.session)).json() == {"publishers": []}


async def test_the_trusted_publishing_only_switch(api: Api) -> None:
    alice = await owner(api)
    path = "/api/v1/projects/sampleproject/trusted-publishing-only"
    for enabled in (True, False):
        switched = await api.http.put(path, json={"enabled": enabled}, headers=alice.auth)
        assert switched.status_code == 200, switched.text
        assert switched.json() == {"project": "sampleproject", "enabled": enabled}
    vague = await api.http.put(path, json={"enabled": "yes"}, headers=alice.auth)
    assert (vague.status_code, codes(vague)) == (400, ["invalid-payload"])
    trail = await api.get("/audit", alice.session, params={"project": "sampleproject"})
    events = [e["event"] for e in trail.json()["events"]]
    assert events.count("project:trusted-publishing-only") == 2


async def test_a_pending_publisher_is_registered_and_listed(api: Api) -> None:
    alice = await api.user("alice", two_factor=True)
    body = {"project": "Brand_New", "publisher": GITHUB}
    added = await api.post("/pending-publishers", alice.session, body)
    assert added.status_code == 201, added.text
    assert (added.json()["project"], added.json()["normalized_name"]) == ("Brand_New", "brand-new")
    listed = await api.get("/pending-publishers", alice.session)
    assert [p["id"] for p in listed.json()["pending_publishers"]] == [added.json()["id"]]
    again = await api.post("/pending-publishers", alice.session, body)
    assert (again.status_code, codes(again)) == (409, ["publisher-exists"])
    await api.post("/projects", alice.session, {"name": "taken"})
    taken = await api.post("/pending-publishers", alice.session, {**body, "project": "taken"})
    assert (taken.status_code, codes(taken)) == (409, ["name-taken"])


async def test_a_token_is_shown_once_and_never_listed(api: Api) -> None:
    alice = await owner(api)
    created = await api.post(
        "/tokens", alice.session, {"name": "ci", "projects": ["sampleproject"]}
    )
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    assert token.startswith("mgapi_")
    record = created.json()["api_token"]
    assert (record["name"], record["projects"]) == ("ci", ["sampleproject"])
    listed = await api.get("/tokens", alice.session)
    assert [t["id"] for t in listed.json()["api_tokens"]] == [record["id"]]
    assert token not in listed.text
    assert "token" not in listed.json()["api_tokens"][0]


async def test_a_token_for_a_project_i_do_not_maintain_is_refused(api: Api) -> None:
    alice = await owner(api)
    body = {"name": "ci", "projects": ["someone-else"]}
    refused = await api.post("/tokens", alice.session, body)
    assert (refused.status_code, codes(refused)) == (403, ["not-a-maintainer"])
    assert (await api.get("/tokens", alice.session)).json() == {"api_tokens": []}


async def test_a_token_is_revoked_without_a_fresh_proof(api: Api) -> None:
    alice = await owner(api)
    created = await api.post("/tokens", alice.session, {"name": "ci"})
    token_id = created.json()["api_token"]["id"]
    api.clock.advance(16 * 60)
    revoked = await api.delete(f"/tokens/{token_id}", alice.session)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked_at"] is not None
    [listed] = (await api.get("/tokens", alice.session)).json()["api_tokens"]
    assert listed["revoked_at"] == revoked.json()["revoked_at"]
    unknown = await api.delete("/tokens/not-a-token", alice.session)
    assert (unknown.status_code, codes(unknown)) == (404, ["no-such-token"])


async def test_someone_elses_token_is_not_found(api: Api) -> None:
    alice = await owner(api)
    mallory = await api.user("mallory", two_factor=True)
    created = await api.post("/tokens", alice.session, {"name": "ci"})
    token_id = created.json()["api_token"]["id"]
    refused = await api.delete(f"/tokens/{token_id}", mallory.session)
    assert (refused.status_code, codes(refused)) == (404, ["no-such-token"])
