"""Staging is decided by what the file is, not by what the form says (issue 21).

The attack: staging on with `new_versions_only`, version 2.0 approved once; then a form
that says `version=2.0` around `foo_bar-6.6.6.tar.gz`. The form's version is approved, so
the upload would skip review, and an index that files by file name publishes 6.6.6.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from accounts.accounts_helpers import RecordingNotifier, ctx_for, enrol_totp, new_user
from fakeissuer import Clock
from gateway.gatewaykit import form, mint, upload, wheel
from stagingkit import KEYS, gateway

from service.accounts import totp
from service.accounts.accounts import Accounts
from service.accounts.projects import create_project
from service.publishers.base import Refusal
from service.staging.approve import Approvals
from service.staging.manage import set_staging
from service.staging.proof import TotpProof
from service.store import SqlStore

pytestmark = pytest.mark.anyio
NAME = "foo_bar"  # as the owner typed it; PEP 503: foo-bar


async def test_a_file_of_another_version_in_an_approved_versions_form_is_refused(
    accounts: Accounts,
    store: SqlStore,
    clock: Clock,
    approvals: Approvals,
    notices: RecordingNotifier,
    tmp_path: Path,
) -> None:
    alice = await new_user(accounts, "alice")
    secret = await enrol_totp(accounts, clock, alice)
    assert not isinstance(await create_project(accounts.deps, ctx_for(alice), NAME), Refusal)
    policy = await set_staging(
        accounts.deps, ctx_for(alice), NAME, enabled=True, new_versions_only=True
    )
    assert not isinstance(policy, Refusal), policy
    token = mint(KEYS, projects=("foo-bar",))
    async with gateway(store, tmp_path / "staging", clock, notices) as (client, backend):
        first = await upload(
            client, token, project=NAME, fields=form(NAME, "2.0"), file=wheel(NAME, "2.0")
        )
        assert first.text.startswith("Staged, not published: foo-bar 2.0"), first.text
        async with store.transaction() as tx:
            [release] = await tx.staged_releases(["foo-bar"], ("staged",))
        clock.advance(totp.STEP)
        code = totp.generate(secret, clock())
        approved = await approvals.approve(
            ctx_for(alice), release.id, release.digest, TotpProof(code)
        )
        assert not isinstance(approved, Refusal), approved

        attack = await upload(
            client,
            token,
            project=NAME,
            fields=form(NAME, "2.0", filetype="sdist"),
            file=("foo_bar-6.6.6.tar.gz", b"a tarball of 6.6.6"),
        )
        assert attack.status_code == 400, attack.text
        assert attack.text.startswith("invalid-filename: ")
        assert "6.6.6" in attack.text
        assert "2.0" in attack.text
        assert backend.call_count == 0

        # The same version, another file: new_versions_only lets it through, as designed.
        sdist = await upload(
            client,
            token,
            project=NAME,
            fields=form(NAME, "2.0", filetype="sdist"),
            file=("foo_bar-2.0.tar.gz", b"a tarball of 2.0"),
        )
        assert sdist.status_code == 200, sdist.text
        assert sdist.text == "stored\n"
        assert backend.call_count == 1

        # 6.6.6 said honestly is a new version: staged, still not published.
        honest = await upload(
            client,
            token,
            project=NAME,
            fields=form(NAME, "6.6.6", filetype="sdist"),
            file=("foo_bar-6.6.6.tar.gz", b"a tarball of 6.6.6"),
        )
        assert honest.text.startswith("Staged, not published: foo-bar 6.6.6"), honest.text
        assert backend.call_count == 1
