"""deploy/compose.yaml: valid against the Compose Specification schema, and wired right."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

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


def test_the_whole_registry_is_there_and_every_server_has_a_healthcheck() -> None:
    assert {"mintgate", "gateway", "index", "proxy", "redis", "postgres", "migrate"} <= set(
        services()
    )
    for name, service in services().items():
        if service.get("restart") == "no":
            continue  # a one-shot job: it exits
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"


def test_migrations_run_once_before_the_replicas_start() -> None:
    migrate, mintgate = services()["migrate"], services()["mintgate"]
    assert migrate["command"] == ["db", "upgrade"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert mintgate["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    for name in ("MINTGATE_DATABASE_URL", "PGPASSFILE"):
        assert migrate["environment"][name] == mintgate["environment"][name]


def test_replicas_use_postgresql_without_a_password_in_the_environment() -> None:
    env = services()["mintgate"]["environment"]
    url = urlsplit(env["MINTGATE_DATABASE_URL"])
    assert url.scheme == "postgresql"
    assert url.hostname in services()
    assert url.password is None
    postgres = services()["postgres"]["environment"]
    assert (url.username, url.path) == (postgres["POSTGRES_USER"], "/" + postgres["POSTGRES_DB"])
    assert_secret("mintgate", env["PGPASSFILE"])


def assert_secret(service: str, path: str) -> None:
    secret = PurePosixPath(path)
    assert secret.parent == PurePosixPath("/run/secrets"), path
    assert secret.name in services()[service]["secrets"], (service, path)
    assert secret.name in compose()["secrets"]


@pytest.mark.parametrize(
    "variable",
    ["MINTGATE_SIGNING_KEY_FILES", "MINTGATE_SECRET_KEY_FILE", "MINTGATE_API_TOKEN_KEY_FILE"],
)
def test_every_key_is_a_secret_every_replica_reads(variable: str) -> None:
    for path in services()["mintgate"]["environment"][variable].split(","):
        assert_secret("mintgate", path)


def test_gateway_checks_tokens_with_the_replicas_key_and_redis() -> None:
    mintgate = services()["mintgate"]["environment"]
    gateway = services()["gateway"]["environment"]
    assert gateway["MINTGATE_GATEWAY_MINTGATE_URL"] == mintgate["MINTGATE_URL"]
    assert gateway["MINTGATE_GATEWAY_MINTGATE_KEY_FILES"] == mintgate["MINTGATE_SIGNING_KEY_FILES"]
    assert gateway["MINTGATE_GATEWAY_REDIS_URL"] == mintgate["MINTGATE_REDIS_URL"]
    for path in gateway["MINTGATE_GATEWAY_MINTGATE_KEY_FILES"].split(","):
        assert_secret("gateway", path)
    assert_secret("gateway", gateway["MINTGATE_GATEWAY_BACKEND_PASSWORD_FILE"])


def test_gateway_checks_api_tokens_with_the_replicas_key_and_database() -> None:
    mintgate = services()["mintgate"]["environment"]
    gateway = services()["gateway"]["environment"]
    assert gateway["MINTGATE_GATEWAY_DATABASE_URL"] == mintgate["MINTGATE_DATABASE_URL"]
    assert gateway["PGPASSFILE"] == mintgate["PGPASSFILE"]
    key = gateway["MINTGATE_GATEWAY_API_TOKEN_KEY_FILE"]
    assert key == mintgate["MINTGATE_API_TOKEN_KEY_FILE"]
    for path in (key, gateway["PGPASSFILE"]):
        assert_secret("gateway", path)
    condition = services()["gateway"]["depends_on"]["migrate"]["condition"]
    assert condition == "service_completed_successfully"


def test_gateway_uploads_to_the_demo_index() -> None:
    gateway = services()["gateway"]["environment"]
    backend = urlsplit(gateway["MINTGATE_GATEWAY_BACKEND_URL"])
    assert backend.hostname == "index"
    command = services()["index"]["command"]
    assert command[command.index("-p") + 1] == str(backend.port)
    assert command[command.index("-a") + 1] == "update"  # reads are open, uploads need a user
    assert_secret("index", command[command.index("-P") + 1])


def test_mintgate_runs_as_non_root_on_a_read_only_filesystem() -> None:
    mintgate = services()["mintgate"]
    assert mintgate["user"].split(":")[0] not in {"0", "root"}
    assert mintgate["read_only"] is True
    assert mintgate["cap_drop"] == ["ALL"]
    assert "ports" not in mintgate, "only the proxy is published"
    assert all(volume["read_only"] for volume in mintgate["volumes"])


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
    # The mint journal holds audit records until they reach PostgreSQL: synced before
    # each reply, not once a second.
    assert command[command.index("--appendfsync") + 1] == "always"


@pytest.mark.parametrize("service", ["proxy"])
def test_proxy_config_points_at_the_mintgate_service(service: str) -> None:
    mounted = [v["source"] for v in services()[service]["volumes"]]
    assert mounted == ["./nginx.conf"]
    conf = (DEPLOY / "nginx.conf").read_text(encoding="utf-8")
    assert re.search(r"^\s*server mintgate:8000\b", conf, re.MULTILINE)
    assert services()["mintgate"]["deploy"]["replicas"] >= 2


def test_proxy_sends_uploads_to_the_gateway_and_allows_large_bodies_there_only() -> None:
    conf = (DEPLOY / "nginx.conf").read_text(encoding="utf-8")
    port = services()["gateway"]["environment"]["MINTGATE_GATEWAY_PORT"]
    assert re.search(rf"^\s*server gateway:{port}\b", conf, re.MULTILINE)
    legacy = re.search(r"location ~ \^/legacy/\?\$ \{(.*?)\}", conf, re.DOTALL)
    assert legacy is not None
    assert "proxy_pass http://gateway;" in legacy.group(1)
    sizes = re.findall(r"client_max_body_size (\w+);", conf)
    assert sizes == ["64k", "100m"]  # the server-wide cap, then the upload location's
    assert "client_max_body_size 100m;" in legacy.group(1)


def test_build_uses_the_deploy_dockerfile() -> None:
    build = services()["mintgate"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
