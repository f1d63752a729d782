"""POST /_/oidc/mint-token with arbitrary bytes, JSON and tokens: never a 5xx.

One app for the whole module, driven in process, with its issuer's keys on a
real loopback JWKS server (so a token naming the configured issuer really goes
through the key cache), and validly signed tokens whose claims are arbitrary.
Rate limits are off: the examples all come from one address.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from fakeissuer import GITHUB, ec_jwk, ec_key, github_claims
from hypothesis import event, example, given
from hypothesis import strategies as st
from propkit import CRYPTO, FAST, json_values, jwt_shaped
from servers import LOOPBACK, SAMPLE_PUBLISHERS, Request, json_server

from service.app import create_app
from service.settings import Settings

KEY = ec_key()
KID = "es-1"
PATHS = ("/_/oidc/mint-token", "/_/oidc/github/mint-token")
CODES = {"invalid-payload", "invalid-token", "invalid-publisher", "invalid-reuse-token"}


class InProcess:
    """An app with its lifespan entered, driven from sync hypothesis tests on its own loop."""

    def __init__(self, settings: Settings) -> None:
        self._runner = asyncio.Runner()
        self._app = create_app(settings)
        self._lifespan = self._app.router.lifespan_context(self._app)
        self._runner.run(self._lifespan.__aenter__())
        self._client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self._app), base_url="http://test"
        )

    def post(self, path: str, content: bytes) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        return self._runner.run(self._client.post(path, content=content, headers=headers))

    def close(self) -> None:
        self._runner.run(self._client.aclose())
        self._runner.run(self._lifespan.__aexit__(None, None, None))
        self._runner.close()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcess]:
    def handle(request: Request) -> tuple[int, object]:
        return 200, {"keys": [{**ec_jwk(KEY, KID), "use": "sig", "alg": "ES256"}]}

    directory = tmp_path_factory.mktemp("payload")
    with json_server(handle) as keys:
        issuers = directory / "issuers.toml"
        issuers.write_text(
            f'[[issuer]]\nurl = "{GITHUB}"\nprovider = "github"\nalgorithms = ["ES256"]\n'
            f'jwks_uri = "{keys.url}/jwks"\njwks_hosts = ["{LOOPBACK}"]\n'
        )
        publishers = directory / "publishers.toml"
        publishers.write_text(SAMPLE_PUBLISHERS)
        limits = {n: None for n in Settings.__dataclass_fields__ if n.startswith("rate_limit")}
        settings = Settings(
            issuers_file=issuers,
            publishers_file=publishers,
            jwks_allow_loopback_http=True,
            **limits,  # type: ignore[arg-type]
        )
        app = InProcess(settings)
        try:
            yield app
        finally:
            app.close()


def check(response: httpx.Response) -> None:
    assert response.status_code in (200, 422), (response.status_code, response.text)
    body = response.json()
    event("minted" if response.status_code == 200 else body["errors"][0]["code"])
    if response.status_code == 200:
        assert body["success"] is True
        assert isinstance(body["token"], str)
    else:
        assert body["errors"][0]["code"] in CODES, body
        assert "token" not in body


@st.composite
def signed_with_arbitrary_claims(draw: st.DrawFn) -> str:
    """Signed with the configured issuer's key: every check past the signature sees these."""
    claims: dict[str, Any] = github_claims(now=int(time.time()))
    for name in draw(st.sets(st.sampled_from(sorted(claims)), max_size=4)):
        del claims[name]
    names = st.sampled_from(sorted(github_claims())) | st.text(max_size=8)
    claims.update(draw(st.dictionaries(names, json_values, max_size=4)))
    # PyJWS, not jwt.encode: the latter refuses to sign, say, a non-string iss; an issuer may not.
    return jwt.PyJWS().encode(
        json.dumps(claims).encode(), KEY, algorithm="ES256", headers={"kid": KID}
    )


tokens = st.text() | jwt_shaped(issuers=(GITHUB,)) | json_values


@FAST
@given(st.sampled_from(PATHS), st.binary(max_size=512))
@example(PATHS[0], b"")
@example(PATHS[0], b"[" * 100_000)
@example(PATHS[0], b'{"token": "' + b"a" * 70_000 + b'"}')
@example(PATHS[0], b'{"token": "\\ud800"}')
@example(PATHS[0], b"\xff\xfe{\x00}\x00")
def test_arbitrary_bytes_never_get_a_5xx(service: InProcess, path: str, body: bytes) -> None:
    check(service.post(path, body))


@FAST
@given(
    st.sampled_from(PATHS),
    st.fixed_dictionaries({"token": tokens}, optional={"extra": json_values})
    | st.dictionaries(st.text(max_size=5), json_values, max_size=3)
    | json_values,
)
def test_arbitrary_json_never_gets_a_5xx(service: InProcess, path: str, document: Any) -> None:
    check(service.post(path, json.dumps(document).encode()))


@CRYPTO
@given(st.sampled_from(PATHS), signed_with_arbitrary_claims())
def test_validly_signed_tokens_with_arbitrary_claims_never_get_a_5xx(
    service: InProcess, path: str, token: str
) -> None:
    check(service.post(path, json.dumps({"token": token}).encode()))


def test_the_fixture_really_mints(service: InProcess) -> None:
    """Guards the properties above: a good token through the same app is minted."""
    token = jwt.encode(github_claims(now=int(time.time())), KEY, "ES256", headers={"kid": KID})
    response = service.post(PATHS[0], json.dumps({"token": token}).encode())
    assert response.status_code == 200, response.text
