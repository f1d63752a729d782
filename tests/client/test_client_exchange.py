"""`mintgate exchange` in process: the real client, `id` and CLI; respx plays the service.

The credential comes from GitLab's `<AUDIENCE>_ID_TOKEN` variable, which `id` reads
without any network, so the only mocked transport is the service's.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import respx
from fakeissuer import FakeIssuer, gitlab_claims

from service.cli import main

URL = "https://mintgate.example"
MINTED = "mintgate_eyJhbGciOiJFUzI1NiJ9.e30.c2ln_AbC123"
EXPIRES = 1_900_000_000


@pytest.fixture
def credential(gitlab: FakeIssuer, monkeypatch: pytest.MonkeyPatch) -> str:
    token = gitlab.sign(gitlab_claims(now=int(time.time())))
    monkeypatch.setenv("GITLAB_CI", "true")
    monkeypatch.setenv("MINTGATE_ID_TOKEN", token)
    return token


@pytest.fixture
def service() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=URL, assert_all_mocked=True, assert_all_called=False) as router:
        router.get("/_/oidc/audience").respond(json={"audience": "mintgate"})
        yield router


def refusal(code: str, description: str, status: int = 422) -> httpx.Response:
    body = {
        "message": "Token request failed",
        "errors": [{"code": code, "description": description}],
    }
    return httpx.Response(status, json=body)


def exchange(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["exchange", "--url", URL, *args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_no_credential(credential: str, *texts: str) -> None:
    # Not the credential, nor any part of it: the signature alone is enough to replay it.
    for text in texts:
        for part in [credential, *credential.split(".")]:
            assert part not in text


def test_minted_token_goes_to_stdout_and_the_credential_to_the_service(
    service: respx.MockRouter, credential: str, capsys: pytest.CaptureFixture[str]
) -> None:
    mint = service.post("/_/oidc/mint-token").respond(
        json={"success": True, "token": MINTED, "expires": EXPIRES}
    )

    code, out, err = exchange(capsys)

    assert code == 0, err
    assert out == MINTED + "\n"
    assert "valid until 2030-03-17" in err
    assert json.loads(mint.calls.last.request.content) == {"token": credential}
    assert_no_credential(credential, out, err)


def test_credential_is_requested_for_the_audience_the_service_announces(
    gitlab: FakeIssuer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # `id` maps audience "pypi.example/up" to the variable PYPI_EXAMPLE_UP_ID_TOKEN.
    token = gitlab.sign(gitlab_claims(now=int(time.time()), aud="pypi.example/up"))
    monkeypatch.setenv("GITLAB_CI", "true")
    monkeypatch.setenv("PYPI_EXAMPLE_UP_ID_TOKEN", token)
    with respx.mock(base_url=URL, assert_all_mocked=True) as router:
        router.get("/_/oidc/audience").respond(json={"audience": "pypi.example/up"})
        mint = router.post("/_/oidc/mint-token").respond(json={"token": MINTED})
        code, _, err = exchange(capsys)

    assert code == 0, err
    assert json.loads(mint.calls.last.request.content) == {"token": token}


REFUSALS = [
    pytest.param(
        "invalid-publisher",
        "workflow: expected 'release.yml', got 'ci.yml'",
        "no trusted publisher matches this workflow: check repository",
        id="invalid-publisher",
    ),
    pytest.param(
        "invalid-reuse-token",
        "this token was already used",
        "this OIDC token was already exchanged",
        id="invalid-reuse-token",
    ),
    pytest.param(
        "invalid-token",
        "token expired",
        "signature, issuer, audience or expiry",
        id="invalid-token",
    ),
    pytest.param(
        "not-enabled",
        "trusted publishing from gitlab is not enabled",
        "trusted publishing is switched off",
        id="not-enabled",
    ),
    pytest.param(
        "invalid-payload", "invalid payload: not JSON", "could not read the request", id="payload"
    ),
    pytest.param("some-future-code", "new rule", "no hint for this code", id="unknown-code"),
]


@pytest.mark.parametrize(("code", "description", "hint"), REFUSALS)
def test_refusal_exits_1_with_the_services_reason_and_a_hint(
    service: respx.MockRouter,
    credential: str,
    capsys: pytest.CaptureFixture[str],
    code: str,
    description: str,
    hint: str,
) -> None:
    service.post("/_/oidc/mint-token").mock(return_value=refusal(code, description))

    exit_code, out, err = exchange(capsys)

    assert exit_code == 1
    assert out == ""
    assert f"{code}: {description}" in err
    assert hint in err
    assert_no_credential(credential, out, err)


def test_audience_403_means_trusted_publishing_is_off(
    service: respx.MockRouter, credential: str, capsys: pytest.CaptureFixture[str]
) -> None:
    service.get("/_/oidc/audience").respond(403, json={"message": "not enabled"})

    code, _, err = exchange(capsys)

    assert code == 1
    assert "not-enabled" in err
    assert "trusted publishing is switched off" in err


UNAVAILABLE = [
    pytest.param(refusal("service-unavailable", "replay store unreachable", 503), id="mint-503"),
    pytest.param(httpx.Response(502, text="<html>bad gateway</html>"), id="mint-502-html"),
    pytest.param(httpx.ConnectError("connection refused"), id="mint-network"),
    pytest.param(httpx.ReadTimeout("timed out"), id="mint-timeout"),
]


@pytest.mark.parametrize("answer", UNAVAILABLE)
def test_unavailable_service_exits_3_and_says_retry(
    service: respx.MockRouter,
    credential: str,
    capsys: pytest.CaptureFixture[str],
    answer: httpx.Response | Exception,
) -> None:
    service.post("/_/oidc/mint-token").mock(side_effect=[answer])

    code, out, err = exchange(capsys)

    assert code == 3
    assert out == ""
    assert "retry" in err
    assert_no_credential(credential, out, err)


def test_unreachable_audience_endpoint_exits_3(
    service: respx.MockRouter, credential: str, capsys: pytest.CaptureFixture[str]
) -> None:
    service.get("/_/oidc/audience").mock(side_effect=httpx.ConnectError("refused"))

    code, _, err = exchange(capsys)

    assert code == 3
    assert "cannot reach https://mintgate.example/_/oidc/audience" in err


def test_no_ambient_credential_exits_2_before_posting_anything(
    service: respx.MockRouter, capsys: pytest.CaptureFixture[str]
) -> None:
    mint = service.post("/_/oidc/mint-token").respond(json={"token": MINTED})

    code, out, err = exchange(capsys)

    assert code == 2
    assert out == ""
    assert "no ambient OIDC credential" in err
    assert "MINTGATE_ID_TOKEN" in err  # names the GitLab variable for this audience
    assert not mint.called


def test_github_without_id_token_permission_exits_2_with_the_permission_hint(
    service: respx.MockRouter, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")

    code, _, err = exchange(capsys)

    assert code == 2
    assert "ACTIONS_ID_TOKEN_REQUEST_TOKEN" in err
    assert "id-token: write" in err


@pytest.mark.parametrize(
    "url",
    ["http://mintgate.example", "ftp://mintgate.example", "not a url"],
    ids=["plain-http", "ftp", "garbage"],
)
def test_credential_is_never_sent_over_plain_http_off_loopback(
    url: str, credential: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with respx.mock(assert_all_mocked=True) as router:
        code = main(["exchange", "--url", url])
    _, err = capsys.readouterr()

    assert code == 2
    assert "--url" in err
    assert not router.calls


def test_redirect_is_not_followed_with_the_credential(
    service: respx.MockRouter, credential: str, capsys: pytest.CaptureFixture[str]
) -> None:
    service.post("/_/oidc/mint-token").respond(307, headers={"Location": "https://evil.example/"})

    code, _, err = exchange(capsys)

    assert code == 2
    assert "answered 307" in err
    assert len(service.calls) == 2


def test_output_file_is_written_owner_only(
    service: respx.MockRouter,
    credential: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    service.post("/_/oidc/mint-token").respond(json={"token": MINTED})
    target = tmp_path / "token"
    target.write_text("old")
    target.chmod(0o644)  # a wider file already there must not keep its mode

    code, out, err = exchange(capsys, "--output", str(target))

    assert code == 0, err
    assert target.read_text() == MINTED + "\n"
    assert target.stat().st_mode & 0o777 == 0o600
    assert MINTED not in out + err
    assert os.listdir(tmp_path) == ["token"]


def test_github_output_appends_and_masks_first(
    service: respx.MockRouter,
    credential: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    service.post("/_/oidc/mint-token").respond(json={"token": MINTED})
    outputs = tmp_path / "github_output"
    outputs.write_text("earlier=value\n")
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))

    code, out, err = exchange(capsys, "--github-output", "upload-token")

    assert code == 0, err
    assert outputs.read_text() == f"earlier=value\nupload-token={MINTED}\n"
    assert out == f"::add-mask::{MINTED}\n"
    assert MINTED not in err
    assert_no_credential(credential, out, err)


@pytest.mark.parametrize(
    ("name", "github_output"),
    [("bad\nname", "set"), ("token", None)],
    ids=["name-with-newline", "no-GITHUB_OUTPUT"],
)
def test_github_output_misconfiguration_exits_2_without_printing_the_token(
    service: respx.MockRouter,
    credential: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    github_output: str | None,
) -> None:
    service.post("/_/oidc/mint-token").respond(json={"token": MINTED})
    if github_output:
        monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "out"))

    code, out, err = exchange(capsys, "--github-output", name)

    assert code == 2
    assert MINTED not in out + err


def test_token_with_a_newline_is_refused_so_it_cannot_inject_outputs(
    service: respx.MockRouter,
    credential: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    service.post("/_/oidc/mint-token").respond(json={"token": "x\nOTHER=planted"})
    outputs = tmp_path / "github_output"
    outputs.touch()
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))

    code, _, err = exchange(capsys, "--github-output", "token")

    assert code == 3
    assert "without a usable token" in err
    assert outputs.read_text() == ""


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, json={"audience": "mintgate\n::set-env name=X::y"}),
        httpx.Response(200, text="<html>a login page</html>"),
        httpx.Response(404, json={"detail": "Not Found"}),
    ],
    ids=["audience-with-newline", "html", "not-found"],
)
def test_a_service_without_a_usable_audience_is_a_configuration_error(
    service: respx.MockRouter,
    credential: str,
    capsys: pytest.CaptureFixture[str],
    answer: httpx.Response,
) -> None:
    service.get("/_/oidc/audience").mock(return_value=answer)
    mint = service.post("/_/oidc/mint-token").respond(json={"token": MINTED})

    code, _, err = exchange(capsys)

    assert code == 2
    assert "is --url a trusted-publishing service?" in err
    assert not mint.called
