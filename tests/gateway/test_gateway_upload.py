"""The upload gateway in process: minted tokens in, uploads forwarded or refused with a reason.

The gateway runs for real under httpx.ASGITransport; only its outgoing transport
is mocked (respx): mintgate's JWKS and the registry behind it. Every refusal
asserts the status, the sentence a person reads, and that nothing was forwarded.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from fakeissuer import Clock
from gatewaykit import (
    GATEWAY_AUTH,
    PROJECT,
    SERVICE,
    Gateway,
    Registry,
    basic,
    form,
    mint,
    upload,
    wheel,
)

from service.minting.keys import (
    SigningKeys,
    ephemeral_signing_keys,
    generate_pem,
    load_signing_keys,
)
from service.minting.tokens import serialize, unwrap
from service.revocation import RevocationUnavailable

pytestmark = pytest.mark.anyio


def tampered_checksum(token: str) -> str:
    return token[:-1] + ("x" if token[-1] != "x" else "y")


def tampered_signature(token: str) -> str:
    """Same claims, one signature character changed, checksum recomputed to match."""
    head, payload, signature = (unwrap(token) or "").split(".")
    flipped = ("B" if signature[0] == "A" else "A") + signature[1:]
    return serialize(f"{head}.{payload}.{flipped}")


def widened(token: str) -> str:
    """The claims rewritten to name one more project, the old signature kept."""
    head, payload, signature = (unwrap(token) or "").split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["projects"] = [PROJECT, "otherproject"]
    raw = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return serialize(f"{head}.{raw}.{signature}")


def jti(token: str) -> str:
    value: str = jwt.decode(unwrap(token) or "", options={"verify_signature": False})["jti"]
    return value


Request = Callable[[SigningKeys], dict[str, Any]]


@pytest.mark.parametrize(
    ("make", "advance", "status", "message"),
    [
        pytest.param(lambda s: {"token": None}, 0, 401, "credentials required", id="no-auth"),
        pytest.param(
            lambda s: {"token": None, "headers": {"Authorization": f"Bearer {mint(s)}"}},
            0,
            401,
            "credentials required",
            id="bearer-not-basic",
        ),
        pytest.param(
            lambda s: {"token": mint(s), "username": "octocat"},
            0,
            403,
            "username 'octocat' is not accepted",
            id="password-login",
        ),
        pytest.param(
            lambda s: {"token": mint(s), "project": "Other.Project"},
            0,
            403,
            "token is not valid for project 'other-project'",
            id="wrong-project",
        ),
        pytest.param(lambda s: {"token": mint(s)}, 900, 403, "token has expired", id="expired"),
        pytest.param(
            lambda s: {"token": tampered_checksum(mint(s))},
            0,
            403,
            "prefix or checksum is wrong",
            id="tampered-checksum",
        ),
        pytest.param(
            lambda s: {"token": tampered_signature(mint(s))},
            0,
            403,
            "signature does not verify",
            id="tampered-signature",
        ),
        pytest.param(
            lambda s: {"token": widened(mint(s)), "project": "otherproject"},
            0,
            403,
            "signature does not verify",
            id="projects-widened",
        ),
        pytest.param(
            lambda s: {"token": mint(ephemeral_signing_keys())},
            0,
            403,
            f"is not a key of {SERVICE}",
            id="signed-by-unpublished-key",
        ),
        pytest.param(
            lambda s: {"token": mint(s, audience="mintgate")},
            0,
            403,
            "aud: expected 'mintgate-upload'",
            id="wrong-audience",
        ),
        pytest.param(
            lambda s: {"token": mint(s, issuer="https://evil.example")},
            0,
            403,
            f"iss: expected '{SERVICE}'",
            id="wrong-issuer",
        ),
        pytest.param(
            lambda s: {"token": "pypi-AgEIcHlwaS5vcmcCJGFiY2Rl"},
            0,
            403,
            "not a mintgate token",
            id="api-token",
        ),
        pytest.param(
            lambda s: {"token": mint(s), "file": wheel("otherproject", "1.0.0")},
            0,
            400,
            "is not a distribution of project 'sampleproject'",
            id="file-named-for-another-project",
        ),
        pytest.param(
            lambda s: {"token": mint(s), "file": ("sampleproject-evil-1.0.tar.gz", b"x")},
            0,
            400,
            "is not a distribution of project 'sampleproject'",
            id="sdist-of-a-longer-name",
        ),
        pytest.param(
            lambda s: {"token": mint(s), "file": ('sampleproject-1.0.tar.gz"; x=".zip', b"x")},
            0,
            400,
            "is not a distribution",
            id="filename-header-injection",
        ),
        pytest.param(
            lambda s: {"token": mint(s), "fields": form(name=[PROJECT, "otherproject"])},
            0,
            400,
            "'name' must be given exactly once",
            id="name-twice",
        ),
        pytest.param(
            lambda s: {"token": mint(s), "fields": form(**{":action": "remove_pkg"})},
            0,
            400,
            ":action 'remove_pkg' is not supported",
            id="other-action",
        ),
        pytest.param(
            lambda s: {"token": mint(s), "fields": form(**{'x"\r\nEvil': "1"})},
            0,
            400,
            "unexpected form field",
            id="field-name-injection",
        ),
    ],
)
async def test_refused_uploads_are_never_forwarded(
    gateway: Gateway,
    registry: Registry,
    signing: SigningKeys,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
    make: Request,
    advance: int,
    status: int,
    message: str,
) -> None:
    request = make(signing)
    caplog.set_level(logging.DEBUG)
    async with gateway() as client:
        clock.advance(advance)
        response = await upload(client, **request)

    assert response.status_code == status, response.text
    assert message in response.text
    assert registry.upload.call_count == 0
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Basic ")
    if request["token"]:
        assert request["token"] not in response.text
        assert request["token"] not in caplog.text


async def test_upload_is_forwarded_with_the_gateways_own_credentials(
    gateway: Gateway, registry: Registry, signing: SigningKeys, caplog: pytest.LogCaptureFixture
) -> None:
    token = mint(signing)
    filename, data = wheel(PROJECT, "1.0.0", payload=b"\x00\r\n--not-a-boundary\r\n" * 100)
    caplog.set_level(logging.DEBUG)
    async with gateway() as client:
        response = await upload(client, token, file=(filename, data))
        again = await upload(client, token, file=(filename, data), path="/legacy/")

    assert response.status_code == 200, response.text
    assert again.status_code == 200, again.text
    assert response.text == "stored\n"
    assert registry.jwks.call_count == 1  # keys cached: the second upload fetched nothing
    forwarded = registry.upload.calls[0].request
    body = forwarded.content
    assert forwarded.headers["authorization"] == GATEWAY_AUTH
    assert int(forwarded.headers["content-length"]) == len(body)
    assert token.encode() not in body
    assert data in body
    assert f'filename="{filename}"'.encode() in body
    assert b'name="name"\r\n\r\nsampleproject\r\n' in body
    assert b'name="classifiers"\r\n\r\nTyping :: Typed\r\n' in body
    assert token not in caplog.text
    assert "gateway-secret" not in caplog.text
    assert "upload forwarded: project=sampleproject version=1.0.0" in caplog.text


class Revocations:
    """A revocation store the test controls."""

    def __init__(self, *, down: bool = False) -> None:
        self.revoked: set[str] = set()
        self.down = down

    async def revoke(self, token_id: str, *, until: int) -> None:
        self.revoked.add(token_id)

    async def is_revoked(self, token_id: str) -> bool:
        if self.down:
            raise RevocationUnavailable("the test says so")
        return token_id in self.revoked


async def test_revoked_token_is_refused_and_others_pass(
    gateway: Gateway, registry: Registry, signing: SigningKeys
) -> None:
    store = Revocations()
    revoked, other = mint(signing), mint(signing)
    await store.revoke(jti(revoked), until=0)
    async with gateway(revocations=store) as client:
        refused = await upload(client, revoked)
        accepted = await upload(client, other)

    assert refused.status_code == 403
    assert refused.text == "token refused for project 'sampleproject': token has been revoked\n"
    assert accepted.status_code == 200
    assert registry.upload.call_count == 1


async def test_unknown_revocation_status_fails_closed(
    gateway: Gateway, registry: Registry, signing: SigningKeys
) -> None:
    async with gateway(revocations=Revocations(down=True)) as client:
        response = await upload(client, mint(signing))

    assert response.status_code == 503
    assert "cannot check whether the token has been revoked" in response.text
    assert registry.upload.call_count == 0


async def test_unavailable_keys_are_a_503(
    gateway: Gateway, registry: Registry, signing: SigningKeys
) -> None:
    registry.jwks.respond(500)
    async with gateway() as client:
        response = await upload(client, mint(signing))

    assert response.status_code == 503
    assert "mintgate's keys are unavailable" in response.text
    assert registry.upload.call_count == 0


async def test_with_mintgates_key_files_the_jwks_is_never_fetched(
    gateway: Gateway, registry: Registry, tmp_path: Path
) -> None:
    pem = tmp_path / "signing.pem"
    pem.write_bytes(generate_pem())
    own = load_signing_keys([pem])
    async with gateway(mintgate_key_files=(pem,)) as client:
        accepted = await upload(client, mint(own))
        foreign = await upload(client, mint(ephemeral_signing_keys()))

    assert accepted.status_code == 200, accepted.text
    assert foreign.status_code == 403
    assert "is not a key of https://mintgate.example" in foreign.text
    assert registry.jwks.call_count == 0
    assert registry.upload.call_count == 1


class TrustedPublishingOnly:
    async def trusted_publishing_only(self, project: str) -> bool:
        return project == PROJECT


async def test_project_policy_explains_why_an_api_token_is_refused(
    gateway: Gateway, registry: Registry
) -> None:
    async with gateway(policy=TrustedPublishingOnly()) as client:
        response = await upload(client, "pypi-AgEIcHlwaS5vcmc")

    assert response.status_code == 403
    assert "project 'sampleproject' accepts only trusted publishing" in response.text
    assert registry.upload.call_count == 0


def multipart(*parts: tuple[str, str | None, bytes], boundary: str = "b0undary") -> bytes:
    """A hand-made multipart body: (field name, file name or None, data) per part."""
    out = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        out += data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


FIELDS = (
    (":action", None, b"file_upload"),
    ("name", None, PROJECT.encode()),
    ("version", None, b"1.0.0"),
)
WHEEL = wheel(PROJECT, "1.0.0")


@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        pytest.param("application/json", b'{"name": "x"}', "expected a multipart", id="json"),
        pytest.param(
            "multipart/form-data", multipart(*FIELDS), "Missing boundary", id="no-boundary"
        ),
        pytest.param(
            "multipart/form-data; boundary=b0undary",
            multipart(*FIELDS, ("content", *WHEEL))[:-40],
            "ends before its closing boundary",
            id="truncated",
        ),
        pytest.param(
            "multipart/form-data; boundary=b0undary",
            multipart(*FIELDS, ("content", None, b"not a file")),
            "'content' must be a file",
            id="content-as-text",
        ),
        pytest.param(
            "multipart/form-data; boundary=b0undary",
            multipart(*FIELDS, ("content", *WHEEL), ("gpg_signature", "x.asc", b"sig")),
            "Too many files",
            id="second-file",
        ),
        pytest.param(
            "multipart/form-data; boundary=b0undary",
            multipart(*FIELDS, ("attestations", "a.json", b"[]")),
            "unexpected file field 'attestations'",
            id="file-under-another-name",
        ),
        pytest.param(
            "multipart/form-data; boundary=b0undary",
            multipart(*FIELDS[1:], ("content", *WHEEL)),
            "':action' must be given exactly once",
            id="no-action",
        ),
    ],
)
async def test_malformed_forms_are_a_400(
    gateway: Gateway,
    registry: Registry,
    signing: SigningKeys,
    content_type: str,
    body: bytes,
    message: str,
) -> None:
    headers = {"Content-Type": content_type, **basic(mint(signing))}
    async with gateway() as client:
        response = await client.post("/", content=body, headers=headers)

    assert response.status_code == 400, response.text
    assert message in response.text
    assert registry.upload.call_count == 0
