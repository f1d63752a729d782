"""Provider modules by name. Each is pure data and checks over claims."""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType

from service.publishers import github, gitlab

PROVIDERS: Mapping[str, ModuleType] = {
    github.PROVIDER: github,
    gitlab.PROVIDER: gitlab,
}
