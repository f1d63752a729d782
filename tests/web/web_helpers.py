"""A cookie-keeping client over the app in process that reads forms off the pages it gets,
as a browser would: the CSRF token of the last page goes with the next form."""

from __future__ import annotations

import base64
import html
import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
from api.api_helpers import PASSWORD, URL
from fakeissuer import Clock
from starlette.applications import Starlette

from service.accounts import totp

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
SECRET = re.compile(r'id="totp-secret">([A-Z2-7]+)<')
CODES = re.compile(r'id="recovery-codes-list">([^<]+)</pre>')
NEW_TOKEN = re.compile(r'id="new-token">([^<]+)</pre>')


class Page:
    """The last page fetched, and a way to submit its forms."""

    def __init__(self, client: httpx.AsyncClient, clock: Clock) -> None:
        self.http = client
        self.clock = clock
        self.last: httpx.Response | None = None
        self.totp_secret: bytes | None = None

    @classmethod
    @asynccontextmanager
    async def over(cls, app: Starlette, clock: Clock) -> AsyncIterator[Page]:
        transport = httpx.ASGITransport(app=app, client=("192.0.2.20", 50000))
        # A browser names the page's origin on every form POST.
        async with httpx.AsyncClient(
            transport=transport, base_url=URL, headers={"Origin": URL}
        ) as client:
            yield cls(client, clock)

    @property
    def text(self) -> str:
        assert self.last is not None
        return html.unescape(self.last.text)

    def token(self) -> str:
        assert self.last is not None
        found = TOKEN.search(self.last.text)
        assert found is not None, "no form on the last page"
        return found[1]

    async def get(self, path: str) -> httpx.Response:
        self.last = await self.http.get(f"/web{path}", follow_redirects=True)
        return self.last

    async def post(
        self, path: str, fields: dict[str, str], *, token: bool = True
    ) -> httpx.Response:
        """A form from the last page; the answer (after redirects) becomes the last page."""
        data = {**fields, "csrf_token": self.token()} if token else fields
        self.last = await self.http.post(f"/web{path}", data=data, follow_redirects=True)
        return self.last

    async def raw_post(self, path: str, fields: dict[str, str]) -> httpx.Response:
        """Not following redirects: the status and headers of the answer itself."""
        return await self.http.post(f"/web{path}", data=fields)

    async def sign_up(self, name: str, password: str = PASSWORD) -> httpx.Response:
        await self.get("/signup")
        fields = {"username": name, "email": f"{name}@example.org", "password": password}
        return await self.post("/signup", fields)

    async def enrol_totp(self) -> list[str]:
        """From the 2FA page: QR page, secret read off it, a code; the recovery codes shown."""
        await self.get("/account/two-factor")
        begun = await self.post("/account/two-factor/totp", {})
        assert begun.status_code == 200, begun.text
        found = SECRET.search(begun.text)
        assert found is not None
        key = found[1]
        self.totp_secret = base64.b32decode(key + "=" * (-len(key) % 8))
        confirmed = await self.post("/account/two-factor/totp/confirm", {"code": self.code()})
        assert confirmed.status_code == 200, confirmed.text
        self.clock.advance(totp.STEP)
        codes = CODES.search(confirmed.text)
        assert codes is not None
        return codes[1].split()

    def code(self) -> str:
        assert self.totp_secret is not None
        return totp.generate(self.totp_secret, self.clock())

    async def owner(self, name: str = "alice", project: str = "sampleproject") -> None:
        await self.sign_up(name)
        await self.enrol_totp()
        await self.get("/")
        created = await self.post("/projects", {"name": project})
        assert created.status_code == 200
        assert f"<h1>{project}</h1>" in created.text


PageFactory = Callable[..., AbstractAsyncContextManager[Page]]
Fields = dict[str, Any]
