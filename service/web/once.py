"""A new API token, carried across the redirect after the form that made it, shown once.

The form's answer is a redirect (post-redirect-get), so reloading the page repeats
a GET and never the POST: no second token. The token crosses the redirect in a
cookie, never in a URL (URLs reach logs, history and Referer headers):

- sealed with AES-GCM under a key derived from MINTGATE_SECRET_KEY_FILE, so the
  cookie reveals nothing and every worker can open it (no server-side slot to share);
- bound to the session (SHA-256 of its cookie) and the project page, so a copy opens
  nothing elsewhere;
- HttpOnly, SameSite=Strict, scoped to that page's path, with no Max-Age (the
  browser keeps it in memory only), and refused after EXPIRES even so;
- deleted by the page that shows it: a reload shows the list without it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from starlette.requests import Request
from starlette.responses import Response

EXPIRES: Final = 120  # seconds: a redirect takes less; a stale cookie shows nothing
MAX_COOKIE: Final = 2048
NONCE: Final = 12


@dataclass(frozen=True, slots=True)
class Shown:
    name: str
    token: str


@dataclass(frozen=True, slots=True)
class OneTime:
    key: bytes  # 32 bytes, derived apart from the CSRF key (csrf.derive_key's info differs)
    secure: bool

    @property
    def cookie_name(self) -> str:
        # __Host- needs Path=/; __Secure- still keeps a plain-http page from setting it.
        return "__Secure-mintgate-new-token" if self.secure else "mintgate-new-token"

    def put(
        self, response: Response, path: str, session: str | None, shown: Shown, now: datetime
    ) -> None:
        body = json.dumps(
            {"name": shown.name, "token": shown.token, "until": int(now.timestamp()) + EXPIRES}
        ).encode()
        nonce = os.urandom(NONCE)
        sealed = AESGCM(self.key).encrypt(nonce, body, _bound(path, session))
        response.set_cookie(
            self.cookie_name,
            base64.urlsafe_b64encode(nonce + sealed).decode(),
            path=path,
            secure=self.secure,
            httponly=True,
            samesite="strict",
        )

    def waiting(self, request: Request) -> bool:
        return self.cookie_name in request.cookies

    def take(self, request: Request, path: str, session: str | None, now: datetime) -> Shown | None:
        """The token waiting for this page, if any; the caller deletes the cookie
        (`forget`) on the page it answers with, so it is shown at most once."""
        raw = request.cookies.get(self.cookie_name)
        if raw is None or len(raw) > MAX_COOKIE:
            return None
        try:
            blob = base64.urlsafe_b64decode(raw)
            body = AESGCM(self.key).decrypt(blob[:NONCE], blob[NONCE:], _bound(path, session))
            data = json.loads(body)
        except (binascii.Error, ValueError, InvalidTag):
            return None
        if not isinstance(data, dict) or data.get("until", 0) < now.timestamp():
            return None
        return Shown(str(data["name"]), str(data["token"]))

    def forget(self, response: Response, path: str) -> None:
        response.delete_cookie(
            self.cookie_name, path=path, secure=self.secure, httponly=True, samesite="strict"
        )


def _bound(path: str, session: str | None) -> bytes:
    return f"{path}\x00{hashlib.sha256((session or '').encode()).hexdigest()}".encode()
