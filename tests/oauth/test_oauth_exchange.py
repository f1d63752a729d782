"""RFC 8693 token exchange: a token narrowed to fewer projects or a shorter life, never more."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.anyio

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"


def issued(response: Any) -> str:
    body = response.json()
    assert response.status_code == 200, body
    assert body["issued_token_type"] == JWT_TYPE
    assert body["token_type"] == "N_A"
    assert response.headers["cache-control"] == "no-store"
    token: str = body["access_token"]
    return token


async def test_narrowing_to_one_project_makes_a_new_token_for_that_project(oauth: Any) -> None:
    parent = oauth.mint(["sampleproject", "sample-plugin"])
    async with oauth.app() as client:
        response = await oauth.exchange(client, parent, scope="project:Sample.Plugin")
        child = issued(response)
        seen = (await oauth.introspect(client, child)).json()
    was, now = oauth.claims(parent), oauth.claims(child)
    assert now["projects"] == ["sample-plugin"]
    assert now["narrowed_from"] == [was["jti"]]
    assert now["jti"] != was["jti"]
    for same in ("iss", "aud", "sub", "provider", "publishers", "provenance", "exp"):
        assert now[same] == was[same], same
    assert response.json()["expires_in"] == 900
    assert seen["active"] is True
    assert seen["projects"] == ["sample-plugin"]


async def test_without_scope_or_lifetime_the_copy_keeps_both(oauth: Any) -> None:
    parent = oauth.mint(["a", "b"])
    async with oauth.app() as client:
        child = issued(await oauth.exchange(client, parent))
    assert oauth.claims(child)["projects"] == ["a", "b"]
    assert oauth.claims(child)["exp"] == oauth.claims(parent)["exp"]


async def test_shorter_lifetime_is_granted(oauth: Any) -> None:
    parent = oauth.mint(ttl=900)
    async with oauth.app() as client:
        oauth.clock.advance(100)
        response = await oauth.exchange(client, parent, expires_in="60")
    child = issued(response)
    assert response.json()["expires_in"] == 60
    assert oauth.claims(child)["exp"] == int(oauth.clock.now) + 60
    assert oauth.claims(child)["iat"] == int(oauth.clock.now)


async def test_longer_lifetime_is_capped_at_the_subject_tokens_expiry(oauth: Any) -> None:
    # Capped, not refused: the answer's expires_in tells the client what it got.
    parent = oauth.mint(ttl=900)
    async with oauth.app() as client:
        oauth.clock.advance(300)
        response = await oauth.exchange(client, parent, expires_in="86400")
    assert response.json()["expires_in"] == 600
    assert oauth.claims(issued(response))["exp"] == oauth.claims(parent)["exp"]


@pytest.mark.parametrize(
    ("scope", "description"),
    [
        pytest.param("project:sampleproject project:other", "other", id="superset"),
        pytest.param("project:unknown", "unknown", id="unknown-project"),
        pytest.param("project:sample_project", "sample-project", id="near-miss-name"),
        pytest.param("sampleproject", "project:<name>", id="no-prefix"),
        pytest.param("project:-bad-", "not a project name", id="invalid-name"),
        pytest.param("project:", "not a project name", id="empty-name"),
        pytest.param("", "at least one", id="empty"),
        pytest.param("upload", "at least one", id="only-upload"),
        pytest.param("admin", "project:<name>", id="other-scope"),
    ],
)
async def test_scope_that_is_not_a_subset_is_invalid_scope(
    oauth: Any, scope: str, description: str
) -> None:
    parent = oauth.mint(["sampleproject", "sample-plugin"])
    async with oauth.app() as client:
        response = await oauth.exchange(client, parent, scope=scope)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"
    assert description in response.json()["error_description"]
    assert "access_token" not in response.json()


@pytest.mark.parametrize(
    ("change", "error"),
    [
        pytest.param({"grant_type": None}, "invalid_request", id="no-grant-type"),
        pytest.param(
            {"grant_type": "client_credentials"}, "unsupported_grant_type", id="other-grant"
        ),
        pytest.param({"subject_token": None}, "invalid_request", id="no-subject-token"),
        pytest.param({"subject_token_type": None}, "invalid_request", id="no-subject-type"),
        pytest.param(
            {"subject_token_type": "urn:ietf:params:oauth:token-type:access_token"},
            "invalid_request",
            id="other-subject-type",
        ),
        pytest.param(
            {"requested_token_type": "urn:ietf:params:oauth:token-type:refresh_token"},
            "invalid_request",
            id="refresh-token-requested",
        ),
        pytest.param({"actor_token": "x"}, "invalid_request", id="actor-token"),
        pytest.param({"audience": "https://evil.example"}, "invalid_target", id="audience"),
        pytest.param({"resource": "https://evil.example"}, "invalid_target", id="resource"),
        pytest.param({"expires_in": "0"}, "invalid_request", id="zero-lifetime"),
        pytest.param({"expires_in": "-60"}, "invalid_request", id="negative-lifetime"),
        pytest.param({"expires_in": "1e3"}, "invalid_request", id="float-lifetime"),
        pytest.param({"expires_in": "9" * 40}, "invalid_request", id="huge-lifetime"),
        pytest.param({"expires_in": "\u0663\u0660"}, "invalid_request", id="arabic-digits"),
    ],
)
async def test_malformed_exchange_is_refused_with_its_rfc_error(
    oauth: Any, change: dict[str, str | None], error: str
) -> None:
    data = {
        "grant_type": TOKEN_EXCHANGE,
        "subject_token": oauth.mint(),
        "subject_token_type": JWT_TYPE,
    }
    for name, value in change.items():
        if value is None:
            data.pop(name)
        else:
            data[name] = value
    async with oauth.app() as client:
        response = await client.post("/oauth/token", data=data)
    assert response.status_code == 400
    assert response.json()["error"] == error


async def test_repeated_parameter_and_json_body_are_invalid_request(oauth: Any) -> None:
    form = "application/x-www-form-urlencoded"
    async with oauth.app() as client:
        twice = await client.post(
            "/oauth/token",
            content=f"grant_type={TOKEN_EXCHANGE}&scope=project:a&scope=project:b".encode(),
            headers={"Content-Type": form},
        )
        json_body = await client.post("/oauth/token", json={"grant_type": TOKEN_EXCHANGE})
        too_big = await client.post(
            "/oauth/token", content=b"a=" + b"x" * 20_000, headers={"Content-Type": form}
        )
    for response in (twice, json_body, too_big):
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda k: k.mint(ttl=60), id="expired"),
        pytest.param(lambda k: k.mint(audience="elsewhere"), id="other-audience"),
        pytest.param(lambda k: k.mint(issuer="https://evil.example"), id="other-issuer"),
        pytest.param(lambda k: "garbage", id="garbage"),
    ],
)
async def test_subject_token_that_does_not_verify_is_invalid_grant(oauth: Any, make: Any) -> None:
    token = make(oauth)
    async with oauth.app() as client:
        oauth.clock.advance(60)
        response = await oauth.exchange(client, token)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert token not in response.text


async def test_revoked_subject_token_is_invalid_grant(oauth: Any) -> None:
    parent = oauth.mint()
    async with oauth.app() as client:
        await oauth.revoke(client, parent)
        response = await oauth.exchange(client, parent)
    assert response.json()["error"] == "invalid_grant"
    assert "revoked" in response.json()["error_description"]


async def test_revoking_the_parent_kills_every_narrowed_descendant(oauth: Any) -> None:
    parent = oauth.mint(["a", "b", "c"])
    async with oauth.app() as client:
        child = issued(await oauth.exchange(client, parent, scope="project:a project:b"))
        grandchild = issued(await oauth.exchange(client, child, scope="project:a"))
        sibling = oauth.mint(["a"])
        assert (await oauth.revoke(client, parent)).status_code == 200
        assert not await oauth.active(client, child)
        assert not await oauth.active(client, grandchild)
        assert await oauth.active(client, sibling)
    assert oauth.claims(grandchild)["narrowed_from"] == [
        oauth.claims(parent)["jti"],
        oauth.claims(child)["jti"],
    ]


async def test_revoking_a_narrowed_token_leaves_its_parent_alone(oauth: Any) -> None:
    parent = oauth.mint()
    async with oauth.app() as client:
        child = issued(await oauth.exchange(client, parent, scope="project:sampleproject"))
        await oauth.revoke(client, child)
        assert not await oauth.active(client, child)
        assert await oauth.active(client, parent)


async def test_narrowing_depth_is_bounded(oauth: Any) -> None:
    # Each step adds a jti every verification checks; the chain cannot grow without end.
    token = oauth.mint()
    async with oauth.app() as client:
        for _ in range(4):
            token = issued(await oauth.exchange(client, token))
        response = await oauth.exchange(client, token)
    assert len(oauth.claims(token)["narrowed_from"]) == 4
    assert response.json()["error"] == "invalid_grant"
