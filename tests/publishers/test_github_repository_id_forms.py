"""`repository_id` through the surfaces that add publishers: /api/v1 and the web form.

Both hand the table to the TOML loader's checks, so a bad id is a 400
`invalid-publisher-config` naming `repository_id`, and nothing is stored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from api.api_helpers import Api, app_for, codes
from fakeissuer import Clock
from store.store_fixtures import database, store
from web.web_helpers import Page

from service.store import SqlStore

__all__ = ["database", "store"]

pytestmark = pytest.mark.anyio

GITHUB: dict[str, Any] = {
    "provider": "github",
    "repository": "octo-org/sampleproject",
    "repository_owner_id": "1234567",
    "workflow": "release.yml",
}
PUBLISHERS = "/projects/sampleproject/publishers"
BAD_IDS = [
    pytest.param("abc", id="letters"),
    pytest.param("12ab", id="mixed"),
    pytest.param("-5", id="negative"),
    pytest.param("0", id="zero"),
    pytest.param("1" * 21, id="too-long"),
    pytest.param("1" * 5000, id="huge"),
    pytest.param("4 2", id="space"),
]


@pytest.fixture
async def api(store: SqlStore, clock: Clock, tmp_path: Path) -> AsyncIterator[Api]:
    app = app_for(store, clock, tmp_path)
    async with app.router.lifespan_context(app), Api.over(app, clock) as opened:
        yield opened


async def _owner(api: Api) -> Any:
    alice = await api.user("alice", two_factor=True)
    created = await api.post("/projects", alice.session, {"name": "sampleproject"})
    assert created.status_code == 201, created.text
    return alice


async def test_the_api_accepts_a_repository_id(api: Api) -> None:
    alice = await _owner(api)
    added = await api.post(PUBLISHERS, alice.session, {**GITHUB, "repository_id": "4242"})
    assert added.status_code == 201, added.text
    assert added.json()["config"]["repository_id"] == "4242"
    integer = await api.post(
        PUBLISHERS, alice.session, {**GITHUB, "workflow": "other.yml", "repository_id": 4243}
    )
    assert integer.status_code == 201, integer.text


@pytest.mark.parametrize("value", [*BAD_IDS, pytest.param(True, id="boolean")])
async def test_the_api_refuses_a_repository_id_that_is_not_a_bounded_number(
    api: Api, value: object
) -> None:
    alice = await _owner(api)
    refused = await api.post(PUBLISHERS, alice.session, {**GITHUB, "repository_id": value})
    assert (refused.status_code, codes(refused)) == (400, ["invalid-publisher-config"])
    description = refused.json()["errors"][0]["description"]
    assert description.startswith("repository_id: expected a numeric id"), description
    assert (await api.get(PUBLISHERS, alice.session)).json() == {"publishers": []}


@pytest.fixture
async def browser(store: SqlStore, clock: Clock, tmp_path: Path) -> AsyncIterator[Page]:
    app = app_for(store, clock, tmp_path)
    async with app.router.lifespan_context(app), Page.over(app, clock) as opened:
        yield opened


FORM = {
    "provider": "github",
    "issuer": "https://token.actions.githubusercontent.com",
    "t_repository": "octo-org/sampleproject",
    "t_repository_owner_id": "1234567",
    "t_workflow": "release.yml",
}


async def test_the_web_form_offers_checks_and_stores_a_repository_id(browser: Page) -> None:
    await browser.owner()
    page = await browser.get("/projects/sampleproject")
    assert 'name="t_repository_id"' in page.text
    preview = await browser.post(
        "/projects/sampleproject/publishers/preview", {**FORM, "t_repository_id": "4242"}
    )
    assert preview.status_code == 200
    assert "repository_id" in browser.text
    assert "4242" in browser.text
    added = await browser.post(
        "/projects/sampleproject/publishers", {**FORM, "t_repository_id": "4242"}
    )
    assert added.status_code == 200
    assert "Trusted publisher added." in browser.text


async def test_the_web_form_leaves_the_repository_id_to_first_use(browser: Page) -> None:
    await browser.owner()
    await browser.get("/projects/sampleproject")
    preview = await browser.post("/projects/sampleproject/publishers/preview", FORM)
    assert preview.status_code == 200
    assert "pinned at first use" in browser.text


@pytest.mark.parametrize("value", BAD_IDS)
async def test_the_web_form_refuses_a_bad_repository_id(browser: Page, value: str) -> None:
    await browser.owner()
    for path in (
        "/projects/sampleproject/publishers/preview",
        "/projects/sampleproject/publishers",
    ):
        await browser.get("/projects/sampleproject")
        answer = await browser.post(path, {**FORM, "t_repository_id": value})
        assert answer.status_code == 400, path
        assert "invalid-publisher-config" in answer.text
        assert "repository_id: expected a numeric id" in answer.text
    assert "No trusted publisher yet" in (await browser.get("/projects/sampleproject")).text
