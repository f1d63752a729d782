"""Every sensitive route judges the recent proof per session: a second factor proven in one
browser does not vouch for a stolen cookie used in another, even within the window."""

from __future__ import annotations

from typing import Any

import pytest
from api_helpers import Api, bearer, codes

pytestmark = pytest.mark.anyio

GITHUB: dict[str, Any] = {
    "provider": "github",
    "repository": "octo-org/pkg",
    "repository_owner_id": "1234567",
    "workflow": "release.yml",
}

# name -> (method, path, body, the status once the session itself is confirmed)
SENSITIVE = {
    "add-publisher": ("POST", "/projects/pkg/publishers", GITHUB, 201),
    "list-publishers": ("GET", "/projects/pkg/publishers", None, 200),
    "trusted-publishing-only": (
        "PUT",
        "/projects/pkg/trusted-publishing-only",
        {"enabled": True},
        200,
    ),
    "add-pending-publisher": (
        "POST",
        "/pending-publishers",
        {"project": "brand-new", "publisher": GITHUB},
        201,
    ),
    "create-token": ("POST", "/tokens", {"name": "ci"}, 201),
    "change-role": ("PUT", "/projects/pkg/roles/bob", {"role": "owner"}, 200),
    "remove-role": ("DELETE", "/projects/pkg/roles/bob", None, 200),
    "recovery-codes": ("POST", "/me/recovery-codes", None, 200),
    "invite": (
        "POST",
        "/invitations",
        {"username": "carol", "role": "owner", "project": "pkg"},
        201,
    ),
    "staging-setting": ("PUT", "/projects/pkg/staging", {"enabled": True}, 200),
}


@pytest.mark.parametrize("route", list(SENSITIVE))
async def test_a_proof_in_another_session_does_not_count(api: Api, route: str) -> None:
    method, path, body, status = SENSITIVE[route]
    alice = await api.user("alice", two_factor=True)
    bob = await api.user("bob", two_factor=True)
    await api.user("carol")
    assert (await api.post("/projects", alice.session, {"name": "pkg"})).status_code == 201
    invited = await api.post(
        "/invitations", alice.session, {"username": "bob", "role": "maintainer", "project": "pkg"}
    )
    accepted = await api.post(f"/invitations/{invited.json()['id']}/accept", bob.session)
    assert accepted.status_code == 200, accepted.text

    stolen = await api.session("alice")  # a second browser, confirmed once...
    assert (await api.confirm_totp(alice, stolen)).status_code == 200
    api.clock.advance(16 * 60)  # ...long ago, while the first one was confirmed just now
    assert (await api.confirm_totp(alice)).status_code == 200

    def call(session: str) -> Any:
        return api.http.request(method, f"/api/v1{path}", json=body, headers=bearer(session))

    refused = await call(stolen)
    assert (refused.status_code, codes(refused)) == (403, ["recent-two-factor-required"])
    assert (await api.confirm_totp(alice, stolen)).status_code == 200
    allowed = await call(stolen)
    assert allowed.status_code == status, allowed.text
