"""MINTGATE_PUBLISHERS_FILE on the database source, and the file-only source (issue 19)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fakeissuer import Clock, FakeIssuer, github_claims

from service.app import Overrides, create_app
from service.envparse import SettingsError
from service.settings import Settings
from service.store import open_store
from service.trust import TrustUnavailable
from service.trust.startup import FileApplied

pytestmark = pytest.mark.anyio

DATA = Path(__file__).parent / "data"


def settings(**changes: Any) -> Settings:
    # As tests/conftest.py's, which a module cannot import by name (tests/*/conftest.py too).
    base: dict[str, Any] = {
        "issuers_file": DATA / "issuers.toml",
        "publishers_file": DATA / "publishers.toml",
        "rate_limit_mint_ip": None,
        "rate_limit_mint_publisher": None,
    }
    return Settings(**{**base, **changes})


async def mint(app: Any, token: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.post("/_/oidc/mint-token", json={"token": token})


def test_a_bad_file_stops_start_up_naming_the_variable_the_table_and_the_key(
    tmp_path: Path,
) -> None:
    bad = tmp_path / "publishers.toml"
    bad.write_text(
        (DATA / "publishers.toml")
        .read_text()
        .replace('workflow = "release.yml"', "workflow = 3", 1)
    )
    with pytest.raises(SettingsError) as raised:
        create_app(settings(publishers_file=bad))
    message = str(raised.value)
    assert message.startswith("MINTGATE_PUBLISHERS_FILE: ")
    assert "[project.sampleproject] publisher #1: workflow" in message


async def test_the_file_is_applied_before_the_first_mint_even_without_a_lifespan(
    github: FakeIssuer, issuers_mock: Any, clock: Clock, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}"
    store = await open_store(url)
    try:
        app = create_app(settings(database_url=url), Overrides(clock=clock, store=store))
        response = await mint(app, github.sign(github_claims()))
        assert response.status_code == 200, response.text
        async with store.transaction() as tx:
            events = [e for e in await tx.audit_events() if e.event == "publisher:added"]
            project = await tx.project_by_name("sampleproject")
            assert project is not None
            publishers = await tx.publishers_of(project.id)
    finally:
        await store.close()
    assert publishers
    assert {p.source for p in publishers} == {"sync"}
    assert events
    assert {e.actor for e in events} == {"operator:publishers-file"}


async def test_until_the_file_is_applied_nothing_is_trusted() -> None:
    attempts = 0

    async def apply() -> None:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise OSError("database down")

    class Inner:
        async def publishers_for(self, issuer: str, lookup_key: str) -> list[Any]:
            return ["trusted"]

    applied = FileApplied(Inner(), apply)  # type: ignore[arg-type]
    with pytest.raises(TrustUnavailable):
        await applied.publishers_for("https://issuer", "key")
    assert await applied.publishers_for("https://issuer", "key") == ["trusted"]
    assert await applied.publishers_for("https://issuer", "key") == ["trusted"]
    assert attempts == 2


async def test_a_file_only_deployment_trusts_the_file_and_not_the_database(
    github: FakeIssuer, issuers_mock: Any, clock: Clock
) -> None:
    app = create_app(settings(trust_source="toml"), Overrides(clock=clock))
    assert app.state.trust_index is None
    response = await mint(app, github.sign(github_claims()))
    assert response.status_code == 200, response.text
    other = create_app(settings(trust_source="toml", publishers_file=None), Overrides(clock=clock))
    refused = await mint(other, github.sign(github_claims()))
    assert refused.status_code == 422
