"""deploy/Dockerfile, parsed with dockerfile-parse: multi-stage, non-root, health-checked."""

from __future__ import annotations

import fnmatch
import io
import json
import shlex
from typing import Any

import pytest
from deployfiles import DEPLOY, ROOT
from dockerfile_parse import DockerfileParser

DOCKERFILE = DEPLOY / "Dockerfile"


def parsed() -> DockerfileParser:
    return DockerfileParser(fileobj=io.BytesIO(DOCKERFILE.read_bytes()))


def instructions() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = parsed().structure
    return found


def stages() -> list[list[dict[str, Any]]]:
    """Instructions grouped by FROM; the last group is the image that ships."""
    groups: list[list[dict[str, Any]]] = []
    for item in instructions():
        if item["instruction"] == "FROM":
            groups.append([])
        if groups:
            groups[-1].append(item)
    return groups


def runtime(instruction: str) -> list[str]:
    return [i["value"] for i in stages()[-1] if i["instruction"] == instruction]


def test_multi_stage_build_installs_the_wheel_into_a_slim_image() -> None:
    parser = parsed()
    assert parser.is_multistage
    assert len(stages()) == 2
    assert all("slim" in image for image in parser.parent_images)
    assert any("pip wheel" in i["value"] for i in stages()[0] if i["instruction"] == "RUN")
    assert any("from=build" in run and "pip install" in run for run in runtime("RUN"))


def test_runs_as_a_numeric_non_root_user() -> None:
    users = runtime("USER")
    assert users, "no USER in the runtime stage"
    uid = users[-1].split(":")[0]
    assert uid.isdigit()
    assert int(uid) != 0


def test_healthcheck_hits_healthz_with_python() -> None:
    (healthcheck,) = runtime("HEALTHCHECK")
    command = json.loads(healthcheck.split("CMD", 1)[1])
    assert command[0] == "python"
    script = command[1]
    copied = {shlex.split(v)[-1]: shlex.split(v)[0] for v in runtime("COPY")}
    assert script in copied
    assert "/healthz" in (ROOT / copied[script]).read_text(encoding="utf-8")


def test_exposes_the_port_it_listens_on_and_serves() -> None:
    assert runtime("EXPOSE") == ["8000"]
    assert parsed().envs["MINTGATE_PORT"] == "8000"
    assert parsed().envs["MINTGATE_HOST"] == "0.0.0.0"  # noqa: S104 (inside the container)
    assert json.loads(runtime("ENTRYPOINT")[-1]) == ["mintgate"]
    assert json.loads(runtime("CMD")[-1]) == ["serve"]


def copy_sources() -> list[str]:
    sources = []
    for item in instructions():
        if item["instruction"] == "COPY" and "--from" not in item["value"]:
            sources.extend(shlex.split(item["value"])[:-1])
    return sources


@pytest.mark.parametrize("source", copy_sources())
def test_copied_files_exist_and_are_in_the_build_context(source: str) -> None:
    assert (ROOT / source).exists(), f"COPY {source}: no such path in the repository"
    patterns = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
    allowed = [p[1:] for p in patterns if p.startswith("!")]
    assert any(fnmatch.fnmatch(source, a) for a in allowed), f"{source} is .dockerignored"


def test_build_context_leaves_out_the_virtualenv() -> None:
    lines = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
    patterns = [line for line in lines if line and not line.startswith("#")]
    assert patterns[0] == "*", "ignore everything first, then allow by name"
    assert not any(".venv" in p for p in patterns[1:])
