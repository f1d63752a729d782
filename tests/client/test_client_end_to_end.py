"""`mintgate exchange` as a real process against `mintgate serve`, with a fake GitHub runner.

Nothing is mocked: the `id` package fetches the credential over HTTP from the
runner, the service fetches the issuer's keys over HTTP, and the CLI is the
installed console script.
"""

from __future__ import annotations

import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakeissuer import FakeIssuer, github_claims
from servers import (
    MINTGATE,
    SAMPLE_PUBLISHERS,
    JsonServer,
    Request,
    child_env,
    json_server,
    mintgate_cli,
    mintgate_serve,
)

from service.minting.tokens import unwrap


@pytest.fixture
def service(tmp_path: Path, github: FakeIssuer) -> Iterator[str]:
    def jwks(request: Request) -> tuple[int, object]:
        return (200, github.jwks()) if request.path == "/jwks" else (404, {})

    with json_server(jwks) as issuer:
        issuers = tmp_path / "issuers.toml"
        issuers.write_text(
            "[[issuer]]\n"
            'url = "https://token.actions.githubusercontent.com"\n'
            'provider = "github"\n'
            f'jwks_uri = "{issuer.url}/jwks"\n'
            'jwks_hosts = ["127.0.0.1"]\n'
        )
        publishers = tmp_path / "publishers.toml"
        publishers.write_text(SAMPLE_PUBLISHERS)
        env = {
            "MINTGATE_ISSUERS_FILE": str(issuers),
            "MINTGATE_PUBLISHERS_FILE": str(publishers),
            "MINTGATE_JWKS_ALLOW_LOOPBACK_HTTP": "1",
        }
        with mintgate_serve(env, log=tmp_path / "serve.log") as url:
            yield url


class Runner:
    """The Actions runtime's token endpoint: checks the bearer and the audience, like GitHub."""

    def __init__(self, github: FakeIssuer) -> None:
        self.github = github
        self.request_token = secrets.token_urlsafe(24)
        self.issued: list[str] = []
        self.replay = False  # hand out the last token again instead of a fresh one

    def __call__(self, request: Request) -> tuple[int, object]:
        if request.headers.get("authorization") != f"bearer {self.request_token}":
            return 401, {"message": "bad request token"}
        audience = request.query.get("audience", [])
        if len(audience) != 1:
            return 400, {"message": "audience is required"}
        if not (self.replay and self.issued):
            claims = github_claims(now=int(time.time()), aud=audience[0])
            self.issued.append(self.github.sign(claims))
        return 200, {"value": self.issued[-1]}

    def env(self, actions: JsonServer) -> dict[str, str]:
        return {
            "GITHUB_ACTIONS": "true",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": self.request_token,
            "ACTIONS_ID_TOKEN_REQUEST_URL": f"{actions.url}/idtoken?api-version=2.0",
            "GITLAB_CI": "",  # `id` tries GitHub first; blank the rest in case CI set them
            "GITHUB_OUTPUT": "",
        }


def test_exchange_mints_once_then_refuses_the_same_credential(
    service: str, github: FakeIssuer
) -> None:
    runner = Runner(github)
    with json_server(runner) as actions:
        first = mintgate_cli("exchange", "--url", service, env=runner.env(actions))
        runner.replay = True
        again = mintgate_cli("exchange", "--url", service, env=runner.env(actions))

    assert [r.query["audience"] for r in actions.requests] == [["mintgate"], ["mintgate"]]
    assert first.returncode == 0, first.stderr
    token = first.stdout.strip()
    inner = unwrap(token)
    assert inner is not None
    assert again.returncode == 1, again.stderr
    assert again.stdout == ""
    assert "invalid-reuse-token" in again.stderr
    assert "this OIDC token was already exchanged" in again.stderr
    credential = runner.issued[0]
    for result in (first, again):
        assert credential not in result.stdout + result.stderr
        assert credential.rsplit(".", 1)[1] not in result.stdout + result.stderr

    # The operator's view of what was just minted, read from stdin as documented.
    inspected = subprocess.run(  # noqa: S603 (our own console script)
        [str(MINTGATE), "token", "inspect", "-"],
        input=token + "\n",
        env=child_env({}),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert inspected.returncode == 0, inspected.stderr
    assert "projects    sampleproject" in inspected.stdout
    assert "(expires in 1" in inspected.stdout  # 15m or a few seconds under
    assert inner.rsplit(".", 1)[1] not in inspected.stdout


def test_unknown_workflow_is_refused_with_the_publisher_hint(
    service: str, github: FakeIssuer
) -> None:
    runner = Runner(github)
    runner.issued.append(
        github.sign(github_claims(now=int(time.time()), workflow="ci.yml", aud="mintgate"))
    )
    runner.replay = True
    with json_server(runner) as actions:
        refused = mintgate_cli("exchange", "--url", service, env=runner.env(actions))

    assert refused.returncode == 1, refused.stderr
    assert "invalid-publisher" in refused.stderr
    assert "no trusted publisher matches this workflow" in refused.stderr
    assert "ci.yml" in refused.stderr  # the service's own sentence names what arrived
