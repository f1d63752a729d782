"""RFC 7662 introspection and RFC 7009 revocation over HTTP, with client authentication."""

from __future__ import annotations

import base64
import hashlib
import logging
from pathlib import Path
from typing import Any

import pytest
from fakeissuer import FakeIssuer, github_claims

from service.minting.keys import ephemeral_signing_keys
from service.minting.tokens import serialize, unwrap

pytestmark = pytest.mark.anyio


async def test_valid_token_is_active_with_its_claims(oauth: Any) -> None:
    token = oauth.mint()
    async with oauth.app() as client:
        response = await oauth.introspect(client, token)
    body = response.json()
    claims = oauth.claims(token)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert body == {
        "active": True,
        "scope": "upload",
        "sub": claims["sub"],
        "aud": "mintgate-upload",
        "iss": oauth.service,
        "exp": claims["exp"],
        "iat": claims["iat"],
        "nbf": claims["nbf"],
        "jti": claims["jti"],
        "token_type": "mintgate",
        "projects": ["sample-plugin", "sampleproject"],
    }


async def test_token_from_a_real_mint_is_active(
    oauth: Any, make_client: Any, issuers_mock: Any, github: FakeIssuer
) -> None:
    async with oauth.app() as client:
        minted = await client.post(
            "/_/oidc/mint-token", json={"token": github.sign(github_claims())}
        )
        body = (await oauth.introspect(client, minted.json()["token"])).json()
    assert body["active"] is True
    assert body["projects"] == ["sample-plugin", "sampleproject"]


def tampered(oauth: Any) -> str:
    """Payload changed to claim another project, checksum recomputed: only the signature fails."""
    header, _, signature = str(unwrap(oauth.mint(["other"]))).split(".")
    other = str(unwrap(oauth.mint(["sampleproject"]))).split(".")[1]
    return serialize(f"{header}.{other}.{signature}")


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(tampered, id="tampered-payload"),
        pytest.param(lambda k: k.mint() + "x", id="bad-checksum"),
        pytest.param(lambda k: k.mint(keys=ephemeral_signing_keys()), id="unknown-key"),
        pytest.param(lambda k: k.mint(issuer="https://other-mintgate.example"), id="other-issuer"),
        pytest.param(
            lambda k: k.mint(keys=ephemeral_signing_keys(), issuer="https://evil.example"),
            id="other-issuers-own-key",
        ),
        pytest.param(lambda k: k.mint(audience="elsewhere"), id="other-audience"),
        pytest.param(lambda k: FakeIssuer("https://ci.example").sign(github_claims()), id="oidc"),
        pytest.param(lambda k: "hello", id="garbage"),
        pytest.param(lambda k: "mintgate_" + "A" * 4000, id="prefixed-garbage"),
    ],
)
async def test_anything_but_a_good_token_is_just_inactive(oauth: Any, make: Any) -> None:
    token = make(oauth)
    async with oauth.app() as client:
        response = await oauth.introspect(client, token)
    assert response.status_code == 200
    assert response.json() == {"active": False}


async def test_expired_token_is_inactive(oauth: Any) -> None:
    token = oauth.mint(ttl=900)
    async with oauth.app() as client:
        oauth.clock.advance(899)
        assert await oauth.active(client, token)
        oauth.clock.advance(1)  # no leeway: the service judges its own tokens by its own clock
        assert not await oauth.active(client, token)


async def test_revoked_token_is_inactive_and_revocation_is_logged_without_the_token(
    oauth: Any, caplog: pytest.LogCaptureFixture
) -> None:
    token = oauth.mint()
    caplog.set_level(logging.INFO, logger="service.oauth.authority")
    async with oauth.app() as client:
        revoked = await oauth.revoke(client, token)
        assert not await oauth.active(client, token)
    assert revoked.status_code == 200
    assert oauth.claims(token)["jti"] in caplog.text
    assert "client registry" in caplog.text
    assert unwrap(token) not in caplog.text
    assert token.split(".")[1] not in caplog.text


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("hello", id="garbage"),
        pytest.param("mintgate_" + "A" * 100, id="prefixed-garbage"),
    ],
)
async def test_revoking_an_unknown_token_is_not_an_error(oauth: Any, token: str) -> None:
    # RFC 7009 2.2: the client cannot act on the difference, so none is shown.
    async with oauth.app() as client:
        response = await client.post(
            "/oauth/revoke",
            data={"token": token, "token_type_hint": "access_token"},
            headers=oauth.registry,
        )
    assert response.status_code == 200


async def test_revoking_twice_and_revoking_an_expired_token_are_fine(oauth: Any) -> None:
    token, expiring = oauth.mint(), oauth.mint(ttl=60)
    async with oauth.app() as client:
        assert (await oauth.revoke(client, token)).status_code == 200
        assert (await oauth.revoke(client, token)).status_code == 200
        oauth.clock.advance(60)
        assert (await oauth.revoke(client, expiring)).status_code == 200


@pytest.mark.parametrize("path", ["/oauth/introspect", "/oauth/revoke"])
@pytest.mark.parametrize(
    ("body", "headers"),
    [
        pytest.param({}, {}, id="no-token"),
        pytest.param({"token": ""}, {}, id="empty-token"),
        pytest.param(None, {"Content-Type": "application/json"}, id="json"),
    ],
)
async def test_malformed_requests_are_invalid_request(
    oauth: Any, path: str, body: Any, headers: dict[str, str]
) -> None:
    async with oauth.app() as client:
        if body is None:
            response = await client.post(
                path, content=b'{"token": "x"}', headers={**oauth.registry, **headers}
            )
        else:
            response = await client.post(path, data=body, headers=oauth.registry)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_repeated_token_parameter_is_refused(oauth: Any) -> None:
    async with oauth.app() as client:
        response = await client.post(
            "/oauth/revoke",
            content=b"token=a&token=b",
            headers={**oauth.registry, "Content-Type": "application/x-www-form-urlencoded"},
        )
    assert response.json()["error"] == "invalid_request"


def basic(pair: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}


@pytest.mark.parametrize("path", ["/oauth/introspect", "/oauth/revoke"])
@pytest.mark.parametrize(
    "auth",
    [
        pytest.param({}, id="none"),
        pytest.param({"Authorization": "Basic"}, id="basic-without-credentials"),
        pytest.param({"Authorization": "Basic !!!not-base64"}, id="not-base64"),
        pytest.param({"Authorization": "Bearer abc"}, id="bearer"),
        pytest.param(basic("registry:wrong-secret"), id="wrong-secret"),
        pytest.param(basic("registry:"), id="empty-secret"),
        pytest.param(basic("stranger:s3cret-registry-0123456789abcdef"), id="unknown-client"),
        pytest.param(basic("registry"), id="no-colon"),
        pytest.param(basic("registry:S3CRET-REGISTRY-0123456789ABCDEF"), id="secret-case"),
    ],
)
async def test_unauthenticated_clients_get_401_invalid_client(
    oauth: Any, path: str, auth: dict[str, str]
) -> None:
    token = oauth.mint()
    async with oauth.app() as client:
        response = await client.post(path, data={"token": token}, headers=auth)
        still_active = await oauth.active(client, token)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic")
    assert still_active


@pytest.mark.parametrize(
    ("path", "client_id"),
    [("/oauth/introspect", "revoker"), ("/oauth/revoke", "auditor")],
)
async def test_client_without_the_scope_gets_403(oauth: Any, path: str, client_id: str) -> None:
    token = oauth.mint()
    async with oauth.app() as client:
        response = await client.post(path, data={"token": token}, headers=oauth.auth(client_id))
        still_active = await oauth.active(client, token)
    assert response.status_code == 403
    assert response.json()["error"] == "unauthorized_client"
    assert still_active


async def test_secret_sent_form_urlencoded_authenticates(oauth: Any, tmp_path: Path) -> None:
    # RFC 6749 2.3.1: id and secret are form-urlencoded before base64, so "a b" arrives "a+b".
    clients = tmp_path / "spaced.toml"
    digest = hashlib.sha256(b"odd secret:with colon").hexdigest()
    clients.write_text(
        f'[[client]]\nid = "odd id"\nsecret_sha256 = "{digest}"\nscopes = ["introspect"]\n'
    )
    async with oauth.app(oauth_clients_file=clients) as client:
        response = await oauth.introspect(
            client, oauth.mint(), auth=oauth.basic("odd+id", "odd+secret%3Awith+colon")
        )
    assert response.json()["active"] is True


async def test_without_a_clients_file_everyone_is_unauthenticated(oauth: Any) -> None:
    async with oauth.app(oauth_clients_file=None) as client:
        response = await oauth.introspect(client, oauth.mint())
    assert response.status_code == 401


async def test_metadata_advertises_the_oauth_endpoints(oauth: Any) -> None:
    async with oauth.app() as client:
        meta = (await client.get("/.well-known/oauth-authorization-server")).json()
    base = oauth.service
    assert meta["token_endpoint"] == f"{base}/oauth/token"
    assert meta["grant_types_supported"] == ["urn:ietf:params:oauth:grant-type:token-exchange"]
    assert meta["token_endpoint_auth_methods_supported"] == ["none"]
    assert meta["revocation_endpoint"] == f"{base}/oauth/revoke"
    assert meta["revocation_endpoint_auth_methods_supported"] == ["client_secret_basic"]
    assert meta["introspection_endpoint"] == f"{base}/oauth/introspect"
    assert meta["introspection_endpoint_auth_methods_supported"] == ["client_secret_basic"]
