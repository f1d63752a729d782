"""What a client step ends in when it does not produce a token: an exit code and why."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class Exit(IntEnum):
    MINTED = 0
    REFUSED = 1  # the service said no: retrying the same job will not help
    CONFIGURATION = 2  # no ambient credential, bad URL or flags: fix the workflow
    UNAVAILABLE = 3  # 503 or the network: retrying may help


@dataclass(frozen=True, slots=True)
class Failure:
    exit: Exit
    message: str  # for a person; never holds a credential or a token
