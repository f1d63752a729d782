"""Operator commands end to end on a SQLite file: reset-2fa (mailed through a real
local SMTP server), report no-2fa, audit."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from accounts_helpers import ctx_for, enrol_totp, make_accounts, new_user
from aiosmtpd.controller import Controller
from fakeissuer import Clock

from service.accounts.core import Context
from service.accounts.invitations import accept, invite
from service.accounts.notify import Notice, SmtpNotifier, deliver
from service.accounts.projects import create_organization, create_project
from service.accounts.two_factor import reset_two_factor
from service.cli import main
from service.publishers.base import Refusal
from service.store import Store, UserRecord, open_store
from service.store.records import InvitationRecord


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[str, Inbox]]:
    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{port}", inbox
    finally:
        controller.stop()


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, common: frozenset[str]) -> str:
    """A SQLite file where alice owns foo-bar and bob maintains it, both with TOTP."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'ops.sqlite3'}"
    monkeypatch.setenv("MINTGATE_DATABASE_URL", url.replace("+aiosqlite", ""))
    monkeypatch.setenv("MINTGATE_PWNED_PASSWORDS_URL", "off")

    async def populate() -> None:
        store = await open_store(url)
        try:
            clock = Clock()
            accounts = make_accounts(store, clock, common)
            deps = accounts.deps
            alice, bob = await new_user(accounts, "alice"), await new_user(accounts, "bob")
            await enrol_totp(accounts, clock, alice)
            await enrol_totp(accounts, clock, bob)
            assert not isinstance(await create_project(deps, ctx_for(alice), "Foo_Bar"), str)
            invitation = await invite(deps, ctx_for(alice), "bob", "maintainer", project="foo-bar")
            await accept(deps, ctx_for(bob), getattr(invitation, "id", 0))
        finally:
            await store.close()

    asyncio.run(populate())
    return url


def test_reset_2fa_is_audited_notified_and_reported(
    db: str,
    smtp: tuple[str, Inbox],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, inbox = smtp
    monkeypatch.setenv("MINTGATE_SMTP_URL", url)
    monkeypatch.setenv("MINTGATE_SMTP_FROM", "security@pypi.example.org")
    assert main(["report", "no-2fa"]) == 0
    assert capsys.readouterr().out == (
        "every project maintainer and organization member has two-factor authentication\n"
    )
    assert main(["user", "reset-2fa", "bob", "--reason", "ticket 42, video call"]) == 0
    assert "removed every two-factor method of bob" in capsys.readouterr().out
    [mail] = inbox.messages
    assert (mail["To"], mail["From"]) == ("bob@example.org", "security@pypi.example.org")
    assert mail["Subject"] == "[mintgate] Two-factor authentication reset by an operator"
    body = mail.get_payload(decode=True)
    assert isinstance(body, bytes)
    assert "reason: ticket 42, video call" in body.decode()
    assert main(["report", "no-2fa"]) == 0
    assert capsys.readouterr().out == "project Foo_Bar: bob (maintainer)\n"
    assert main(["audit", "--user", "bob"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "operator:two-factor-reset actor=operator:" in lines[-1]
    assert '"methods_removed": 1' in lines[-1]
    assert '"reason": "ticket 42, video call"' in lines[-1]
    assert main(["user", "reset-2fa", "nobody", "--reason", "x"]) == 1
    assert "no user 'nobody' (no-such-user)" in capsys.readouterr().err


def test_audit_per_project_and_organization(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "--project", "FOO.bar"]) == 0
    events = [line.split()[1] for line in capsys.readouterr().out.splitlines()]
    assert events == [
        "project:created",
        "role:added",
        "invitation:created",
        "invitation:accepted",
        "role:added",
    ]
    assert main(["audit", "--org", "acme"]) == 0
    assert capsys.readouterr().out == ""
    assert main(["audit", "--user", "nobody"]) == 1


def test_a_mail_outage_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    notifier = SmtpNotifier(f"smtp://user:hunter2@127.0.0.1:{_free_port()}", "m@example.org")
    asyncio.run(deliver(notifier, [Notice("bob@example.org", "bob", "password-changed")]))
    assert "could not send the password-changed notice for bob" in caplog.text
    assert "hunter2" not in caplog.text + repr(notifier)
    assert "bob@example.org" not in caplog.text


def test_report_lists_organization_members_without_2fa(
    db: str, common: frozenset[str], capsys: pytest.CaptureFixture[str]
) -> None:
    async def organization_with_carol() -> None:
        store = await open_store(db)
        try:
            accounts = make_accounts(store, Clock(), common)
            deps = accounts.deps
            alice = await store_user(store, "alice")
            org = await create_organization(deps, ctx_for(alice), "Acme")
            assert not isinstance(org, Refusal), org
            carol = await new_user(accounts, "carol", two_factor=True)
            invitation = await invite(deps, ctx_for(alice), "carol", "member", organization="acme")
            assert isinstance(invitation, InvitationRecord)
            assert isinstance(await accept(deps, ctx_for(carol), invitation.id), InvitationRecord)
            await reset_two_factor(deps, Context(actor="operator"), "carol", "lost phone")
        finally:
            await store.close()

    asyncio.run(organization_with_carol())
    assert main(["report", "no-2fa"]) == 0
    assert capsys.readouterr().out == "organization Acme: carol (member)\n"


def test_the_operator_flags_a_project_and_every_report_shows_it(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["project", "show", "foo.bar"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "project Foo_Bar (foo-bar)",
        "  2FA required: no",
        "  trusted publishing only: no",
        "  state: active",
        "  owner      alice (2FA)",
        "  maintainer bob (2FA)",
    ]
    assert main(["project", "require-2fa", "FOO_BAR"]) == 0
    assert "  2FA required: yes" in capsys.readouterr().out.splitlines()
    assert main(["user", "reset-2fa", "bob", "--reason", "ticket 7"]) == 0
    capsys.readouterr()
    assert main(["report", "no-2fa"]) == 0
    assert capsys.readouterr().out == "project Foo_Bar [2FA required]: bob (maintainer)\n"
    assert main(["project", "require-2fa", "foo-bar", "--off"]) == 0
    assert "  2FA required: no" in capsys.readouterr().out.splitlines()
    assert main(["audit", "--project", "foo-bar"]) == 0
    flags = [
        line
        for line in capsys.readouterr().out.splitlines()
        if "operator:project-two-factor-required" in line
    ]
    assert ['{"required": true}' in flags[0], '{"required": false}' in flags[1]] == [True, True]
    assert all(" actor=operator" in line for line in flags)
    assert main(["project", "require-2fa", "nope"]) == 1
    assert "no project 'nope' (no-such-project)" in capsys.readouterr().err
    assert main(["project", "show", "bad name!"]) == 1
    assert "(invalid-name)" in capsys.readouterr().err


def test_db_sweep_removes_expired_rows_and_is_audited(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async def expired_session() -> None:
        store = await open_store(db)
        try:
            alice = await store_user(store, "alice")
            past = datetime(2020, 1, 1, tzinfo=UTC)
            async with store.transaction() as tx:
                await tx.add_session(
                    "e" * 64,
                    alice.id,
                    now=past,
                    expires_at=past,
                    pending=False,
                    ip=None,
                    user_agent=None,
                )
        finally:
            await store.close()

    asyncio.run(expired_session())
    assert main(["db", "sweep"]) == 0
    assert capsys.readouterr().out == (
        "mintgate: swept 1 sessions, 0 WebAuthn challenges, 0 invitations, 0 pending publishers,"
        " 0 minted-token records, 0 trust changes, 0 audit events\n"
    )
    assert main(["db", "sweep"]) == 0
    assert "swept 0 sessions" in capsys.readouterr().out

    async def sweeps() -> list[tuple[str, int]]:
        store = await open_store(db)
        try:
            async with store.transaction() as tx:
                events = await tx.audit_events()
        finally:
            await store.close()
        return [(e.actor, e.details["sessions"]) for e in events if e.event == "operator:sweep"]

    assert [count for _, count in asyncio.run(sweeps())] == [1, 0]
    assert all(actor.startswith("operator") for actor, _ in asyncio.run(sweeps()))


async def store_user(store: Store, name: str) -> UserRecord:
    async with store.transaction() as tx:
        found = await tx.user_by_name(name)
    assert found is not None
    return found
