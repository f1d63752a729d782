"""GitHubPartner: one signed report in, one label per match out, every leak revoked.

Order matters: the signature is checked over the raw bytes before the body is
parsed, so an unsigned request costs one ECDSA verification and revokes
nothing. Each match is then offered to the token families that recognise
its prefix; the first that proves it authentic revokes it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from service.publishers.base import SERVICE_UNAVAILABLE, Refusal
from service.revocation import RevocationUnavailable

from .keys import IDENTIFIER, KeysUnavailable, PublicKeySource, UnknownKey
from .reports import MAX_REPORTS, Report, parse_reports
from .revokers import Revoked, TokenRevoker
from .signature import decode_signature, verify

log = logging.getLogger(__name__)

MISSING_SIGNATURE: Final = "missing-signature"
INVALID_SIGNATURE: Final = "invalid-signature"
TRUE_POSITIVE: Final = "true_positive"
FALSE_POSITIVE: Final = "false_positive"
# Our tokens are a few KiB; a longer match is not one, and is not worth parsing.
MAX_TOKEN_CHARS = 16 * 1024


@dataclass(frozen=True, slots=True)
class Label:
    token_hash: str  # SHA-256 hex of the raw token, as GitHub's feedback format asks
    token_type: str  # GitHub's name for the pattern that matched, echoed
    label: str

    def as_json(self) -> dict[str, str]:
        return {"token_hash": self.token_hash, "token_type": self.token_type, "label": self.label}


class GitHubPartner:
    def __init__(
        self,
        keys: PublicKeySource,
        revokers: Sequence[TokenRevoker],
        *,
        max_reports: int = MAX_REPORTS,
    ) -> None:
        self._keys = keys
        self._revokers = tuple(revokers)
        self._max_reports = max_reports

    async def report(
        self, body: bytes, key_id: str | None, signature: str | None
    ) -> list[Label] | Refusal:
        checked = await self._check_signature(body, key_id, signature)
        if checked is not None:
            return checked
        reports = parse_reports(body, max_reports=self._max_reports)
        if isinstance(reports, Refusal):
            return reports
        labels = []
        done: dict[str, Revoked | None] = {}
        try:
            for report in reports:
                if report.token not in done:
                    done[report.token] = await self._revoke(report.token)
                labels.append(_label(report, done[report.token]))
        except RevocationUnavailable as exc:
            # GitHub retries a failed delivery; what was revoked so far stays revoked.
            log.error("secret scanning: revocation failed, asking GitHub to retry: %s", exc)
            return Refusal(SERVICE_UNAVAILABLE, "revocations cannot be recorded now; try again")
        return labels

    async def _check_signature(
        self, body: bytes, key_id: str | None, signature: str | None
    ) -> Refusal | None:
        if not key_id or not signature:
            return Refusal(
                MISSING_SIGNATURE,
                "Github-Public-Key-Identifier and Github-Public-Key-Signature are required",
            )
        raw = decode_signature(signature)
        if raw is None or not IDENTIFIER.fullmatch(key_id):
            return Refusal(MISSING_SIGNATURE, "signature headers are malformed")
        try:
            key = await self._keys.get(key_id)
        except UnknownKey:
            log.warning("secret scanning: request signed with unknown key %r", key_id)
            return Refusal(INVALID_SIGNATURE, f"{key_id!r} is not a GitHub secret-scanning key")
        except KeysUnavailable as exc:
            log.error("secret scanning: cannot verify a report, no keys: %s", exc)
            return Refusal(SERVICE_UNAVAILABLE, "GitHub's signing keys are unavailable; try again")
        if not verify(key, body, raw):
            log.warning("secret scanning: bad signature for key %r", key_id)
            return Refusal(INVALID_SIGNATURE, "signature does not verify over the request body")
        return None

    async def _revoke(self, token: str) -> Revoked | None:
        if len(token) > MAX_TOKEN_CHARS:
            return None
        for revoker in self._revokers:
            if revoker.recognises(token):
                revoked = await revoker.revoke(token)
                if revoked is not None:
                    return revoked
        return None


def _label(report: Report, revoked: Revoked | None) -> Label:
    token_hash = hashlib.sha256(report.token.encode("utf-8", "surrogatepass")).hexdigest()
    # The audit line: where GitHub found it, and what we did. Never the token itself;
    # its hash is what GitHub's own records use, so the two can be matched up.
    where = f"type={report.type[:64]!r} source={report.source[:64]!r} url={report.url[:300]!r}"
    if revoked is None:
        log.info("secret scanning: false positive %s hash=%s", where, token_hash)
        return Label(token_hash, report.type, FALSE_POSITIVE)
    log.warning(
        "secret scanning: leaked %s token %s of %s %s (exp %s) %s hash=%s",
        revoked.token_type,
        revoked.token_id,
        revoked.subject,
        "revoked" if revoked.recorded else "already expired, not recorded",
        revoked.expires,
        where,
        token_hash,
    )
    return Label(token_hash, report.type, TRUE_POSITIVE)
