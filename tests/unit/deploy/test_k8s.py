"""deploy/k8s against the Kubernetes API schemas and against riskrelay itself.

Every built-in resource is validated (strictly: unknown fields are errors) with
``kubernetes-validate``'s schemas for the Kubernetes versions pinned below. The KEDA
ScaledObject is a custom resource those schemas do not have; KEDA's CRD is not vendored
here, so it gets a structural check written from KEDA's ScaledObject and kafka scaler
reference (``SCALED_OBJECT`` below), its HPA behaviour is validated as the Kubernetes
type it is, and its numbers are checked against the ConfigMap. The reference checks
(names, env vars, probes' ports) are in test_compose_and_manifests.py.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from riskrelay.routing import load_routing
from riskrelay.settings import Settings
from tests.unit.deploy.test_compose_and_manifests import K8S_DIR, REPO, _settings_with

# The oldest Kubernetes release the manifests claim to support and a current one.
KUBERNETES_VERSIONS = ("1.29.0", "1.33.0")
CUSTOM_RESOURCES = {"keda.sh/v1alpha1"}


def _docs() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in sorted(K8S_DIR.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        docs += [(path.name, d) for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def _one(kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for _, d in _docs() if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    assert len(found) == 1, f"expected one {kind} {name or ''}"
    return found[0]


@pytest.fixture
def config_settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The settings a pod gets from the riskrelay-config ConfigMap."""
    return _settings_with(monkeypatch, _one("ConfigMap", "riskrelay-config")["data"])


# --------------------------------------------------------------------------- kubernetes schemas


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_manifests_validate_against_the_kubernetes_schemas(version: str) -> None:
    validated = 0
    for file, doc in _docs():
        if doc["apiVersion"] in CUSTOM_RESOURCES:
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{file}: {doc['kind']}/{doc['metadata']['name']}: {exc.message}")
        validated += 1
    assert validated >= 8


def test_the_validator_rejects_mistakes() -> None:
    """A misspelt field and a wrong type are caught: the check above can fail."""
    statefulset = _one("StatefulSet")
    typo = copy.deepcopy(statefulset)
    container = typo["spec"]["template"]["spec"]["containers"][0]
    container["livenesProbe"] = container.pop("livenessProbe")
    wrong_type = copy.deepcopy(statefulset)
    wrong_type["spec"]["replicas"] = "three"
    for doc in (typo, wrong_type):
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(doc, KUBERNETES_VERSIONS[-1], strict=True)


# --------------------------------------------------------------------------- KEDA ScaledObject

_INT = {"type": "integer", "minimum": 0}
# keda.sh/v1alpha1 ScaledObject, the fields this project may use (KEDA 2.x reference).
SCALED_OBJECT: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "ScaledObject"},
        "metadata": {"type": "object", "required": ["name"]},
        "spec": {
            "type": "object",
            "required": ["scaleTargetRef", "triggers"],
            "additionalProperties": False,
            "properties": {
                "scaleTargetRef": {
                    "type": "object",
                    "required": ["name"],
                    "additionalProperties": False,
                    "properties": {
                        "apiVersion": {"type": "string"},
                        "kind": {"type": "string"},
                        "name": {"type": "string", "minLength": 1},
                        "envSourceContainerName": {"type": "string"},
                    },
                },
                "pollingInterval": {"type": "integer", "minimum": 1},
                "cooldownPeriod": _INT,
                "initialCooldownPeriod": _INT,
                "idleReplicaCount": _INT,
                "minReplicaCount": _INT,
                "maxReplicaCount": {"type": "integer", "minimum": 1},
                "fallback": {
                    "type": "object",
                    "required": ["failureThreshold", "replicas"],
                    "properties": {"failureThreshold": _INT, "replicas": _INT},
                },
                "advanced": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "restoreToOriginalReplicaCount": {"type": "boolean"},
                        "horizontalPodAutoscalerConfig": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                "name": {"type": "string"},
                                "behavior": {"type": "object"},  # checked as the k8s type
                            },
                        },
                    },
                },
                "triggers": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["type", "metadata"],
                        "additionalProperties": False,
                        "properties": {
                            "type": {"type": "string"},
                            "name": {"type": "string"},
                            "metricType": {"enum": ["AverageValue", "Value", "Utilization"]},
                            "useCachedMetrics": {"type": "boolean"},
                            # KEDA reads every metadata value as a string.
                            "metadata": {
                                "type": "object",
                                "additionalProperties": {"type": "string"},
                            },
                            "authenticationRef": {
                                "type": "object",
                                "required": ["name"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "kind": {
                                        "enum": [
                                            "TriggerAuthentication",
                                            "ClusterTriggerAuthentication",
                                        ]
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}
# The kafka scaler's metadata parameters (KEDA's Apache Kafka scaler reference).
KAFKA_SCALER_PARAMETERS = {
    "bootstrapServers",
    "consumerGroup",
    "topic",
    "partitionLimitation",
    "lagThreshold",
    "activationLagThreshold",
    "offsetResetPolicy",
    "allowIdleConsumers",
    "scaleToZeroOnInvalidOffset",
    "excludePersistentLag",
    "limitToPartitionsWithLag",
    "ensureEvenDistributionOfPartitions",
    "version",
    "sasl",
    "tls",
    "unsafeSsl",
}
_BOOLEAN_TEXT = {"true", "false"}


def _scaled_object_errors(doc: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft202012Validator(SCALED_OBJECT)
    return [f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(doc)]


def test_scaled_object_structure() -> None:
    scaled = _one("ScaledObject")
    assert not _scaled_object_errors(scaled)
    # The check can fail: a misspelt field, an unquoted number in metadata.
    broken = copy.deepcopy(scaled)
    broken["spec"]["maxReplicas"] = broken["spec"].pop("maxReplicaCount")
    broken["spec"]["triggers"][0]["metadata"]["lagThreshold"] = 5000
    errors = _scaled_object_errors(broken)
    assert any("maxReplicas" in e for e in errors), errors
    assert any("lagThreshold" in e for e in errors), errors


def test_scaled_object_scales_the_workers_on_their_lag(config_settings: Settings) -> None:
    scaled = _one("ScaledObject")["spec"]
    statefulset = _one("StatefulSet")
    target = scaled["scaleTargetRef"]
    assert (target["apiVersion"], target.get("kind")) == ("apps/v1", "StatefulSet")
    assert target["name"] == statefulset["metadata"]["name"]

    (trigger,) = scaled["triggers"]
    assert trigger["type"] == "kafka"
    metadata = trigger["metadata"]
    assert set(metadata) <= KAFKA_SCALER_PARAMETERS, set(metadata) - KAFKA_SCALER_PARAMETERS
    assert metadata["bootstrapServers"] == config_settings.kafka.bootstrap
    assert metadata["consumerGroup"] == config_settings.worker.group_id
    assert "topic" not in metadata or metadata["topic"] in config_settings.topics.inputs
    assert int(metadata["lagThreshold"]) > 0
    assert metadata["offsetResetPolicy"] == "earliest"  # what the worker's consumer does
    for flag in ("allowIdleConsumers", "scaleToZeroOnInvalidOffset"):
        assert metadata.get(flag, "false") in _BOOLEAN_TEXT

    # Co-partitioned inputs: a worker beyond the partition count gets no partition.
    assert 1 <= scaled["minReplicaCount"] <= scaled["maxReplicaCount"]
    assert scaled["maxReplicaCount"] <= config_settings.kafka.partitions
    assert scaled["minReplicaCount"] <= statefulset["spec"]["replicas"]
    assert statefulset["spec"]["replicas"] <= scaled["maxReplicaCount"]


def test_scaled_object_behaviour_is_a_valid_hpa_behaviour() -> None:
    """KEDA passes it to the HorizontalPodAutoscaler it creates: validate it as one."""
    behavior = _one("ScaledObject")["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "riskrelay-worker"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "w"},
            "minReplicas": 2,
            "maxReplicas": 12,
            "behavior": behavior,
        },
    }
    for version in KUBERNETES_VERSIONS:
        kubernetes_validate.validate(hpa, version, strict=True)
    # Scale-down slower than scale-up: every change is a rebalance and a state restore.
    down, up = behavior["scaleDown"], behavior["scaleUp"]
    assert down["stabilizationWindowSeconds"] > up["stabilizationWindowSeconds"]


# --------------------------------------------------------------------------- the workers


def _container(workload: dict[str, Any]) -> dict[str, Any]:
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    return container


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


def _mounted(workload: dict[str, Any], path: str) -> dict[str, Any] | None:
    """The volume whose mount holds ``path``."""
    volumes = {v["name"]: v for v in workload["spec"]["template"]["spec"]["volumes"]}
    for mount in _container(workload).get("volumeMounts", []):
        if Path(path).is_relative_to(mount["mountPath"]):
            return volumes[mount["name"]]
    return None


def test_worker_grace_period_covers_its_shutdown(config_settings: Settings) -> None:
    """SIGTERM: in-flight records get the shutdown timeout, the revocation commit its
    own, and the last commit and producer flush (up to 10 s) must fit after them."""
    worker = config_settings.worker
    grace = _one("StatefulSet")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace >= worker.shutdown_timeout_s + worker.revoke_commit_timeout_s + 15


def test_worker_probes_are_its_health_endpoints(config_settings: Settings) -> None:
    container = _container(_one("StatefulSet"))
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        action = container[probe]["httpGet"]
        assert action["path"] == path
        assert ports[action["port"]] == config_settings.worker.metrics_port


def test_worker_reads_the_mounted_routing_file(tmp_path: Path) -> None:
    statefulset = _one("StatefulSet")
    path = _env(_container(statefulset))["RISKRELAY_ROUTING_FILE"]
    volume = _mounted(statefulset, path)
    assert volume is not None and volume["configMap"]["name"] == "riskrelay-routing"
    mount = next(m for m in _container(statefulset)["volumeMounts"] if m["name"] == "routing")
    key = Path(path).relative_to(mount["mountPath"]).as_posix()
    routing = _one("ConfigMap", "riskrelay-routing")["data"][key]
    assert routing == (REPO / "config" / "routing.yaml").read_text(), (
        "riskrelay-routing must hold config/routing.yaml verbatim"
    )
    copy_path = tmp_path / "routing.yaml"
    copy_path.write_text(routing)
    assert load_routing(str(copy_path)) is not None  # valid as the worker will load it


def test_writable_paths_are_volumes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Root filesystems are read-only: whatever the processes write is on a volume."""
    for workload in (_one("StatefulSet"), _one("Deployment")):
        container = _container(workload)
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        tmp = _mounted(workload, "/tmp/riskrelay-state-x")  # tempfile: the worker's RocksDB
        assert tmp is not None and "emptyDir" in tmp
    api = _one("Deployment")
    env = {**_one("ConfigMap", "riskrelay-config")["data"], **_env(_container(api))}
    settings = _settings_with(monkeypatch, env)
    assert settings.api.view_store == "rocksdb"
    assert settings.api.view_dir is not None
    view = _mounted(api, settings.api.view_dir)
    assert view is not None and "emptyDir" in view, "the API's view must be on a volume"


def test_every_manifest_is_in_the_kustomization() -> None:
    kustomization = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    files = {p.name for p in K8S_DIR.glob("*.yaml")} - {"kustomization.yaml"}
    # Secrets are created out of band (real values), never from the example.
    assert listed == files - {"secret.example.yaml"}
