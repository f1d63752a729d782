"""Provider modules by name. Each is pure data and checks over claims.

GitHub and GitLab are code; `custom` is rules written in a publisher table;
the rest (Google, ActiveState, CircleCI, Buildkite, Semaphore) are presets:
rule templates shipped as TOML in presets/ and filled by publisher tables.
"""

from __future__ import annotations

from collections.abc import Mapping

from service.publishers import custom, github, gitlab
from service.publishers.base import Provider
from service.publishers.preset import load_presets

_CODE: Mapping[str, Provider] = {
    github.PROVIDER: github,
    gitlab.PROVIDER: gitlab,
    custom.PROVIDER: custom,
}

_PRESETS = load_presets()
if _clash := sorted(_PRESETS.keys() & _CODE.keys()):  # pragma: no cover - a packaging bug
    raise RuntimeError(f"presets {_clash} have the names of provider modules")

PROVIDERS: Mapping[str, Provider] = {**_CODE, **_PRESETS}
