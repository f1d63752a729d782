"""Text UTF-8 cannot carry, at every surface that reads text from a request (issue 21, finding 4).

A JSON escape for a lone surrogate (`"\\ud800"`), the same code point sent as
raw bytes (`\\xed\\xa0\\x80`, which Python's json decodes with surrogatepass),
and their percent-encoded form in a URL-encoded body are no text: any of them
reaching the account layer, SQL or a log line used to be a 500. Every reader
refuses them whole, in its surface's own error format, for every field, key
and nested value, and writes nothing. A surrogate *pair* is one valid code
point and is accepted as text.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from api.api_helpers import PASSWORD, Api
from gateway.gatewaykit import PROJECT, Registry, basic, form, mint, wheel
from web.web_helpers import Page

from service.minting.keys import SigningKeys

pytestmark = pytest.mark.anyio

# Bytes as they appear inside a JSON string literal.
LONE: dict[str, bytes] = {
    "high-surrogate": b"\\ud800",
    "low-surrogate": b"\\udc00",
    "pair-reversed": b"\\udc00\\ud800",
    "inside-text": b"abc\\udfffdef",
    "raw-utf8-surrogate": b"\xed\xa0\x80",
}
PAIR = b"\\ud83d\\ude00"  # U+1F600, escaped as a pair: valid
EMOJI = "\U0001f600"

# Bytes as they appear in a URL-encoded form value.
FORM_BAD: dict[str, bytes] = {
    "surrogate-percent": b"%ED%A0%80",
    "low-surrogate-percent": b"x%ED%B0%80y",
    "overlong-slash": b"%C0%AF",
    "lone-continuation": b"%80",
    "invalid-byte-percent": b"%FF",
    "raw-invalid-byte": b"\xff",
    "raw-utf8-surrogate": b"\xed\xa0\x80",
}
FORM_PAIR = b"%F0%9F%98%80"
FORM_MEDIA = {"Content-Type": "application/x-www-form-urlencoded"}

# Raw field bytes in a multipart part.
MULTIPART_BAD: dict[str, bytes] = {
    "utf8-surrogate": b"\xed\xa0\x80",
    "invalid-byte": b"ok \xff",
    "overlong-slash": b"\xc0\xaf",
    "truncated-sequence": b"\xe2\x82",
}


def _json(template: bytes, bad: bytes) -> bytes:
    return template.replace(b"@", bad)


LOGIN_BODIES: dict[str, bytes] = {
    "username": b'{"username": "@", "password": "pw", "bearer": true}',
    "password": b'{"username": "alice", "password": "@", "bearer": true}',
    "object-key": b'{"username": "alice", "password": "pw", "@": 1}',
    "nested-array": b'{"username": "alice", "password": "pw", "x": [1, ["@"]]}',
    "nested-object-key": b'{"username": "alice", "password": "pw", "x": {"y": {"@": 0}}}',
}
REGISTER_BODIES: dict[str, bytes] = {
    "password": b'{"username": "alice", "email": "alice@example.org", "password": "@"}',
    "email": b'{"username": "alice", "email": "a@", "password": "' + PASSWORD.encode() + b'"}',
    "object-key": (
        b'{"username": "alice", "email": "alice@example.org", "password": "'
        + PASSWORD.encode()
        + b'", "@": true}'
    ),
}


def _table(bodies: dict[str, bytes]) -> list[Any]:
    return [
        pytest.param(template, bad, id=f"{where}-{name}")
        for where, template in bodies.items()
        for name, bad in LONE.items()
    ]


def _codes(response: httpx.Response) -> list[str]:
    return [error["code"] for error in response.json()["errors"]]


async def _post_json(client: httpx.AsyncClient, path: str, body: bytes, **kw: Any) -> Any:
    headers = {"Content-Type": "application/json", **kw.pop("headers", {})}
    return await client.post(path, content=body, headers=headers, **kw)


# /api/v1: the shared JSON reader, so every route; login and register stand for them.


@pytest.mark.parametrize(("template", "bad"), _table(LOGIN_BODIES))
async def test_api_login_refuses_text_utf8_cannot_carry(
    template: bytes, bad: bytes, api: Api
) -> None:
    assert (await api.register("alice", "pw-" + PASSWORD)).status_code == 201
    response = await _post_json(api.http, "/api/v1/login", _json(template, bad))
    assert response.status_code == 400, response.text
    assert _codes(response) == ["invalid-payload"]


@pytest.mark.parametrize(("template", "bad"), _table(REGISTER_BODIES))
async def test_api_register_refuses_text_utf8_cannot_carry_and_writes_nothing(
    template: bytes, bad: bytes, api: Api
) -> None:
    response = await _post_json(api.http, "/api/v1/register", _json(template, bad))
    assert response.status_code == 400, response.text
    assert _codes(response) == ["invalid-payload"]
    # Nothing was written: the name is still free.
    assert (await api.register("alice")).status_code == 201


async def test_api_accepts_a_surrogate_pair_as_text(api: Api) -> None:
    body = b'{"username": "alice", "email": "alice@example.org", "password": "' + PASSWORD.encode()
    response = await _post_json(api.http, "/api/v1/register", body + b" " + PAIR + b'"}')
    assert response.status_code == 201, response.text
    assert (await api.login("alice", f"{PASSWORD} {EMOJI}")).status_code == 200


# /_/oidc/mint-token: PyPI's payload and status (422 for every invalid-payload).

MINT_BODIES: dict[str, bytes] = {
    "token": b'{"token": "@"}',
    "object-key": b'{"token": "a.b.c", "@": 1}',
    "nested": b'{"token": "a.b.c", "x": ["@"]}',
}


@pytest.mark.parametrize("path", ["/_/oidc/mint-token", "/_/oidc/github/mint-token"])
@pytest.mark.parametrize(("template", "bad"), _table(MINT_BODIES))
async def test_mint_token_refuses_text_utf8_cannot_carry(
    template: bytes, bad: bytes, path: str, service: httpx.AsyncClient
) -> None:
    response = await _post_json(service, path, _json(template, bad))
    assert response.status_code == 422, response.text
    assert response.json()["message"] == "Token request failed"
    assert _codes(response) == ["invalid-payload"]


def _segment(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


GITHUB_ISS = b'"iss": "https://token.actions.githubusercontent.com"'
TOKEN_PARTS: dict[str, tuple[bytes, bytes]] = {
    "header-kid": (b'{"alg": "RS256", "kid": "@"}', b"{" + GITHUB_ISS + b"}"),
    "header-key": (b'{"alg": "RS256", "kid": "k", "@": 1}', b"{" + GITHUB_ISS + b"}"),
    "claim-iss": (b'{"alg": "RS256", "kid": "k"}', b'{"iss": "@"}'),
    "claim-sub": (b'{"alg": "RS256", "kid": "k"}', b"{" + GITHUB_ISS + b', "sub": "@"}'),
}


@pytest.mark.parametrize(
    ("header", "claims", "bad"),
    [
        pytest.param(header, claims, bad, id=f"{where}-{name}")
        for where, (header, claims) in TOKEN_PARTS.items()
        for name, bad in LONE.items()
    ],
)
async def test_a_token_whose_json_is_not_text_is_an_invalid_token(
    header: bytes, claims: bytes, bad: bytes, service: httpx.AsyncClient
) -> None:
    # The token itself is ASCII; its decoded header and claims are JSON too. Refused at
    # parsing: no key is fetched for it, nothing downstream sees the claim.
    parts = (_json(header, bad), _json(claims, bad), b"signature")
    token = ".".join(_segment(part) for part in parts)
    response = await service.post("/_/oidc/mint-token", json={"token": token})
    assert response.status_code == 422, response.text
    assert _codes(response) == ["invalid-token"]


async def test_mint_token_reads_a_surrogate_pair_as_text(service: httpx.AsyncClient) -> None:
    response = await _post_json(service, "/_/oidc/mint-token", b'{"token": "' + PAIR + b'"}')
    assert response.status_code == 422, response.text
    assert _codes(response) == ["invalid-token"]  # text, read; not a token


# /oauth/*: RFC 6749's error format.

OAUTH_FORMS: dict[str, tuple[str, bytes]] = {
    "introspect-token": ("/oauth/introspect", b"token=@"),
    "revoke-token": ("/oauth/revoke", b"token=@"),
    "revoke-hint": ("/oauth/revoke", b"token=x&token_type_hint=@"),
    "exchange-subject": (
        "/oauth/token",
        b"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange"
        b"&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt&subject_token=@",
    ),
    "exchange-key": ("/oauth/token", b"@=1&grant_type=x"),
}


@pytest.mark.parametrize(
    ("path", "template", "bad"),
    [
        pytest.param(path, template, bad, id=f"{where}-{name}")
        for where, (path, template) in OAUTH_FORMS.items()
        for name, bad in FORM_BAD.items()
    ],
)
async def test_oauth_refuses_form_text_that_is_not_utf8(
    path: str, template: bytes, bad: bytes, service: httpx.AsyncClient, oauth_auth: Any
) -> None:
    response = await service.post(
        path, content=template.replace(b"@", bad), headers={**FORM_MEDIA, **oauth_auth}
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"


async def test_oauth_reads_a_surrogate_pair_as_text(
    service: httpx.AsyncClient, oauth_auth: Any
) -> None:
    response = await service.post(
        "/oauth/introspect", content=b"token=" + FORM_PAIR, headers={**FORM_MEDIA, **oauth_auth}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"active": False}


# /_/secret-scanning/github: the body is parsed only once GitHub's signature holds.

SCAN_BODIES: dict[str, bytes] = {
    "token": b'[{"token": "@", "type": "t", "url": "", "source": "content"}]',
    "url": b'[{"token": "mgapi_x", "type": "t", "url": "@", "source": "content"}]',
    "object-key": b'[{"token": "mgapi_x", "@": ""}]',
    "second-match": b'[{"token": "a"}, {"token": "b", "source": "@"}]',
}


@pytest.mark.parametrize(("template", "bad"), _table(SCAN_BODIES))
async def test_secret_scanning_refuses_text_utf8_cannot_carry(
    template: bytes, bad: bytes, service: httpx.AsyncClient, github_signer: Any
) -> None:
    body = _json(template, bad)
    response = await service.post(
        "/_/secret-scanning/github", content=body, headers=github_signer.sign(body)
    )
    assert response.status_code == 400, response.text
    assert _codes(response) == ["invalid-payload"]


async def test_secret_scanning_reads_a_surrogate_pair_as_text(
    service: httpx.AsyncClient, github_signer: Any
) -> None:
    body = b'[{"token": "mintgate_' + PAIR + b'", "type": "t", "url": "", "source": "content"}]'
    response = await service.post(
        "/_/secret-scanning/github", content=body, headers=github_signer.sign(body)
    )
    assert response.status_code == 200, response.text
    assert response.json()[0]["label"] == "false_positive"


# /web: the HTML forms.

WEB_FORMS: dict[str, tuple[str, bytes]] = {
    "login-username": ("/login", b"username=@&password=pw"),
    "login-password": ("/login", b"username=alice&password=@"),
    "signup-email": ("/signup", b"username=bob&email=@&password=" + PASSWORD.encode()),
    "signup-password": ("/signup", b"username=bob&email=bob%40example.org&password=@"),
    "field-name": ("/signup", b"@=1&username=bob&email=bob%40example.org&password=pw"),
}


async def _web_post(page: Page, path: str, body: bytes) -> httpx.Response:
    await page.get(path)
    csrf = b"&csrf_token=" + page.token().encode()
    return await page.http.post(f"/web{path}", content=body + csrf, headers=FORM_MEDIA)


@pytest.mark.parametrize(
    ("path", "template", "bad"),
    [
        pytest.param(path, template, bad, id=f"{where}-{name}")
        for where, (path, template) in WEB_FORMS.items()
        for name, bad in FORM_BAD.items()
    ],
)
async def test_web_forms_refuse_text_that_is_not_utf8_and_write_nothing(
    path: str, template: bytes, bad: bytes, page: Page
) -> None:
    response = await _web_post(page, path, template.replace(b"@", bad))
    assert response.status_code == 400, response.text
    assert "invalid-form" in response.text
    # Nothing was written: the name the refused sign-up carried is still free.
    assert (await page.sign_up("bob")).status_code == 200


async def test_web_multipart_form_is_refused_not_parsed(page: Page) -> None:
    await page.get("/login")
    response = await page.http.post(
        "/web/login",
        data={"username": "alice", "csrf_token": page.token()},
        files={"password": ("p", b"\xed\xa0\x80", "text/plain")},
    )
    assert response.status_code == 400, response.text
    assert "invalid-form" in response.text


async def test_web_forms_read_a_surrogate_pair_as_text(page: Page) -> None:
    body = b"username=bob&email=bob%40example.org&password=" + PASSWORD.encode() + FORM_PAIR
    signed_up = await _web_post(page, "/signup", body)
    assert signed_up.status_code == 303, signed_up.text
    await page.http.post("/web/logout", content=b"", headers=FORM_MEDIA)
    page.http.cookies.clear()
    login = b"username=bob&password=" + PASSWORD.encode() + FORM_PAIR
    assert (await _web_post(page, "/login", login)).status_code == 303


# The upload gateway: twine's multipart form.


async def _upload(
    gateway: httpx.AsyncClient, signing: SigningKeys, field: str, value: bytes
) -> httpx.Response:
    fields: dict[str, Any] = {**form(), field: value}
    filename, data = wheel(PROJECT, "1.0.0")
    return await gateway.post(
        "/",
        data=fields,
        files={"content": (filename, data, "application/octet-stream")},
        headers=basic(mint(signing)),
    )


@pytest.mark.parametrize("field", ["summary", "name", "version", "description"])
@pytest.mark.parametrize("bad", list(MULTIPART_BAD.values()), ids=list(MULTIPART_BAD))
async def test_gateway_refuses_form_fields_that_are_not_utf8_and_forwards_nothing(
    field: str,
    bad: bytes,
    gateway: httpx.AsyncClient,
    signing: SigningKeys,
    registry: Registry,
) -> None:
    response = await _upload(gateway, signing, field, bad)
    assert response.status_code == 400, response.text
    assert response.text.startswith("invalid-payload: "), response.text
    assert field in response.text
    assert not registry.upload.called


async def test_gateway_forwards_a_four_byte_character_as_text(
    gateway: httpx.AsyncClient, signing: SigningKeys, registry: Registry
) -> None:
    response = await _upload(gateway, signing, "summary", f"a package {EMOJI}".encode())
    assert response.status_code == 200, response.text
    assert f"a package {EMOJI}".encode() in registry.upload.calls.last.request.content


def test_the_tables_hold_what_they_say() -> None:
    # Each "bad" JSON value really is no text once decoded; the pair really is one.
    for bad in LONE.values():
        decoded = json.loads(b'"' + bad + b'"')
        with pytest.raises(UnicodeEncodeError):
            decoded.encode("utf-8")
    assert json.loads(b'"' + PAIR + b'"') == EMOJI
