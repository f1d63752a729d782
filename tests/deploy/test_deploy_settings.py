"""The variables the deployment files set are settings mintgate really reads."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from deployfiles import (
    ROOT,
    compose,
    container_env,
    gateway_container,
    gateway_setting_names,
    mintgate_container,
    one,
    setting_names,
)
from dockerfile_parse import DockerfileParser

from service.settings import Settings, SettingsError

DOCKERFILE = ROOT / "deploy" / "Dockerfile"


# Read by the PostgreSQL driver, not by mintgate: the password stays out of the URL.
DRIVER_VARIABLES = {"PGPASSFILE"}


def compose_names() -> set[str]:
    return set(compose()["services"]["mintgate"]["environment"]) - DRIVER_VARIABLES


def kubernetes_names() -> set[str]:
    return set(container_env(mintgate_container()))


def compose_gateway_names() -> set[str]:
    return set(compose()["services"]["gateway"]["environment"]) - DRIVER_VARIABLES


def kubernetes_gateway_names() -> set[str]:
    return set(container_env(gateway_container()))


def dockerfile_names() -> set[str]:
    envs: dict[str, str] = DockerfileParser(fileobj=io.BytesIO(DOCKERFILE.read_bytes())).envs
    return {name for name in envs if name.startswith("MINTGATE_")}


def readme_names() -> set[str]:
    table = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = (line for line in table.splitlines() if line.startswith("| `MINTGATE_"))
    return {name for row in rows for name in re.findall(r"`(MINTGATE_[A-Z0-9_]+)`", row)}


def readme_names_abbreviated() -> set[str]:
    """Also the names a row abbreviates: `MINTGATE_GATEWAY_HOST`, `_PORT`."""
    table = (ROOT / "README.md").read_text(encoding="utf-8")
    names = set()
    for row in (line for line in table.splitlines() if line.startswith("| `MINTGATE_")):
        cell = row.split("|")[1]
        full = re.findall(r"`(MINTGATE_[A-Z0-9_]+)`", cell)
        names.update(full)
        for short in re.findall(r"`(_[A-Z0-9_]+)`", cell):
            names.update(f[:i] + short for f in full for i, c in enumerate(f) if c == "_")
    return names


SOURCES = {
    "compose": compose_names,
    "kubernetes": kubernetes_names,
    "dockerfile": dockerfile_names,
}


@pytest.mark.parametrize("source", SOURCES, ids=list(SOURCES))
def test_every_variable_set_is_a_real_setting(source: str) -> None:
    names = SOURCES[source]()
    assert names, f"{source} sets no MINTGATE_* variable"
    unknown = names - setting_names()
    assert not unknown, f"{source} sets variables Settings.from_env never reads: {unknown}"


@pytest.mark.parametrize("source", SOURCES, ids=list(SOURCES))
def test_every_variable_set_is_documented(source: str) -> None:
    missing = SOURCES[source]() - readme_names()
    assert not missing, f"{source} sets variables missing from README's table: {missing}"


GATEWAY_SOURCES = {"compose": compose_gateway_names, "kubernetes": kubernetes_gateway_names}


@pytest.mark.parametrize("source", GATEWAY_SOURCES, ids=list(GATEWAY_SOURCES))
def test_every_gateway_variable_set_is_a_real_gateway_setting(source: str) -> None:
    names = GATEWAY_SOURCES[source]()
    unknown = names - gateway_setting_names()
    assert not unknown, f"{source} sets variables GatewaySettings.from_env never reads: {unknown}"
    missing = names - readme_names_abbreviated()
    assert not missing, f"{source} sets gateway variables missing from README's table: {missing}"


def test_driver_variables_are_explained_in_the_deploy_readme() -> None:
    readme = (ROOT / "deploy" / "README.md").read_text(encoding="utf-8")
    for name in DRIVER_VARIABLES:
        assert f"`{name}`" in readme


def test_workers_is_a_documented_setting() -> None:
    assert "MINTGATE_WORKERS" in setting_names()
    assert "MINTGATE_WORKERS" in readme_names()


def test_compose_replicas_share_keys_and_redis() -> None:
    assert compose()["services"]["mintgate"]["deploy"]["replicas"] >= 2
    assert {"MINTGATE_SIGNING_KEY_FILES", "MINTGATE_REDIS_URL"} <= compose_names()


def test_kubernetes_replicas_share_keys_and_redis() -> None:
    assert one("Deployment", "mintgate")["spec"]["replicas"] >= 2
    assert one("HorizontalPodAutoscaler", "mintgate")["spec"]["minReplicas"] >= 2
    assert {"MINTGATE_SIGNING_KEY_FILES", "MINTGATE_REDIS_URL"} <= kubernetes_names()


# (workers, signing key file set, Redis URL set, the error's text or None when it starts)
WORKER_CASES = [
    pytest.param(None, False, False, None, id="default-one-worker"),
    pytest.param("1", False, False, None, id="one-worker-needs-nothing-shared"),
    pytest.param("2", True, True, None, id="two-workers-with-key-and-redis"),
    pytest.param("0", True, True, "MINTGATE_WORKERS: expected a whole number from 1", id="zero"),
    pytest.param("two", True, True, "MINTGATE_WORKERS: invalid literal", id="not-a-number"),
    pytest.param("65", True, True, "MINTGATE_WORKERS: expected a whole number", id="too-many"),
    pytest.param(
        "2",
        False,
        False,
        "MINTGATE_WORKERS=2 needs MINTGATE_SIGNING_KEY_FILES and MINTGATE_REDIS_URL",
        id="no-key-no-redis",
    ),
    pytest.param("2", True, False, "MINTGATE_REDIS_URL", id="key-but-no-redis"),
    pytest.param("4", False, True, "MINTGATE_SIGNING_KEY_FILES", id="redis-but-no-key"),
]


@pytest.mark.parametrize(("workers", "key", "redis", "error"), WORKER_CASES)
def test_workers_setting(
    tmp_path: Path, workers: str | None, key: bool, redis: bool, error: str | None
) -> None:
    env = {}
    if workers is not None:
        env["MINTGATE_WORKERS"] = workers
    if key:
        (tmp_path / "key.pem").write_bytes(b"Settings checks only that it exists")
        env["MINTGATE_SIGNING_KEY_FILES"] = str(tmp_path / "key.pem")
    if redis:
        env["MINTGATE_REDIS_URL"] = "redis://127.0.0.1:6379/15"
    if error is None:
        assert Settings.from_env(env).workers == int(workers or "1")
        return
    with pytest.raises(SettingsError, match=re.escape(error)):
        Settings.from_env(env)
