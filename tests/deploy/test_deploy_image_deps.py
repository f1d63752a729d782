"""The image installs only pyproject's [project] dependencies: they must cover every import.

An editable install in a developer's venv hides a missing dependency (it is there from some
other install); the wheel in the image has exactly what pyproject declares and nothing more.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib import metadata

from deployfiles import ROOT
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PACKAGES = ("service", "jwks_cache")


def imported_top_level_modules() -> dict[str, str]:
    """Top-level module -> one file importing it, for every absolute import in the packages."""
    found: dict[str, str] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    found.setdefault(name.split(".")[0], str(path.relative_to(ROOT)))
    return found


def installed_closure(requirements: list[str]) -> set[str]:
    """Distributions those requirements install, following each one's own requirements."""
    seen: set[str] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        key = name + "[" + ",".join(sorted(requirement.extras)) + "]"
        if key in seen:
            continue
        seen.add(key)
        seen.add(name)
        for text in metadata.requires(requirement.name) or []:
            child = Requirement(text)
            extras = requirement.extras or {""}
            if child.marker is None or any(
                child.marker.evaluate({**default_environment(), "extra": e}) for e in extras
            ):
                todo.append(child)
    return {k for k in seen if "[" not in k}


def test_every_third_party_import_is_a_declared_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    provided = installed_closure(project["dependencies"])
    distributions = metadata.packages_distributions()
    missing = {}
    for module, where in imported_top_level_modules().items():
        if module in sys.stdlib_module_names or module in PACKAGES or module == "__future__":
            continue
        owners = {canonicalize_name(d) for d in distributions.get(module, [])}
        if not owners & provided:
            missing[module] = where
    assert not missing, (
        "imported but not installed by pyproject's [project] dependencies (the image would"
        f" fail to start): {missing}"
    )
