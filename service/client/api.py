"""The two HTTP calls of the exchange, behind a plain `httpx.Client` so tests pick the transport."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

import httpx

from service.client.hints import explain
from service.client.outcome import Exit, Failure
from service.client.text import printable
from service.publishers.base import NOT_ENABLED, SERVICE_UNAVAILABLE

AUDIENCE_PATH = "/_/oidc/audience"
MINT_PATH = "/_/oidc/mint-token"
# What PyPI macaroons and mintgate tokens are made of. Anything else (a newline above
# all) could smuggle a second `NAME=value` line into $GITHUB_OUTPUT.
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9._~+/=-]{1,16384}")


@dataclass(frozen=True, slots=True)
class Minted:
    token: str
    expires: int | None


def base_url(url: str) -> str | Failure:
    """The service URL, if it is safe to send a CI credential to."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        return Failure(Exit.CONFIGURATION, f"--url {url!r} is not a URL: {exc}")
    # An OIDC credential over plain HTTP can be replayed by anyone on the path.
    if parsed.scheme == "https" or (parsed.scheme == "http" and _loopback(parsed.host)):
        return url.rstrip("/")
    return Failure(
        Exit.CONFIGURATION,
        f"--url must be https:// (plain http only on loopback), got {printable(url, 200)!r}",
    )


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def get_audience(client: httpx.Client, base: str) -> str | Failure:
    try:
        response = client.get(base + AUDIENCE_PATH)
    except httpx.TransportError as exc:
        return _network(base + AUDIENCE_PATH, exc)
    if response.status_code == 403:
        # PyPI's answer when trusted publishing is off: no error list, just a message.
        return Failure(Exit.REFUSED, "the service refused:\n" + explain([(NOT_ENABLED, "")]))
    if response.status_code >= 500:
        return _unavailable(response)
    audience = _json(response).get("audience")
    # `id` puts the audience in a URL and a variable name; refuse anything a person can't read.
    if response.status_code != 200 or not isinstance(audience, str) or not _readable(audience):
        return Failure(
            Exit.CONFIGURATION,
            f"{base}{AUDIENCE_PATH} answered {response.status_code} without an audience: "
            "is --url a trusted-publishing service?",
        )
    return audience


def _readable(audience: str) -> bool:
    return audience.isprintable() and 0 < len(audience) <= 200


def mint_token(client: httpx.Client, base: str, credential: str) -> Minted | Failure:
    try:
        response = client.post(base + MINT_PATH, json={"token": credential})
    except httpx.TransportError as exc:
        return _network(base + MINT_PATH, exc)
    body = _json(response)
    if response.status_code == 200:
        token, expires = body.get("token"), body.get("expires")
        if isinstance(token, str) and TOKEN_SHAPE.fullmatch(token):
            return Minted(token, expires if isinstance(expires, int) else None)
        return Failure(Exit.UNAVAILABLE, "the service answered 200 without a usable token")
    errors = _errors(body)
    if response.status_code >= 500 or any(code == SERVICE_UNAVAILABLE for code, _ in errors):
        return _unavailable(response, errors)
    if errors and 400 <= response.status_code < 500:
        return Failure(Exit.REFUSED, "the service refused to mint a token:\n" + explain(errors))
    # Redirects are not followed: the credential goes to the URL given, or nowhere.
    return Failure(
        Exit.CONFIGURATION,
        f"{base}{MINT_PATH} answered {response.status_code}: is --url a trusted-publishing "
        "service?",
    )


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _errors(body: dict[str, Any]) -> list[tuple[str, str]]:
    errors = body.get("errors")
    if not isinstance(errors, list):
        return []
    return [
        (printable(str(e.get("code")), 100), printable(str(e.get("description") or "")))
        for e in errors
        if isinstance(e, dict) and e.get("code")
    ]


def _unavailable(response: httpx.Response, errors: list[tuple[str, str]] | None = None) -> Failure:
    retry = response.headers.get("retry-after", "")
    after = f" (Retry-After: {printable(retry, 20)})" if retry else ""
    detail = explain(errors or [(SERVICE_UNAVAILABLE, f"HTTP {response.status_code}")])
    return Failure(Exit.UNAVAILABLE, f"the service is unavailable{after}:\n{detail}")


def _network(url: str, exc: httpx.TransportError) -> Failure:
    reason = printable(str(exc), 200) or type(exc).__name__
    return Failure(Exit.UNAVAILABLE, f"cannot reach {url}: {reason}; retry later")
