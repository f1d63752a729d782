"""What the API tests share: the app over a test store, and a client that knows the ceremonies."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from argon2 import PasswordHasher
from fakeissuer import Clock
from starlette.applications import Starlette

from service.accounts import totp
from service.accounts.passwords import Passwords
from service.accounts.secretbox import generate_key
from service.app import Overrides, create_app
from service.settings import Settings
from service.store import Store

DATA = Path(__file__).resolve().parent.parent / "data"
URL = "https://mintgate.test"
PASSWORD = "correct horse battery staple"


def api_settings(tmp_path: Path, **changes: Any) -> Settings:
    key = tmp_path / "secret.key"
    if not key.exists():
        key.write_text(generate_key() + "\n")
    base: dict[str, Any] = {
        "url": URL,
        "webauthn_origin": URL,
        "webauthn_rp_id": "mintgate.test",
        "issuers_file": DATA / "issuers.toml",
        # The database is the trust source: publishers are what the test adds, as an owner would.
        "publishers_file": None,
        "rate_limit_mint_ip": None,
        "rate_limit_mint_publisher": None,
        # Off unless a test turns them on: the flows below sign in many times.
        "rate_limit_login_ip": None,
        "rate_limit_login_account": None,
        "pwned_passwords_url": None,
        "secret_key_file": key,
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'unused.sqlite3'}",
    }
    return Settings(**{**base, **changes})


def cheap_passwords() -> Passwords:
    # Minimum cost keeps hashing in microseconds; the production profile has its own test.
    return Passwords(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


def app_for(store: Store, clock: Clock, tmp_path: Path, **changes: Any) -> Starlette:
    overrides = Overrides(clock=clock, store=store, passwords=cheap_passwords())
    return create_app(api_settings(tmp_path, **changes), overrides)


def bearer(session_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {session_id}"}


def codes(response: httpx.Response) -> list[str]:
    """The error codes of a refusal, in order."""
    return [e["code"] for e in response.json()["errors"]]


def secret_of(manual_key: str) -> bytes:
    return base64.b32decode(manual_key + "=" * (-len(manual_key) % 8))


@dataclass
class User:
    name: str
    session: str  # a bearer session id
    totp_secret: bytes | None = None
    recovery_codes: list[str] = field(default_factory=list)

    @property
    def auth(self) -> dict[str, str]:
        return bearer(self.session)


class Api:
    """An httpx client on the app in process (the Origin of a same-site browser page)."""

    def __init__(self, client: httpx.AsyncClient, clock: Clock) -> None:
        self.http = client
        self.clock = clock

    @classmethod
    @asynccontextmanager
    async def over(cls, app: Starlette, clock: Clock) -> AsyncIterator[Api]:
        transport = httpx.ASGITransport(app=app, client=("192.0.2.10", 50000))
        async with httpx.AsyncClient(
            transport=transport, base_url=URL, headers={"Origin": URL}
        ) as client:
            yield cls(client, clock)

    async def register(self, name: str, password: str = PASSWORD) -> httpx.Response:
        return await self.http.post(
            "/api/v1/register",
            json={"username": name, "email": f"{name}@example.org", "password": password},
        )

    async def login(self, name: str, password: str = PASSWORD, **extra: Any) -> httpx.Response:
        body = {"username": name, "password": password, "bearer": True, **extra}
        return await self.http.post("/api/v1/login", json=body)

    async def session(self, name: str) -> str:
        response = await self.login(name)
        assert response.status_code == 200, response.text
        session_id: str = response.json()["session_id"]
        return session_id

    async def user(self, name: str, *, two_factor: bool = False) -> User:
        """A registered user signed in with a bearer session; with two_factor, TOTP enrolled
        through the API (so the session holds a fresh proof) and the clock past that code."""
        assert (await self.register(name)).status_code == 201
        user = User(name, await self.session(name))
        if two_factor:
            await self.enrol_totp(user)
        return user

    async def enrol_totp(self, user: User) -> None:
        begun = await self.http.post("/api/v1/me/two-factor/totp", headers=user.auth)
        assert begun.status_code == 200, begun.text
        user.totp_secret = secret_of(begun.json()["manual_key"])
        confirmed = await self.http.post(
            "/api/v1/me/two-factor/totp/confirm", json={"code": self.code(user)}, headers=user.auth
        )
        assert confirmed.status_code == 200, confirmed.text
        user.recovery_codes = confirmed.json()["recovery_codes"]
        self.clock.advance(totp.STEP)

    def code(self, user: User) -> str:
        assert user.totp_secret is not None
        return totp.generate(user.totp_secret, self.clock())

    async def confirm_totp(self, user: User, session: str | None = None) -> httpx.Response:
        response = await self.http.post(
            "/api/v1/session/confirm/totp",
            json={"code": self.code(user)},
            headers=bearer(session or user.session),
        )
        self.clock.advance(totp.STEP)  # the code is spent; the next one is a step later
        return response

    async def get(self, path: str, session: str | None, **kw: Any) -> httpx.Response:
        headers = bearer(session) if session else {}
        return await self.http.get(f"/api/v1{path}", headers=headers, **kw)

    async def post(
        self, path: str, session: str | None, body: dict[str, Any] | None = None
    ) -> httpx.Response:
        headers = bearer(session) if session else {}
        return await self.http.post(f"/api/v1{path}", json=body, headers=headers)

    async def delete(self, path: str, session: str | None) -> httpx.Response:
        headers = bearer(session) if session else {}
        return await self.http.delete(f"/api/v1{path}", headers=headers)


ApiFactory = Callable[..., AbstractAsyncContextManager[Api]]
