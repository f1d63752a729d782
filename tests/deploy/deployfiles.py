"""The deployment files under deploy/, loaded once for the tests in this folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from service.gateway import GatewaySettings
from service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def compose() -> dict[str, Any]:
    document: dict[str, Any] = load_yaml(DEPLOY / "compose.yaml")
    return document


def manifest_paths() -> list[Path]:
    return sorted(KUBERNETES.rglob("*.yaml"))


def manifests() -> list[dict[str, Any]]:
    """Every Kubernetes object under deploy/kubernetes/, the examples included."""
    objects: list[dict[str, Any]] = []
    for path in manifest_paths():
        objects.extend(d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d)
    return objects


def one(kind: str, name: str | None = None) -> dict[str, Any]:
    found = [
        m
        for m in manifests()
        if m["kind"] == kind and (name is None or m["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def mintgate_container() -> dict[str, Any]:
    containers = one("Deployment", "mintgate")["spec"]["template"]["spec"]["containers"]
    container: dict[str, Any] = next(c for c in containers if c["name"] == "mintgate")
    return container


def gateway_container() -> dict[str, Any]:
    containers = one("Deployment", "mintgate-gateway")["spec"]["template"]["spec"]["containers"]
    container: dict[str, Any] = next(c for c in containers if c["name"] == "gateway")
    return container


def container_env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container.get("env", [])}


class _Recording(dict[str, str]):
    """An empty environment that remembers every name it was asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.add(key)
        return super().get(key, default)


def setting_names() -> set[str]:
    """The MINTGATE_* variables Settings.from_env reads: the code, not a copy of it."""
    env = _Recording()
    Settings.from_env(env)
    return {name for name in env.asked if name.startswith("MINTGATE_")}


def gateway_setting_names() -> set[str]:
    """The same for GatewaySettings.from_env, given the two variables it requires."""
    env = _Recording()
    env.update(
        MINTGATE_GATEWAY_BACKEND_URL="http://index.example/",
        MINTGATE_GATEWAY_MINTGATE_URL="https://mintgate.example",
    )
    GatewaySettings.from_env(env)
    return {name for name in env.asked if name.startswith("MINTGATE_")}
