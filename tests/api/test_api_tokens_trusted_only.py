"""POST /api/v1/tokens refuses a token for a trusted-publishing-only project (issue 21);
the staging setting carries `stage_api_tokens`, on unless an owner sends false."""

from __future__ import annotations

import httpx
import pytest
from api_helpers import Api, User, codes

pytestmark = pytest.mark.anyio
PROJECT = "sampleproject"


async def put(api: Api, user: User, path: str, body: dict[str, object]) -> httpx.Response:
    return await api.http.put(f"/api/v1{path}", json=body, headers=user.auth)


async def owner(api: Api) -> User:
    user = await api.user("alice", two_factor=True)
    created = await api.post("/projects", user.session, {"name": PROJECT})
    assert created.status_code == 201, created.text
    return user


@pytest.mark.parametrize(
    "projects",
    [pytest.param([PROJECT], id="scoped"), pytest.param(["other", "SampleProject"], id="among")],
)
async def test_a_token_for_a_trusted_only_project_is_refused(api: Api, projects: list[str]) -> None:
    alice = await owner(api)
    await api.post("/projects", alice.session, {"name": "other"})
    path = f"/projects/{PROJECT}/trusted-publishing-only"
    assert (await put(api, alice, path, {"enabled": True})).status_code == 200

    refused = await api.post("/tokens", alice.session, {"name": "ci", "projects": projects})

    assert (refused.status_code, codes(refused)) == (403, ["trusted-publishing-only"])
    assert "sampleproject" in refused.json()["errors"][0]["description"]
    assert (await api.get("/tokens", alice.session)).json() == {"api_tokens": []}
    # A token for all my projects may be made; the gateway refuses it for this one.
    assert (await api.post("/tokens", alice.session, {"name": "all"})).status_code == 201


async def test_the_staging_setting_stages_api_tokens_unless_told_not_to(api: Api) -> None:
    alice = await owner(api)
    path = f"/projects/{PROJECT}/staging"
    assert (await api.get(path, alice.session)).json()["stage_api_tokens"] is True
    on = await put(api, alice, path, {"enabled": True})
    assert on.json()["stage_api_tokens"] is True  # left out: on
    off = await put(api, alice, path, {"enabled": True, "stage_api_tokens": False})
    assert off.status_code == 200, off.text
    assert off.json()["stage_api_tokens"] is False
    assert (await api.get(path, alice.session)).json()["stage_api_tokens"] is False
    bad = await put(api, alice, path, {"enabled": True, "stage_api_tokens": "no"})
    assert (bad.status_code, codes(bad)) == (400, ["invalid-payload"])
    assert (await api.get(path, alice.session)).json()["stage_api_tokens"] is False
