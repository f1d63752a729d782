"""The MINTGATE_* variables a settings reader reads, for `--help`: taken from the reader itself.

A hand-kept list drifts from the code; this one is whatever `from_env` looks up
when run against a recording environment, so a variable added to the settings
shows up in the help without anyone remembering to add it.
"""

from __future__ import annotations

import argparse
import contextlib
import textwrap
from collections.abc import Callable, Iterator, Mapping

from service.envparse import SettingsError

WIDTH = 78


class RecordingEnv(Mapping[str, str]):
    """An environment that remembers every name looked up in it, in order."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = values
        self.names: dict[str, None] = {}  # insertion-ordered set

    def __getitem__(self, name: str) -> str:
        self.names[name] = None
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def variables_read(
    from_env: Callable[[Mapping[str, str]], object], probe: Mapping[str, str]
) -> tuple[str, ...]:
    """The MINTGATE_* names `from_env` reads given `probe`, in the order it reads them.

    `probe` sets what turns on the optional groups (a required URL, staging), so
    their variables are read too; a settings error after that still leaves the names.
    """
    env = RecordingEnv(probe)
    with contextlib.suppress(SettingsError):
        from_env(env)
    return tuple(name for name in env.names if name.startswith("MINTGATE_"))


def epilog(names: tuple[str, ...], where: str) -> str:
    listed = textwrap.fill(
        "  ".join(names), WIDTH, initial_indent="  ", subsequent_indent="  ", break_on_hyphens=False
    )
    return f"environment variables read (what each means: {where}):\n{listed}"


def describe(parser: argparse.ArgumentParser, names: tuple[str, ...], where: str) -> None:
    """Add the variables to the command's --help, keeping the list's line breaks."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = epilog(names, where)


# What switches the optional groups on, so their variables are read as well.
SERVICE_PROBE = {
    "MINTGATE_STAGING_DIR": "staging",
    "MINTGATE_STAGING_BACKEND_URL": "http://registry.invalid/legacy/",
    # One origin: serve reads the gateway's variables once a backend index is named.
    "MINTGATE_GATEWAY_BACKEND_URL": "http://registry.invalid/legacy/",
}
GATEWAY_PROBE = {
    "MINTGATE_GATEWAY_BACKEND_URL": "http://registry.invalid/legacy/",
    "MINTGATE_GATEWAY_MINTGATE_URL": "http://mintgate.invalid",
}


def service_variables() -> tuple[str, ...]:
    """What `mintgate serve` (and `check`) read: Settings.from_env."""
    from service.settings import Settings

    return variables_read(Settings.from_env, SERVICE_PROBE)


def gateway_variables() -> tuple[str, ...]:
    """What `mintgate gateway` reads: GatewaySettings.from_env."""
    from service.gateway.settings import GatewaySettings

    return variables_read(GatewaySettings.from_env, GATEWAY_PROBE)
