"""deploy/compose.yaml: valid against the Compose Specification schema, and wired right."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import PurePosixPath
from typing import Any

import jsonschema
import pytest
from deployfiles import DEPLOY, compose

# check-jsonschema vendors the compose-spec schema (its `vendor.compose-spec` builtin).
SCHEMA_PACKAGE = "check_jsonschema.builtin_schemas.vendor"


def compose_schema() -> dict[str, Any]:
    text = resources.files(SCHEMA_PACKAGE).joinpath("compose-spec.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose()["services"]
    return found


def test_compose_file_matches_the_compose_spec_schema() -> None:
    schema = compose_schema()
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    errors = sorted(validator_class(schema).iter_errors(compose()), key=lambda e: e.json_path)
    assert not errors, "\n".join(f"{e.json_path}: {e.message}" for e in errors)


def test_schema_catches_a_misspelt_key() -> None:
    """The schema is strict enough to matter: an unknown service key is an error."""
    broken = compose()
    broken["services"]["mintgate"]["helthcheck"] = broken["services"]["mintgate"]["healthcheck"]
    schema = compose_schema()
    assert not jsonschema.validators.validator_for(schema)(schema).is_valid(broken)


def test_mintgate_proxy_redis_and_postgres_all_have_healthchecks() -> None:
    assert {"mintgate", "proxy", "redis", "postgres"} <= set(services())
    for name, service in services().items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"


def test_mintgate_runs_as_non_root_on_a_read_only_filesystem() -> None:
    mintgate = services()["mintgate"]
    assert mintgate["user"].split(":")[0] not in {"0", "root"}
    assert mintgate["read_only"] is True
    assert mintgate["cap_drop"] == ["ALL"]
    assert "ports" not in mintgate, "only the proxy is published"
    assert all(volume["read_only"] for volume in mintgate["volumes"])


def test_signing_key_comes_from_a_compose_secret() -> None:
    mintgate = services()["mintgate"]
    env = mintgate["environment"]
    paths = [PurePosixPath(p) for p in env["MINTGATE_SIGNING_KEY_FILES"].split(",")]
    for path in paths:
        assert path.parent == PurePosixPath("/run/secrets"), path
        assert path.name in mintgate["secrets"]
        assert path.name in compose()["secrets"]


def test_config_files_are_mounted_from_the_repository() -> None:
    mintgate = services()["mintgate"]
    mounts = {v["target"]: v["source"] for v in mintgate["volumes"]}
    for variable in ("MINTGATE_ISSUERS_FILE", "MINTGATE_PUBLISHERS_FILE"):
        target = mintgate["environment"][variable]
        assert target in mounts, f"{variable}={target} is not mounted"
        assert (DEPLOY / mounts[target]).is_file()


def test_redis_url_names_the_redis_service() -> None:
    url = services()["mintgate"]["environment"]["MINTGATE_REDIS_URL"]
    host = re.match(r"rediss?://(?:[^@/]*@)?([^:/]+)", url)
    assert host is not None
    assert host.group(1) in services()


def test_redis_never_evicts_replay_records() -> None:
    command = services()["redis"]["command"]
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
    assert command[command.index("--appendonly") + 1] == "yes"


@pytest.mark.parametrize("service", ["proxy"])
def test_proxy_config_points_at_the_mintgate_service(service: str) -> None:
    mounted = [v["source"] for v in services()[service]["volumes"]]
    assert mounted == ["./nginx.conf"]
    conf = (DEPLOY / "nginx.conf").read_text(encoding="utf-8")
    assert re.search(r"^\s*server mintgate:8000\b", conf, re.MULTILINE)
    assert services()["mintgate"]["deploy"]["replicas"] >= 2


def test_build_uses_the_deploy_dockerfile() -> None:
    build = services()["mintgate"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
