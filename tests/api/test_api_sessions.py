"""Sessions: cookie or bearer, expiry on an injected clock, logout, password change, CSRF."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from api_helpers import PASSWORD, URL, Api, ApiFactory, api_settings, codes
from fakeissuer import Clock

from service.accounts import sessions
from service.accounts.policy import RECENT_WINDOW
from service.http.api.state import build_state
from service.observability.clientip import ClientAddress
from service.ratelimit import MemoryWindows, RateLimiter
from service.settings import SESSION_TTL
from service.store import SqlStore

pytestmark = pytest.mark.anyio

NEW_PASSWORD = "a brand new passphrase for alice"


async def test_a_session_expires_on_the_clock(api: Api, clock: Clock) -> None:
    alice = await api.user("alice")
    clock.advance(SESSION_TTL - 1)
    assert (await api.get("/me", alice.session)).status_code == 200
    clock.advance(1)
    expired = await api.get("/me", alice.session)
    assert (expired.status_code, codes(expired)) == (401, ["session-expired"])


async def test_a_pending_session_expires_within_minutes(api: Api, clock: Clock) -> None:
    alice = await api.user("alice", two_factor=True)
    pending = (await api.login("alice")).json()["session_id"]
    clock.advance(sessions.PENDING_TTL.total_seconds())
    late = await api.confirm_totp(alice, pending)
    assert (late.status_code, codes(late)) == (401, ["session-expired"])


async def test_the_session_id_is_stored_only_as_its_hash(api: Api, store: SqlStore) -> None:
    alice = await api.user("alice")
    async with store.transaction() as tx:
        assert await tx.session_by_hash(alice.session) is None
        assert await tx.session_by_hash(sessions.hash_session_id(alice.session)) is not None


async def test_logout_revokes_the_session(api: Api) -> None:
    alice = await api.user("alice")
    assert (await api.post("/logout", alice.session)).status_code == 204
    gone = await api.get("/me", alice.session)
    assert (gone.status_code, codes(gone)) == (401, ["not-signed-in"])


async def test_a_password_change_revokes_every_other_session(api: Api) -> None:
    alice = await api.user("alice")
    other = await api.session("alice")
    changed = await api.post(
        "/me/password", alice.session, {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json() == {"other_sessions_revoked": 1}
    assert (await api.get("/me", other)).status_code == 401
    assert (await api.get("/me", alice.session)).status_code == 200
    assert (await api.login("alice")).status_code == 401
    assert (await api.login("alice", NEW_PASSWORD)).status_code == 200


async def test_a_password_change_needs_the_current_password_and_a_recent_factor(
    api: Api, clock: Clock
) -> None:
    alice = await api.user("alice", two_factor=True)
    body = {"current_password": "not my password", "new_password": NEW_PASSWORD}
    wrong = await api.post("/me/password", alice.session, body)
    assert (wrong.status_code, codes(wrong)) == (401, ["invalid-credentials"])
    clock.advance(RECENT_WINDOW.total_seconds() + 1)
    body["current_password"] = PASSWORD
    stale = await api.post("/me/password", alice.session, body)
    assert (stale.status_code, codes(stale)) == (403, ["recent-two-factor-required"])
    assert (await api.confirm_totp(alice)).status_code == 200  # re-confirm, then it works
    assert (await api.post("/me/password", alice.session, body)).status_code == 200


async def test_the_cookie_is_httponly_secure_strict(api: Api) -> None:
    await api.register("alice")
    response = await api.http.post(
        "/api/v1/login", json={"username": "alice", "password": PASSWORD}
    )
    assert "session_id" not in response.json()  # a page's script never sees it
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-mintgate-session=")
    for attribute in ("HttpOnly", "Secure", "SameSite=strict", "Path=/"):
        assert attribute.lower() in cookie.lower()
    assert (await api.http.get("/api/v1/me")).status_code == 200  # the jar sends it back


async def test_loopback_http_drops_secure_and_the_host_prefix(
    tmp_path: Path, store: SqlStore
) -> None:
    def state_for(url: str) -> bool:
        state = build_state(
            api_settings(tmp_path, url=url),
            store=store,
            secrets=None,  # type: ignore[arg-type]
            breaches=None,
            passwords=None,  # type: ignore[arg-type]
            limiter=RateLimiter(MemoryWindows()),
            clients=ClientAddress(),
            clock=Clock(),
            issuers=None,  # type: ignore[arg-type]
            root_key=None,  # type: ignore[arg-type]
        )
        return state.secure_cookie

    assert state_for("http://127.0.0.1:8000") is False
    assert state_for("http://localhost:8000") is False
    assert state_for("http://pypi.example.org") is True


@pytest.mark.parametrize(
    ("origin", "status"),
    [
        pytest.param(None, 403, id="no-origin"),
        pytest.param("https://evil.test", 403, id="foreign-origin"),
        pytest.param("http://mintgate.test", 403, id="same-host-other-scheme"),
        pytest.param(URL, 201, id="same-origin"),
    ],
)
async def test_a_cookie_write_needs_our_origin(
    make_api: ApiFactory, origin: str | None, status: int
) -> None:
    async with make_api() as api:
        await api.user("alice")
        await api.http.post("/api/v1/login", json={"username": "alice", "password": PASSWORD})
        headers = {"Origin": origin} if origin else {}
        api.http.headers.pop("Origin")
        response = await api.http.post(
            "/api/v1/me/two-factor/security-keys/options", headers=headers
        )
        expected = 200 if status == 201 else status
        assert response.status_code == expected, response.text
        if expected == 403:
            assert codes(response) == ["cross-origin-request"]


async def test_a_bearer_write_needs_no_origin(api: Api) -> None:
    alice = await api.user("alice")
    api.http.headers.pop("Origin")
    response = await api.post("/me/two-factor/security-keys/options", alice.session)
    assert response.status_code == 200


async def test_a_login_from_a_foreign_page_is_refused(api: Api) -> None:
    await api.register("alice")
    response = await api.http.post(
        "/api/v1/login",
        json={"username": "alice", "password": PASSWORD},
        headers={"Origin": "https://evil.test"},
    )
    assert (response.status_code, codes(response)) == (403, ["cross-origin-request"])


async def test_a_form_post_is_not_json_and_is_refused(api: Api) -> None:
    response = await api.http.post(
        "/api/v1/login", data={"username": "alice", "password": PASSWORD}
    )
    assert (response.status_code, codes(response)) == (415, ["unsupported-media-type"])
    assert isinstance(response, httpx.Response)
