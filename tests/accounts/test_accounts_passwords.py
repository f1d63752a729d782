"""Password rules (NIST 800-63B), the breach range query, and argon2id hashes."""

from __future__ import annotations

import hashlib
import logging

import httpx
import pytest
import respx
from accounts_helpers import cheap_passwords
from argon2 import PasswordHasher
from argon2.profiles import RFC_9106_LOW_MEMORY

from service.accounts.breach import PwnedPasswords
from service.accounts.passwords import PasswordPolicy, Passwords, load_common
from service.defaults import COMMON_PASSWORDS

pytestmark = pytest.mark.anyio

API = "https://pwned.test"
STRONG = "violet tractor anagram 93"
SHA1 = hashlib.sha1(STRONG.encode()).hexdigest().upper()  # noqa: S324
PREFIX, SUFFIX = SHA1[:5], SHA1[5:]


@pytest.mark.parametrize(
    ("password", "username", "code"),
    [
        ("seven77", "alice", "password-too-short"),
        ("", "alice", "password-too-short"),
        ("x" * 1025, "alice", "password-too-long"),
        ("alice.smith", "alice.smith", "password-is-username"),
        ("Alice.Smith", "alice.smith", "password-is-username"),
        ("sunshine", "alice", "password-common"),
        ("TrustNo1", "alice", "password-common"),
        ("iloveyou", "alice", "password-common"),
    ],
    ids=[
        "short",
        "empty",
        "too-long",
        "username",
        "username-other-case",
        "common",
        "common-other-case",
        "common-2",
    ],
)
async def test_weak_passwords_are_refused(
    common: frozenset[str], password: str, username: str, code: str
) -> None:
    refused = await PasswordPolicy(common, breaches=None).check(password, username)
    assert refused is not None
    assert refused.code == code
    assert password not in refused.description or password == ""


@pytest.mark.parametrize("password", ["eight888", STRONG, "x" * 1024, "ünïcödé pässwörd"])
async def test_good_passwords_pass_offline(common: frozenset[str], password: str) -> None:
    assert await PasswordPolicy(common, breaches=None).check(password, "alice") is None


def test_the_shipped_list_has_ten_thousand_long_enough_entries(common: frozenset[str]) -> None:
    assert len(common) == 10_000
    assert all(len(p) >= 8 for p in common)
    assert {"password", "baseball", "1qaz2wsx"} <= common
    assert load_common(COMMON_PASSWORDS) == common  # comments skipped


def _policy(client: httpx.AsyncClient, common: frozenset[str]) -> PasswordPolicy:
    return PasswordPolicy(common, PwnedPasswords(client, API))


async def test_breached_password_is_refused_by_range_query(common: frozenset[str]) -> None:
    body = f"{'0' * 35}:0\r\n{SUFFIX}:42\r\n{'F' * 35}:7\r\n"
    async with respx.mock(assert_all_mocked=True) as router, httpx.AsyncClient() as client:
        route = router.get(f"{API}/range/{PREFIX}").respond(200, text=body)
        refused = await _policy(client, common).check(STRONG, "alice")
    assert refused is not None
    assert refused.code == "password-breached"
    assert "42 times" in refused.description
    request = route.calls.last.request
    # k-anonymity: only five hex digits of the hash leave the process.
    assert SUFFIX not in str(request.url)
    assert request.headers["Add-Padding"] == "true"


@pytest.mark.parametrize(
    "body", ["", f"{'0' * 35}:3\n", f"{SUFFIX}:0\n"], ids=["empty", "other-suffix", "padding"]
)
async def test_password_absent_from_the_range_is_accepted(
    common: frozenset[str], body: str
) -> None:
    async with respx.mock(assert_all_mocked=True) as router, httpx.AsyncClient() as client:
        router.get(f"{API}/range/{PREFIX}").respond(200, text=body)
        assert await _policy(client, common).check(STRONG, "alice") is None


async def test_common_password_is_refused_without_asking_the_api(common: frozenset[str]) -> None:
    async with (
        respx.mock(assert_all_mocked=True, assert_all_called=False) as router,
        httpx.AsyncClient() as client,
    ):
        route = router.get(url__startswith=API).respond(200, text="")
        refused = await _policy(client, common).check("baseball", "alice")
    assert refused is not None
    assert refused.code == "password-common"
    assert not route.called


@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.Response(503)],
    ids=["connect-error", "timeout", "http-503"],
)
async def test_api_down_falls_back_to_the_offline_list_and_warns(
    common: frozenset[str], failure: object, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with respx.mock(assert_all_mocked=True) as router, httpx.AsyncClient() as client:
        route = router.get(f"{API}/range/{PREFIX}")
        if isinstance(failure, httpx.Response):
            route.return_value = failure
        else:
            route.side_effect = failure
        policy = _policy(client, common)
        assert await policy.check(STRONG, "alice") is None
        # The offline list still refuses what it knows.
        refused = await policy.check("password1", "alice")
        assert refused is not None
        assert refused.code == "password-common"
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "breach check unavailable" in warning.getMessage()
    assert "offline common list" in warning.getMessage()
    assert STRONG not in caplog.text
    assert PREFIX not in caplog.text


def test_hashes_are_argon2id_and_verify() -> None:
    passwords = cheap_passwords()
    stored = passwords.hash(STRONG)
    assert stored.startswith("$argon2id$")
    assert passwords.verify(stored, STRONG).ok
    assert not passwords.verify(stored, STRONG + "!").ok
    assert not passwords.verify("not a hash", STRONG).ok


def test_a_hash_with_old_parameters_is_replaced_on_verify() -> None:
    old, new = cheap_passwords(time_cost=1), cheap_passwords(time_cost=2)
    verified = new.verify(old.hash(STRONG), STRONG)
    assert verified.ok
    assert verified.new_hash is not None
    assert "t=2" in verified.new_hash
    assert new.verify(verified.new_hash, STRONG).new_hash is None  # current: left alone


def test_default_profile_is_rfc_9106_low_memory() -> None:
    hasher = Passwords().hasher
    assert (hasher.time_cost, hasher.memory_cost, hasher.parallelism) == (
        RFC_9106_LOW_MEMORY.time_cost,
        RFC_9106_LOW_MEMORY.memory_cost,
        RFC_9106_LOW_MEMORY.parallelism,
    )
    assert isinstance(hasher, PasswordHasher)


def test_unicode_is_normalised_before_hashing() -> None:
    passwords = cheap_passwords()
    # U+FB01 (the "fi" ligature) and "fi" are one password to a person.
    assert passwords.verify(passwords.hash("\ufb01nal answer 42"), "final answer 42").ok
