"""deploy/kubernetes/: valid against Kubernetes' own schemas, and consistent with each other."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import kubernetes_validate
import pytest
from deployfiles import (
    KUBERNETES,
    container_env,
    gateway_container,
    manifest_paths,
    manifests,
    mintgate_container,
    one,
)

from service.issuers import load_issuers
from service.trust.toml import load_trust

# Bundled with kubernetes-validate (offline); strict rejects fields the version lacks.
VERSIONS = ["1.30.0", "1.34.0"]
LABELS = {"app.kubernetes.io/name": "mintgate"}


def objects() -> list[Any]:
    return [pytest.param(m, id=f"{m['kind']}/{m['metadata']['name']}") for m in manifests()]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("manifest", objects())
def test_manifest_validates_strictly(manifest: dict[str, Any], version: str) -> None:
    kubernetes_validate.validate(manifest, version, strict=True)


def test_strict_validation_catches_a_misspelt_field() -> None:
    broken = one("Deployment", "mintgate")
    broken["spec"]["template"]["spec"]["containers"][0]["readynessProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSIONS[-1], strict=True)


def test_every_kind_the_brief_asks_for_is_there() -> None:
    kinds = {m["kind"] for m in manifests()}
    assert {
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "ConfigMap",
        "Secret",
    } <= kinds
    assert len(manifest_paths()) >= 6


def test_example_secrets_are_kept_out_of_the_applied_folder() -> None:
    """`kubectl apply -f deploy/kubernetes/` must never overwrite a real Secret."""
    top = [p for p in KUBERNETES.glob("*.yaml")]
    assert not any("kind: Secret" in p.read_text(encoding="utf-8") for p in top)
    for secret in (m for m in manifests() if m["kind"] == "Secret"):
        assert any("PLACEHOLDER" in value for value in secret["stringData"].values())


def test_probes_and_resources() -> None:
    container = mintgate_container()
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert "memory" in container["resources"]["limits"]


def test_pod_runs_non_root_with_a_read_only_root_filesystem() -> None:
    pod = one("Deployment", "mintgate")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    container = mintgate_container()["securityContext"]
    assert container["readOnlyRootFilesystem"] is True
    assert container["allowPrivilegeEscalation"] is False
    assert container["capabilities"]["drop"] == ["ALL"]


def test_service_pdb_and_hpa_select_the_deployment() -> None:
    deployment = one("Deployment", "mintgate")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"] == LABELS
    assert LABELS.items() <= pod_labels.items()
    assert one("Service", "mintgate")["spec"]["selector"] == LABELS
    assert one("PodDisruptionBudget", "mintgate")["spec"]["selector"]["matchLabels"] == LABELS
    target = one("HorizontalPodAutoscaler", "mintgate")["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "mintgate")
    ports = {p["name"] for p in mintgate_container()["ports"]}
    assert one("Service", "mintgate")["spec"]["ports"][0]["targetPort"] in ports


def _mounted_volume(path: str) -> dict[str, Any]:
    """The pod volume mounted at the directory holding `path`."""
    directory = str(PurePosixPath(path).parent)
    mount = next(m for m in mintgate_container()["volumeMounts"] if m["mountPath"] == directory)
    assert mount["readOnly"] is True
    volumes = one("Deployment", "mintgate")["spec"]["template"]["spec"]["volumes"]
    volume: dict[str, Any] = next(v for v in volumes if v["name"] == mount["name"])
    return volume


def test_config_files_come_from_the_configmap() -> None:
    env = container_env(mintgate_container())
    data = one("ConfigMap", "mintgate-config")["data"]
    for variable in ("MINTGATE_ISSUERS_FILE", "MINTGATE_PUBLISHERS_FILE"):
        path = env[variable]["value"]
        assert _mounted_volume(path)["configMap"]["name"] == "mintgate-config"
        assert PurePosixPath(path).name in data


def test_signing_keys_come_from_the_secret() -> None:
    env = container_env(mintgate_container())
    secret = one("Secret", "mintgate-signing-keys")
    for path in env["MINTGATE_SIGNING_KEY_FILES"]["value"].split(","):
        volume = _mounted_volume(path)
        assert volume["secret"]["secretName"] == "mintgate-signing-keys"
        assert PurePosixPath(path).name in secret["stringData"]
    redis = env["MINTGATE_REDIS_URL"]["valueFrom"]["secretKeyRef"]
    assert redis["key"] in one("Secret", redis["name"])["stringData"]


def test_configmap_toml_loads_with_mintgate_own_loaders(tmp_path: Path) -> None:
    data = one("ConfigMap", "mintgate-config")["data"]
    for name, text in data.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    issuers = load_issuers(tmp_path / "issuers.toml", audience="mintgate", leeway=30)
    assert len(issuers) == 2
    assert len(load_trust(tmp_path / "publishers.toml", issuers)) >= 1


def test_each_pod_migrates_the_database_before_it_serves() -> None:
    pod = one("Deployment", "mintgate")["spec"]["template"]["spec"]
    (migrate,) = pod["initContainers"]
    assert migrate["args"] == ["db", "upgrade"]
    assert migrate["image"] == mintgate_container()["image"]
    database = container_env(mintgate_container())["MINTGATE_DATABASE_URL"]
    assert container_env(migrate)["MINTGATE_DATABASE_URL"] == database
    ref = database["valueFrom"]["secretKeyRef"]
    assert one("Secret", ref["name"])["stringData"][ref["key"]].startswith("postgresql://")


@pytest.mark.parametrize("variable", ["MINTGATE_SECRET_KEY_FILE", "MINTGATE_API_TOKEN_KEY_FILE"])
def test_account_keys_come_from_a_secret_every_replica_mounts(variable: str) -> None:
    path = container_env(mintgate_container())[variable]["value"]
    secret = _mounted_volume(path)["secret"]["secretName"]
    assert PurePosixPath(path).name in one("Secret", secret)["stringData"]


def test_gateway_checks_tokens_with_the_replicas_signing_keys() -> None:
    gateway = gateway_container()
    env = container_env(gateway)
    mintgate = container_env(mintgate_container())
    assert env["MINTGATE_GATEWAY_MINTGATE_URL"]["value"] == mintgate["MINTGATE_URL"]["value"]
    keys = env["MINTGATE_GATEWAY_MINTGATE_KEY_FILES"]["value"]
    assert keys == mintgate["MINTGATE_SIGNING_KEY_FILES"]["value"]
    assert (
        env["MINTGATE_GATEWAY_REDIS_URL"]["valueFrom"]
        == mintgate["MINTGATE_REDIS_URL"]["valueFrom"]
    )
    pod = one("Deployment", "mintgate-gateway")["spec"]["template"]["spec"]
    directory = str(PurePosixPath(keys).parent)
    mount = next(m for m in gateway["volumeMounts"] if m["mountPath"] == directory)
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert volume["secret"]["secretName"] == "mintgate-signing-keys"
    database = env["MINTGATE_GATEWAY_DATABASE_URL"]["valueFrom"]
    assert database == mintgate["MINTGATE_DATABASE_URL"]["valueFrom"]
    api_key = env["MINTGATE_GATEWAY_API_TOKEN_KEY_FILE"]["value"]
    assert api_key == mintgate["MINTGATE_API_TOKEN_KEY_FILE"]["value"]
    mount = next(
        m for m in gateway["volumeMounts"] if m["mountPath"] == str(PurePosixPath(api_key).parent)
    )
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert volume["secret"]["secretName"] == "mintgate-account-keys"
    # The gateway gets the API-token key alone, not the key that seals TOTP secrets.
    assert [item["key"] for item in volume["secret"]["items"]] == [PurePosixPath(api_key).name]
    # Its pods are not the mintgate Service's endpoints.
    labels = one("Deployment", "mintgate-gateway")["spec"]["template"]["metadata"]["labels"]
    assert not LABELS.items() <= labels.items()


def test_ingress_sends_uploads_to_the_gateway_with_large_bodies_there_only() -> None:
    routes = {}
    for ingress in (m for m in manifests() if m["kind"] == "Ingress"):
        size = ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"]
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                routes[path["path"]] = (path["backend"]["service"]["name"], size)
    assert routes == {
        "/": ("mintgate", "64k"),
        "/legacy": ("mintgate-gateway", "100m"),
        "/legacy/": ("mintgate-gateway", "100m"),
    }
    assert (
        one("Service", "mintgate-gateway")["spec"]["selector"]
        == (one("Deployment", "mintgate-gateway")["spec"]["selector"]["matchLabels"])
    )
