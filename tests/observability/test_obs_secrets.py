"""No token, secret or password in any log record, whatever the service is asked.

Every record any logger emits (DEBUG and up) during mints, refusals of hostile
tokens, OAuth calls with right and wrong client secrets, and gateway uploads is
captured and scanned: the message, its arguments, every event field, and the
JSON line `mintgate serve` would write.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import respx
from fakeissuer import GITHUB, Clock, FakeIssuer, github_claims
from obskit import captured_logs

from service.gateway import GatewaySettings, create_gateway
from service.minting.keys import generate_pem

pytestmark = pytest.mark.anyio

SERVICE = "http://127.0.0.1:8000"
REGISTRY = "https://registry.example/legacy/"
BACKEND_PASSWORD = "backend-pa55word-never-logged"
CLIENT_SECRET = "oauth-client-secret-never-logged-0123"
WRONG_SECRET = "wrong-guess-never-logged-456789"
METRICS_TOKEN = "metrics-token-never-logged-abcdef"
SECRETS = (BACKEND_PASSWORD, CLIENT_SECRET, WRONG_SECRET, METRICS_TOKEN)

JWT_SHAPE = re.compile(r"eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*")
MINTED_SHAPE = re.compile(r"mintgate_")


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def hostile_tokens(github: FakeIssuer) -> dict[str, Any]:
    claims = github_claims()
    header = base64.urlsafe_b64encode(b'{"alg":"none","kid":"key-1"}').rstrip(b"=").decode()
    body = base64.urlsafe_b64encode(jwt.api_jws.json.dumps(claims).encode()).rstrip(b"=")
    return {
        "alg-none": f"{header}.{body.decode()}.",
        "wrong-aud": github.sign(github_claims(aud="pypi")),
        "expired": github.sign(github_claims(iat=1, nbf=1, exp=2)),
        "unknown-kid": github.sign(github_claims(), kid="never-seen"),
        "forged": FakeIssuer(GITHUB, key_name="attacker").sign(github_claims()),
        "wrong-repository": github.sign(github_claims(repository="evil/sampleproject")),
        "truncated": github.sign(github_claims())[:-10],
        "huge": github.sign(github_claims(padding="A" * 9000)),
        "not-a-string": {"nested": github.sign(github_claims())},
    }


async def test_no_token_secret_or_password_reaches_any_log_record(
    make_client: Any,
    clock: Clock,
    github: FakeIssuer,
    issuers_mock: respx.MockRouter,
    tmp_path: Path,
) -> None:
    pem = tmp_path / "signing.pem"
    pem.write_bytes(generate_pem())
    clients = tmp_path / "clients.toml"
    digest = hashlib.sha256(CLIENT_SECRET.encode()).hexdigest()
    clients.write_text(
        f'[[client]]\nid = "registry"\nsecret_sha256 = "{digest}"\n'
        'scopes = ["introspect", "revoke"]\n'
    )
    seen: list[str] = []  # every credential that crossed the wire, to scan for
    with captured_logs() as logs:
        async with make_client(
            signing_key_files=(pem,), oauth_clients_file=clients, metrics_token=METRICS_TOKEN
        ) as service:
            oidc = github.sign(github_claims())
            seen.append(oidc)
            minted = (await service.post("/_/oidc/mint-token", json={"token": oidc})).json()
            token: str = minted["token"]
            seen.append(token)
            replayed = await service.post("/_/oidc/mint-token", json={"token": oidc})
            assert replayed.status_code == 422
            for name, hostile in hostile_tokens(github).items():
                seen.append(str(hostile))
                refused = await service.post("/_/oidc/mint-token", json={"token": hostile})
                assert refused.status_code == 422, (name, refused.text)
            # A minted token presented where an OIDC token belongs.
            assert (await service.post("/_/oidc/mint-token", json={"token": token})).is_error

            registry = basic("registry", CLIENT_SECRET)
            introspected = await service.post(
                "/oauth/introspect", data={"token": token}, headers=registry
            )
            assert introspected.json()["active"] is True
            wrong = await service.post(
                "/oauth/introspect", data={"token": token}, headers=basic("registry", WRONG_SECRET)
            )
            assert wrong.status_code == 401
            narrowed = await service.post(
                "/oauth/token",
                data={
                    "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
                    "subject_token": token,
                    "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
                    "scope": "project:sampleproject",
                },
            )
            assert narrowed.status_code == 200, narrowed.text
            seen.append(narrowed.json()["access_token"])
            assert (await service.get("/metrics")).status_code == 401
            scraped = await service.get(
                "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
            )
            assert scraped.status_code == 200
            jwks = (await service.get("/.well-known/jwks.json")).json()

            issuers_mock.get(f"{SERVICE}/.well-known/jwks.json").respond(json=jwks)
            issuers_mock.post(REGISTRY).respond(200, text="stored\n")
            await upload_through_the_gateway(token, narrowed.json()["access_token"], clock)

            revoked = await service.post("/oauth/revoke", data={"token": token}, headers=registry)
            assert revoked.status_code == 200

    # The capture saw the flows (an empty capture would prove nothing).
    logged = {record.name for record in logs.records}
    assert {"service.exchange", "service.oauth.authority", "service.gateway.app"} <= logged
    events = [e.get("event") for e in logs.events()]
    assert events.count("minted") == 1
    # Every hostile token but the non-string one (refused as a payload, before the exchange),
    # the replay, and the minted token presented as an OIDC token.
    assert events.count("mint-refused") == len(hostile_tokens(github)) - 1 + 2
    for record, line in zip(logs.records, logs.lines, strict=True):
        texts = [record.getMessage(), repr(record.args), repr(vars(record)), line]
        for text in texts:
            assert not JWT_SHAPE.search(text), (record.name, text[:300])
            assert not MINTED_SHAPE.search(text), (record.name, text[:300])
            for secret in (*SECRETS, *seen):
                # The signature part of a token is enough to find a leak of it, whole or cut.
                needle = secret[-24:] if len(secret) > 40 else secret
                assert needle not in text, (record.name, text[:300])


async def upload_through_the_gateway(token: str, narrowed: str, clock: Clock) -> None:
    settings = GatewaySettings(
        backend_url=REGISTRY,
        mintgate_url=SERVICE,
        backend_username="gateway",
        backend_password=BACKEND_PASSWORD,
        allow_loopback_http=True,
    )
    async with httpx.AsyncClient() as outgoing:
        app = create_gateway(settings, client=outgoing, clock=clock)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gw") as gateway:
                for credential, project, status in [
                    (token, "sampleproject", 200),
                    (narrowed, "sample-plugin", 403),  # narrowed to sampleproject only
                    (token + "x", "sampleproject", 403),
                    ("mintgate_not-a-real-token-at-all", "sampleproject", 403),
                ]:
                    response = await gateway.post(
                        "/",
                        data={":action": "file_upload", "name": project, "version": "1.0.0"},
                        files={
                            "content": (
                                f"{project.replace('-', '_')}-1.0.0-py3-none-any.whl",
                                b"PK\x03\x04",
                            )
                        },
                        headers=basic("__token__", credential),
                    )
                    assert response.status_code == status, (project, response.text)
