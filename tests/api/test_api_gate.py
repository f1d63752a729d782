"""The 2FA gate through HTTP: route x user state -> status (and error code)."""

from __future__ import annotations

import pytest
from api_helpers import Api, bearer, codes

pytestmark = pytest.mark.anyio

# (method, path, body) by name; invitation 999 does not exist, so an allowed
# accept/decline answers 404 and a gated one answers before the lookup.
ROUTES = {
    "create-project": ("POST", "/projects", {"name": "pkg"}),
    "create-organization": ("POST", "/organizations", {"name": "org"}),
    "accept-invitation": ("POST", "/invitations/999/accept", None),
    "decline-invitation": ("POST", "/invitations/999/decline", None),
    "invite": ("POST", "/invitations", {"username": "bob", "role": "owner", "project": "nope"}),
    "me": ("GET", "/me", None),
    "list-projects": ("GET", "/projects", None),
    "audit": ("GET", "/audit", None),
    "enrol-totp": ("POST", "/me/two-factor/totp", None),
    "recovery-codes": ("POST", "/me/recovery-codes", None),
    "list-roles": ("GET", "/projects/nope/roles", None),
    "change-role": ("PUT", "/projects/nope/roles/bob", {"role": "owner"}),
    "remove-role": ("DELETE", "/projects/nope/roles/bob", None),
    "leave": ("DELETE", "/organizations/nope/roles/alice", None),
    "create-token": ("POST", "/tokens", {"name": "ci"}),
    "list-publishers": ("GET", "/projects/nope/publishers", None),
}

PENDING = (403, "two-factor-pending")
ANONYMOUS = (401, "not-signed-in")
NO_2FA = (403, "two-factor-required")

# state -> route -> (status, first error code or None)
TABLE: dict[str, dict[str, tuple[int, str | None]]] = {
    "anonymous": dict.fromkeys(ROUTES, ANONYMOUS),
    "pending": dict.fromkeys(ROUTES, PENDING),
    "no-2fa": {
        "create-project": NO_2FA,
        "create-organization": NO_2FA,
        "accept-invitation": NO_2FA,
        "decline-invitation": (404, "no-such-invitation"),
        "invite": NO_2FA,
        "me": (200, None),
        "list-projects": (200, None),
        "audit": (200, None),
        "enrol-totp": (200, None),
        "recovery-codes": NO_2FA,
        "list-roles": (404, "no-such-project-or-organization"),
        "change-role": NO_2FA,
        "remove-role": NO_2FA,
        "leave": (404, "no-such-project-or-organization"),  # shedding a role needs no 2FA
        "create-token": NO_2FA,
        "list-publishers": NO_2FA,
    },
    "2fa": {
        "create-project": (201, None),
        "create-organization": (201, None),
        "accept-invitation": (404, "no-such-invitation"),
        "decline-invitation": (404, "no-such-invitation"),
        "invite": (404, "no-such-project-or-organization"),
        "me": (200, None),
        "list-projects": (200, None),
        "audit": (200, None),
        "enrol-totp": (409, "totp-already-confirmed"),
        "recovery-codes": (200, None),
        "list-roles": (404, "no-such-project-or-organization"),
        "change-role": (404, "no-such-project-or-organization"),
        "remove-role": (404, "no-such-project-or-organization"),
        "leave": (404, "no-such-project-or-organization"),
        "create-token": (201, None),
        "list-publishers": (404, "no-such-project"),
    },
}


async def _session(api: Api, state: str) -> str | None:
    if state == "anonymous":
        return None
    alice = await api.user("alice", two_factor=state in ("2fa", "pending"))
    if state == "pending":
        return await api.session("alice")
    return alice.session


@pytest.mark.parametrize("state", list(TABLE))
async def test_the_gate(api: Api, state: str) -> None:
    session = await _session(api, state)
    seen = {}
    for name, (method, path, body) in ROUTES.items():
        if method == "GET":
            response = await api.get(path, session)
        elif method == "POST":
            response = await api.post(path, session, body or {})
        else:
            headers = bearer(session) if session else {}
            response = await api.http.request(method, f"/api/v1{path}", json=body, headers=headers)
        code = codes(response)[0] if response.status_code >= 400 else None
        seen[name] = (response.status_code, code)
    assert seen == TABLE[state]


async def test_the_refusal_says_how_to_enrol(api: Api) -> None:
    bob = await api.user("bob")
    refused = await api.post("/projects", bob.session, {"name": "pkg"})
    body = refused.json()
    assert body["message"] == "Forbidden"
    assert "authenticator app" in body["errors"][0]["description"]
