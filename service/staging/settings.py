"""MINTGATE_STAGING_*: where `mintgate serve` and `mintgate staged` find staged files and the
registry approved files go to. The gateway's side (where it stages) is MINTGATE_GATEWAY_STAGING_*.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from service import envparse as parse
from service.envparse import EnvReader, SettingsError
from service.gateway.settings import backend_password, backend_url

PREFIX = "STAGING_"


@dataclass(frozen=True, slots=True)
class StagingSettings:
    directory: Path  # the directory the gateway stages into (shared storage)
    backend_url: str  # the registry's upload URL, as the gateway's MINTGATE_GATEWAY_BACKEND_URL
    backend_username: str | None = None
    backend_password: str | None = field(default=None, repr=False)
    backend_timeout: float = 300.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> StagingSettings | None:
        """None when staging is not configured (MINTGATE_STAGING_DIR unset)."""
        r = EnvReader(env)
        directory = r.get(f"{PREFIX}DIR", Path, None)
        url = r.get(f"{PREFIX}BACKEND_URL", backend_url, None)
        if directory is None and url is None:
            return None
        if directory is None or url is None:
            raise SettingsError(
                f"MINTGATE_{PREFIX}DIR and MINTGATE_{PREFIX}BACKEND_URL must be set together:"
                " approving reads staged files from one and forwards them to the other"
            )
        username = r.get(f"{PREFIX}BACKEND_USERNAME", str, None)
        password = backend_password(r, PREFIX)
        if (username is None) != (password is None):
            raise SettingsError(
                f"MINTGATE_{PREFIX}BACKEND_USERNAME and MINTGATE_{PREFIX}BACKEND_PASSWORD"
                " (or _PASSWORD_FILE) must be set together"
            )
        return cls(
            directory=directory,
            backend_url=url,
            backend_username=username,
            backend_password=password,
            backend_timeout=r.get(f"{PREFIX}BACKEND_TIMEOUT", parse.seconds, 300.0),
        )
