"""CSRF for the pages' forms: a signed double-submit token (OWASP's recommended variant).

The browser holds a random nonce in an HttpOnly, SameSite=Strict cookie; every
form carries HMAC(key, nonce, session) in a hidden field. A forged request from
another site has the cookie but cannot read the page, so it has no field; a
planted cookie (a sibling subdomain on plain http) does not help either, since
the field must be the HMAC of that nonce *and* the victim's session under a key
only the service holds. Binding to the session means a token from before sign-in
stops working at sign-in, and a token shown to one session is useless to another.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from starlette.requests import Request
from starlette.responses import Response

FIELD = "csrf_token"
NONCE_BYTES = 32
MAX_TOKEN = 128
# A year: the nonce is no credential on its own, and a long-lived one avoids a
# form that fails because its cookie expired while the tab was open.
COOKIE_AGE = 365 * 86400


def derive_key(secret_key_file: Path | None, info: bytes = b"mintgate web csrf v1") -> bytes:
    """The HMAC key (or, with another `info`, another key of the pages): derived (HKDF)
    from MINTGATE_SECRET_KEY_FILE, so every worker and replica agrees and no second
    secret is needed; per process when that is unset."""
    if secret_key_file is None:
        # No warning of its own: the secret box's one warning about the missing file says it.
        return secrets.token_bytes(32)
    # The file was already validated when the secret box was loaded at start-up.
    material = secret_key_file.read_bytes().strip()
    return HKDF(hashes.SHA256(), 32, salt=None, info=info).derive(material)


@dataclass(frozen=True, slots=True)
class Csrf:
    key: bytes
    secure: bool  # the session cookie's setting: Secure + __Host- prefix off plain loopback

    @property
    def cookie_name(self) -> str:
        return "__Host-mintgate-csrf" if self.secure else "mintgate-csrf"

    def _nonce(self, request: Request) -> str | None:
        value = request.cookies.get(self.cookie_name)
        return value if value and len(value) <= MAX_TOKEN else None

    def token(self, request: Request, session: str | None) -> tuple[str, str | None]:
        """The field for a form on this page, and a nonce to set when the browser has none."""
        nonce = self._nonce(request)
        fresh = None
        if nonce is None:
            nonce = fresh = secrets.token_urlsafe(NONCE_BYTES)
        return self._sign(nonce, session), fresh

    def _sign(self, nonce: str, session: str | None) -> str:
        # The session id is hashed first: a token never reveals anything about it.
        bound = hashlib.sha256((session or "").encode()).hexdigest()
        return hmac.new(self.key, f"{nonce}\x00{bound}".encode(), hashlib.sha256).hexdigest()

    def valid(self, request: Request, field: str | None, session: str | None) -> bool:
        nonce = self._nonce(request)
        if nonce is None or not field or len(field) > MAX_TOKEN:
            return False
        return hmac.compare_digest(self._sign(nonce, session), field)

    def set_cookie(self, response: Response, nonce: str) -> None:
        response.set_cookie(
            self.cookie_name,
            nonce,
            max_age=COOKIE_AGE,
            path="/",
            secure=self.secure,
            httponly=True,
            samesite="strict",
        )
