"""Explain a token without verifying it and without showing its signature.

For a person looking at a token in a CI log or a bug report: which projects, who
for, until when. Minted tokens show their claims; API tokens (`mgapi_`) show
each block's facts and checks. Nothing here may be trusted; the registry verifies.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
from dataclasses import dataclass
from typing import Any

from service.apitokens import explain
from service.apitokens.format import PREFIX as API_PREFIX
from service.client.text import printable
from service.minting.tokens import CHECKSUM_LENGTH, PREFIX, unwrap

UNVERIFIED = "UNVERIFIED: decoded without checking the signature; do not trust these claims"
LABELS = {
    "iss": "issuer",
    "aud": "audience",
    "sub": "subject",
    "projects": "projects",
    "provider": "provider",
    "publishers": "publishers",
    "provenance": "provenance",
    "jti": "token id",
}
TIMES = {"iat": "issued", "nbf": "not before", "exp": "expires"}


@dataclass(frozen=True, slots=True)
class Decoded:
    checksum_ok: bool
    header: dict[str, Any]
    claims: dict[str, Any]
    signature_bytes: int


def decode(token: str) -> Decoded | explain.DecodedApiToken | str:
    """The token's parts, or why it is not a mintgate token. Never echoes the input."""
    if token.startswith(API_PREFIX):
        return explain.decode(token)
    if not token.startswith(PREFIX):
        return "not a mintgate token: " + _guess(token)
    body, sep, check = token[len(PREFIX) :].rpartition("_")
    if not sep or len(check) != CHECKSUM_LENGTH:
        body = token[len(PREFIX) :]
    parts = body.split(".")
    if len(parts) != 3:
        return f"not a mintgate token: after {PREFIX!r} comes no JWT (header.claims.signature)"
    try:
        header, claims = _json_part(parts[0]), _json_part(parts[1])
        signature = len(_b64(parts[2]))
    except ValueError:
        return "not a mintgate token: its JWT does not decode (truncated or altered?)"
    return Decoded(unwrap(token) is not None, header, claims, signature)


def _guess(token: str) -> str:
    if token.startswith("pypi-"):
        return "it looks like a PyPI API token"
    if token.startswith("eyJ"):
        return "it looks like a bare JWT, perhaps a CI OIDC credential"
    return f"minted tokens start with {PREFIX!r}, API tokens with {API_PREFIX!r}"


def _b64(part: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("bad base64url") from exc


def _json_part(part: str) -> dict[str, Any]:
    try:
        value = json.loads(_b64(part))
    except (UnicodeDecodeError, RecursionError) as exc:
        raise ValueError("not JSON") from exc
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def render(decoded: Decoded | explain.DecodedApiToken, now: float) -> list[str]:
    checksum = "ok" if decoded.checksum_ok else "INVALID: corrupted, truncated or edited copy"
    if isinstance(decoded, explain.DecodedApiToken):
        return _render_api(decoded, checksum, now)
    head = decoded.header
    lines = [
        f"mintgate token ({UNVERIFIED})",
        f"  {'prefix':<11} {PREFIX} ok",
        f"  {'checksum':<11} {checksum}",
        f"  {'header':<11} alg={_show(head.get('alg'))} kid={_show(head.get('kid'))}",
        f"  {'signature':<11} {decoded.signature_bytes} bytes, not shown, not verified",
    ]
    claims = decoded.claims
    for claim, label in LABELS.items():
        if claim in claims:
            lines.append(f"  {label:<11} {_show(claims[claim])}")
    for claim, label in TIMES.items():
        if claim in claims:
            lines.append(f"  {label:<11} {_time(claims[claim], now, claim == 'exp')}")
    extra = sorted(set(claims) - set(LABELS) - set(TIMES))
    lines += [f"  {printable(k, 40) + ':':<11} {_show(claims[k])}" for k in extra]
    return lines


def _render_api(decoded: explain.DecodedApiToken, checksum: str, now: float) -> list[str]:
    lines = [
        f"mintgate API token ({UNVERIFIED})",
        f"  {'prefix':<11} {API_PREFIX} ok",
        f"  {'checksum':<11} {checksum}",
        f"  {'signature':<11} {len(decoded.blocks)} signed blocks; not shown, not verified",
    ]
    for index, block in enumerate(decoded.blocks):
        role = "authority: issued by mintgate" if index == 0 else "appended: can only narrow"
        lines.append(f"  block {index:<5} {role}")
        for statement in block:
            text = printable(statement.text, 300)
            if statement.expires is not None:
                text += f"  ({_rfc3339(statement.expires, now)})"
            lines.append(f"    {statement.kind:<9} {text}")
    return lines


def _rfc3339(value: str, now: float) -> str:
    try:
        when = datetime.datetime.fromisoformat(value).timestamp()
    except ValueError:
        return "not a time"
    left = round(when - now)
    return f"expires in {_span(left)}" if left > 0 else f"expired {_span(-left)} ago"


def _show(value: Any) -> str:
    if value is None:
        return "(missing)"
    if isinstance(value, list):
        return ", ".join(_show(v) for v in value) or "(none)"
    if isinstance(value, dict):
        return ", ".join(f"{_show(k)}={_show(v)}" for k, v in value.items()) or "(none)"
    return printable(str(value), 300)


def _time(value: Any, now: float, expiry: bool) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return f"{_show(value)} (not a unix time)"
    try:
        when = datetime.datetime.fromtimestamp(value, datetime.UTC)
    except (OverflowError, OSError, ValueError):
        return f"{_show(value)} (out of range)"
    text = when.isoformat().replace("+00:00", "Z")
    if not expiry:
        return text
    left = round(value - now)
    return (
        f"{text} (expires in {_span(left)})" if left > 0 else f"{text} (expired {_span(-left)} ago)"
    )


def _span(seconds: int) -> str:
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    units = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    shown = [f"{n}{u}" for n, u in units if n][:2]
    return " ".join(shown) or "0s"
