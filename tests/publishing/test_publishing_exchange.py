"""The exchange reads trusted publishers from the database and records each mint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fakeissuer import Clock, FakeIssuer, github_claims
from publishingkit import TRUSTED_AT, app_over, codes, mint, table, trust

from service.issuers import Issuers
from service.store import SqlStore, open_store
from service.trust import TrustUnavailable
from service.trust.sql import SqlTrustStore
from service.trust.tables import publisher_spec

pytestmark = pytest.mark.anyio


async def test_a_real_mint_uses_the_database_publisher_and_records_its_use(
    store: SqlStore, issuers: Issuers, github: FakeIssuer, issuers_mock: Any, clock: Clock
) -> None:
    publisher_id = await trust(store, issuers, "sampleproject")
    await trust(store, issuers, "unrelated", repository="octo-org/other")

    async with app_over(store, clock) as client:
        response = await mint(client, github.sign(github_claims(run_id="98765")))

    assert response.status_code == 200, response.json()
    async with store.transaction() as tx:
        project = await tx.project_by_name("sampleproject")
        assert project is not None
        (used,) = await tx.publishers_of(project.id)
        events = await tx.audit_events(project="sampleproject")
    assert used.id == publisher_id
    assert used.last_used_at is not None
    assert used.last_run_id == "98765"
    (event,) = [e for e in events if e.event == "mint"]
    assert event.actor.startswith("publisher:github:octo-org/sampleproject")
    assert event.details["publisher_id"] == publisher_id
    assert event.details["projects"] == ["sampleproject"]
    assert event.details["run_id"] == "98765"
    assert event.details["jti"]


async def test_make_client_with_a_database_url_mints_from_the_database(
    make_client: Any,
    tmp_path: Path,
    issuers: Issuers,
    github: FakeIssuer,
    issuers_mock: Any,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'trust.sqlite3'}"
    seeded = await open_store(url)
    try:
        await trust(seeded, issuers, "sampleproject")
    finally:
        await seeded.close()

    async with make_client(trust_source="database", database_url=url) as client:
        minted = await mint(client, github.sign(github_claims()))
        refused = await mint(client, github.sign(github_claims(repository="octo-org/nothing")))

    assert minted.status_code == 200, minted.json()
    # The TOML file's other publishers (Sample_Plugin) are not consulted.
    assert refused.status_code == 422
    assert codes(refused) == ["invalid-publisher"]


async def test_a_publisher_removed_in_the_database_stops_minting_at_once(
    store: SqlStore, issuers: Issuers, github: FakeIssuer, issuers_mock: Any, clock: Clock
) -> None:
    publisher_id = await trust(store, issuers, "sampleproject")
    async with app_over(store, clock) as client:
        assert (await mint(client, github.sign(github_claims()))).status_code == 200
        async with store.transaction() as tx:
            project = await tx.project_by_name("sampleproject")
            assert project is not None
            assert await tx.delete_publisher(project.id, publisher_id)
        response = await mint(client, github.sign(github_claims()))
    assert codes(response) == ["invalid-publisher"]


async def test_a_mint_whose_record_cannot_be_written_is_not_answered_and_may_be_retried(
    store: SqlStore, issuers: Issuers, github: FakeIssuer, issuers_mock: Any, clock: Clock
) -> None:
    """No token nobody can trace: the record fails, the token is dropped (503), and the
    OIDC token's jti is given back, so the job's retry mints once the database is back."""
    await trust(store, issuers, "sampleproject")

    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")

    signed = github.sign(github_claims())
    async with app_over(store, clock) as client:
        exchange = client._transport.app.state.exchange  # type: ignore[attr-defined]
        working = exchange.recorder.minted
        exchange.recorder.minted = broken
        refused = await mint(client, signed)
        exchange.recorder.minted = working
        retried = await mint(client, signed)
        again = await mint(client, signed)
    assert (refused.status_code, codes(refused)) == (503, ["service-unavailable"])
    assert "token" not in refused.json()
    assert retried.status_code == 200, retried.json()
    assert codes(again) == ["invalid-reuse-token"]
    async with store.transaction() as tx:
        mints = [e for e in await tx.audit_events(project="sampleproject") if e.event == "mint"]
    assert len(mints) == 1


async def test_a_database_that_cannot_answer_is_a_503_not_a_guess(
    store: SqlStore, issuers: Issuers, github: FakeIssuer, issuers_mock: Any, clock: Clock
) -> None:
    await trust(store, issuers, "sampleproject")
    async with app_over(store, clock) as client:

        async def down(issuer: str, key: str) -> Any:
            raise TrustUnavailable("OperationalError")

        exchange = client._transport.app.state.exchange  # type: ignore[attr-defined]
        exchange.trust.publishers_for = down
        response = await mint(client, github.sign(github_claims()))
    assert response.status_code == 503
    assert codes(response) == ["service-unavailable"]


async def test_a_row_configuration_no_longer_accepts_is_skipped(
    store: SqlStore, issuers: Issuers
) -> None:
    await trust(store, issuers, "sampleproject")
    async with store.transaction() as tx:
        project = await tx.project_by_name("sampleproject")
        assert project is not None
        _, spec = publisher_spec(table(workflow="second.yml"), issuers)
        broken = dict(spec.config, issuer="https://retired.example")
        from dataclasses import replace

        await tx.add_publisher(
            project.id, replace(spec, config=broken), source="api", created_by=None, now=TRUSTED_AT
        )
    found = await SqlTrustStore(store, issuers).publishers_for(
        "https://token.actions.githubusercontent.com", "octo-org/sampleproject"
    )
    assert [t.publisher.identity for t in found] == [
        "github:octo-org/sampleproject:release.yml:env=pypi"
    ]
