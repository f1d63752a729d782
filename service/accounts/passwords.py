"""Passwords: argon2id hashes, and the rules a new password must pass.

Rules follow NIST SP 800-63B section 5.1.1.2: at least 8 characters, no
composition rules, and refuse passwords known to be common or breached.
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from argon2.profiles import RFC_9106_LOW_MEMORY

from service.publishers.base import Refusal

log = logging.getLogger(__name__)

PASSWORD_TOO_SHORT: Final = "password-too-short"
PASSWORD_TOO_LONG: Final = "password-too-long"
PASSWORD_IS_USERNAME: Final = "password-is-username"
PASSWORD_COMMON: Final = "password-common"
PASSWORD_BREACHED: Final = "password-breached"

MIN_LENGTH = 8
# Long passphrases are welcome; this only stops a megabyte "password" from
# becoming a denial of service in the hash.
MAX_LENGTH = 1024


def normalize(password: str) -> str:
    """NFKC, as 800-63B asks, so the same passphrase typed on two keyboards matches."""
    return unicodedata.normalize("NFKC", password)


@dataclass(frozen=True, slots=True)
class Verified:
    ok: bool
    # Set when the stored hash used older parameters: store this one instead.
    new_hash: str | None = None


class Passwords:
    """argon2id hashing. Parameters live in the hash, so changing them here
    upgrades each stored hash the next time its owner logs in."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        # RFC 9106's second recommended profile: argon2id, t=3, 64 MiB, p=4.
        self.hasher = hasher or PasswordHasher.from_parameters(RFC_9106_LOW_MEMORY)
        self._dummy: str | None = None

    def hash(self, password: str) -> str:
        return self.hasher.hash(normalize(password))

    def verify(self, stored: str, password: str) -> Verified:
        try:
            self.hasher.verify(stored, normalize(password))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return Verified(ok=False)
        if self.hasher.check_needs_rehash(stored):
            return Verified(ok=True, new_hash=self.hash(password))
        return Verified(ok=True)

    def spend_verify_time(self, password: str) -> None:
        """Verify against a throwaway hash: an unknown username must take as long
        as a wrong password, or timing tells which usernames exist."""
        if self._dummy is None:
            self._dummy = self.hasher.hash("not a real password")
        self.verify(self._dummy, password)


class BreachCheckUnavailable(Exception):
    """The breach API could not answer; the message says why without the password."""


class BreachChecker(Protocol):
    async def count(self, password: str) -> int:
        """How often the password appears in known breaches; raises BreachCheckUnavailable."""
        ...


def load_common(path: Path) -> frozenset[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and line[0] != "#")


class PasswordPolicy:
    def __init__(self, common: frozenset[str], breaches: BreachChecker | None) -> None:
        self.common = common
        self.breaches = breaches

    async def check(self, password: str, username: str) -> Refusal | None:
        """None when the password may be used, else why not (never echoing it)."""
        password = normalize(password)
        if len(password) < MIN_LENGTH:
            return Refusal(
                PASSWORD_TOO_SHORT, f"password: expected at least {MIN_LENGTH} characters"
            )
        if len(password) > MAX_LENGTH:
            return Refusal(PASSWORD_TOO_LONG, f"password: expected at most {MAX_LENGTH} characters")
        if password.casefold() == username.casefold():
            return Refusal(PASSWORD_IS_USERNAME, "password: must not be the username")
        # The offline list first: it answers the commonest case with no request,
        # and it is what still protects us when the breach API is down.
        if password.lower() in self.common:
            return Refusal(PASSWORD_COMMON, "password: it is on the list of common passwords")
        if self.breaches is None:
            return None
        try:
            seen = await self.breaches.count(password)
        except BreachCheckUnavailable as exc:
            log.warning(
                "password breach check unavailable (%s): checked the offline common list only",
                exc,
            )
            return None
        if seen > 0:
            return Refusal(
                PASSWORD_BREACHED,
                f"password: it has appeared {seen} times in data breaches; choose another",
            )
        return None
