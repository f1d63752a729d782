"""Pwned Passwords range queries: k-anonymity, so the password never leaves us.

Only the first 5 hex digits of the SHA-1 are sent; the API answers with every
known suffix under that prefix and we look for ours locally
(https://haveibeenpwned.com/API/v3#SearchingPwnedPasswordsByRange).
"""

from __future__ import annotations

import hashlib

import httpx

from service.accounts.passwords import BreachCheckUnavailable, normalize

TIMEOUT = 2.0  # a sign-up waits on this; the offline list covers a slow API


class PwnedPasswords:
    def __init__(self, client: httpx.AsyncClient, base_url: str, timeout: float = TIMEOUT) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    async def count(self, password: str) -> int:
        # SHA-1 is the API's index, not a password hash we store.
        digest = hashlib.sha1(normalize(password).encode(), usedforsecurity=False)
        hexdigest = digest.hexdigest().upper()
        prefix, suffix = hexdigest[:5], hexdigest[5:]
        try:
            response = await self.client.get(
                f"{self.base_url}/range/{prefix}",
                # Padding hides from an observer how many suffixes came back.
                headers={"Add-Padding": "true", "User-Agent": "mintgate"},
                timeout=self.timeout,
            )
        except httpx.HTTPError as exc:
            raise BreachCheckUnavailable(f"{self.base_url}: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise BreachCheckUnavailable(f"{self.base_url}: HTTP {response.status_code}")
        return _count_for(suffix, response.text)


def _count_for(suffix: str, body: str) -> int:
    for line in body.splitlines():
        candidate, _, count = line.partition(":")
        if candidate.strip().upper() == suffix:
            try:
                # Padding lines carry a count of 0, which reads as "not breached".
                return int(count.strip())
            except ValueError:
                raise BreachCheckUnavailable("malformed range response") from None
    return 0
