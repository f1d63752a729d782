"""Login and second-factor attempts are limited per account and per address: 429 + Retry-After."""

from __future__ import annotations

import pytest
from api_helpers import ApiFactory, codes

from service.ratelimit import Rate

pytestmark = pytest.mark.anyio


async def test_password_guesses_per_account_are_limited(make_api: ApiFactory) -> None:
    async with make_api(rate_limit_login_account=Rate(3, 60)) as api:
        await api.register("alice")
        for _ in range(3):
            assert (await api.login("alice", "guess guess guess")).status_code == 401
        limited = await api.login("alice")  # even the right password waits now
        assert (limited.status_code, codes(limited)) == (429, ["rate-limited"])
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
        api.clock.advance(60)
        assert (await api.login("alice")).status_code == 200


async def test_password_guesses_per_address_are_limited(make_api: ApiFactory) -> None:
    async with make_api(rate_limit_login_ip=Rate(2, 60)) as api:
        assert (await api.login("alice", "guess guess guess")).status_code == 401
        assert (await api.login("bob", "guess guess guess")).status_code == 401
        limited = await api.login("carol", "guess guess guess")
        assert limited.status_code == 429
        assert "Retry-After" in limited.headers


async def test_second_factor_guesses_are_limited(make_api: ApiFactory) -> None:
    async with make_api() as plain:
        alice = await plain.user("alice", two_factor=True)
    async with make_api(rate_limit_login_account=Rate(3, 300)) as api:
        pending = (await api.login("alice")).json()["session_id"]
        for _ in range(3):
            wrong = await api.post("/session/confirm/totp", pending, {"code": "000000"})
            assert wrong.status_code == 400
        limited = await api.confirm_totp(alice, pending)
        assert (limited.status_code, codes(limited)) == (429, ["rate-limited"])
