"""Security events mail their notice through a real local SMTP server (aiosmtpd), and the
events the issue names are in the audit trail: a story told over the API."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from api_helpers import PASSWORD, Api, ApiFactory, bearer

pytestmark = pytest.mark.anyio

GITHUB: dict[str, Any] = {
    "provider": "github",
    "repository": "octo-org/pkg",
    "repository_owner_id": "1234567",
    "workflow": "release.yml",
}


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"

    def seen(self) -> list[tuple[str, str]]:
        return [(m["To"], m["Subject"].removeprefix("[mintgate] ")) for m in self.messages]


@pytest.fixture
def inbox() -> Iterator[tuple[str, Inbox]]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    found = Inbox()
    controller = Controller(found, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{port}", found
    finally:
        controller.stop()


async def test_every_security_event_is_mailed_and_audited(
    make_api: ApiFactory, inbox: tuple[str, Inbox]
) -> None:
    url, mails = inbox
    async with make_api(smtp_url=url, smtp_from="security@pypi.example.org") as api:
        await _story(api)
    assert mails.seen() == [
        ("alice@example.org", "Two-factor method added"),
        ("bob@example.org", "Two-factor method added"),
        ("alice@example.org", "New trusted publisher"),
        ("alice@example.org", "New API token"),
        ("bob@example.org", "Your role changed"),
        ("alice@example.org", "Recovery code used"),
        ("alice@example.org", "Sign-in from a new device"),
        ("alice@example.org", "Password changed"),
        ("bob@example.org", "Your role was removed"),
        ("bob@example.org", "Two-factor method removed"),
    ]
    assert {m["From"] for m in mails.messages} == {"security@pypi.example.org"}


async def _story(api: Api) -> None:
    alice = await api.user("alice", two_factor=True)
    bob = await api.user("bob", two_factor=True)
    ok = {200, 201}
    assert (await api.post("/projects", alice.session, {"name": "pkg"})).status_code in ok
    invited = await api.post(
        "/invitations", alice.session, {"username": "bob", "role": "maintainer", "project": "pkg"}
    )
    accepted = await api.post(f"/invitations/{invited.json()['id']}/accept", bob.session)
    assert accepted.status_code == 200
    added = await api.post("/projects/pkg/publishers", alice.session, GITHUB)
    assert added.status_code == 201, added.text
    assert (await api.post("/tokens", alice.session, {"name": "ci"})).status_code == 201
    promoted = await api.http.put(
        "/api/v1/projects/pkg/roles/bob", json={"role": "owner"}, headers=alice.auth
    )
    assert promoted.status_code == 200, promoted.text
    # A second login finished with a recovery code, then a re-confirmation by TOTP.
    pending = await api.session("alice")
    code = {"code": alice.recovery_codes[0]}
    assert (await api.post("/session/confirm/recovery-code", pending, code)).status_code == 200
    assert (await api.confirm_totp(alice, pending)).status_code == 200
    changed = await api.post(
        "/me/password",
        pending,
        {"current_password": PASSWORD, "new_password": PASSWORD + " again"},
    )
    assert changed.status_code == 200, changed.text
    # bob is removed, so he maintains nothing and may drop his last method.
    removed = await api.http.delete("/api/v1/projects/pkg/roles/bob", headers=bearer(pending))
    assert removed.status_code == 200, removed.text
    dropped = await api.delete("/me/two-factor/totp", bob.session)
    assert dropped.status_code == 200, dropped.text

    trail = await api.get("/audit", pending)
    events = [e["event"] for e in trail.json()["events"]]
    for expected in (
        "login:password-ok",
        "login:two-factor-ok",
        "recovery-code:used",
        "reconfirmed",
        "password:changed",
    ):
        assert expected in events, expected
    project = await api.get("/audit", pending, params={"project": "pkg"})
    project_events = [e["event"] for e in project.json()["events"]]
    assert project_events.count("role:changed") == 1
    assert "role:removed" in project_events
    assert "publisher:added" in project_events
