"""Static checks of the deployment files against the code they run.

Nothing here starts a container: the files are parsed and every name they use (CLI
sub-commands and options, ``RISKRELAY_*`` variables and their values, compose services,
mounted paths, metric names, Kubernetes references) is checked against the package, so a
renamed setting, command or metric breaks a test instead of a deployment.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import os
import re
import shlex
import threading
from collections.abc import Iterator, Mapping
from fnmatch import fnmatch
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import typer
import yaml
from fastapi.routing import APIRoute
from pydantic import BaseModel
from pydantic_settings import BaseSettings

import riskrelay.settings
from riskrelay.cli.app import app
from riskrelay.metrics import WorkerMetrics
from riskrelay.sandbox import server as sandbox_server
from riskrelay.settings import PROVIDERS, Settings

REPO = Path(__file__).resolve().parents[3]
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
GRAFANA_DIR = REPO / "deploy" / "grafana"
K8S_DIR = REPO / "deploy" / "k8s"

ENV_NAME = re.compile(r"\bRISKRELAY_[A-Z0-9_]+\b")
METRIC_NAME = re.compile(r"\briskrelay_[a-z0-9_]+\b")
SETTINGS_MODULES = (riskrelay.settings, sandbox_server)
# Keys the sandboxes accept by default, for providers whose sandbox module is not there yet.
SANDBOX_DEFAULT_KEYS = {
    "coinflow": "sandbox-coinflow-key",
    "unit21": "sandbox-unit21-key",
    "dataspike": "sandbox-dataspike-key",
    "stripe": "sk_test_sandbox",
}
K8S_API_VERSIONS = {
    "ConfigMap": "v1",
    "Secret": "v1",
    "Service": "v1",
    "Deployment": "apps/v1",
    "StatefulSet": "apps/v1",
    "PodDisruptionBudget": "policy/v1",
    "ScaledObject": "keda.sh/v1alpha1",
}


# --------------------------------------------------------------------------- helpers


def _nests_settings(annotation: Any) -> bool:
    """A field holding other settings (``Settings.kafka``, ``Settings.providers``...)."""
    if not inspect.isclass(annotation):
        return False
    if issubclass(annotation, BaseSettings):
        return True
    return issubclass(annotation, BaseModel) and any(
        _nests_settings(field.annotation) for field in annotation.model_fields.values()
    )


def valid_env_names() -> frozenset[str]:
    """``env_prefix + FIELD`` for every ``RISKRELAY_`` settings class in the package."""
    names: set[str] = set()
    for module in SETTINGS_MODULES:
        for cls in vars(module).values():
            if not (inspect.isclass(cls) and issubclass(cls, BaseSettings)):
                continue
            prefix = str(cls.model_config.get("env_prefix", ""))
            if not prefix.startswith("RISKRELAY_"):
                continue
            for name, field in cls.model_fields.items():
                if not _nests_settings(field.annotation):
                    names.add(f"{prefix}{name}".upper())
    return frozenset(names)


def unknown_env_names(names: set[str]) -> set[str]:
    return names - valid_env_names()


def _cli() -> Any:
    return typer.main.get_command(app)


def cli_error(args: list[str]) -> str | None:
    """Why ``riskrelay <args>`` would not parse (unknown command, option, bad value)."""
    command = _cli()
    path = ["riskrelay"]
    rest = list(args)
    while hasattr(command, "commands"):  # a group: the next word names a sub-command
        if not rest or rest[0] not in command.commands:
            known = ", ".join(sorted(command.commands))
            word = rest[0] if rest else "(nothing)"
            return f"{' '.join(path)}: {word!r} is not a sub-command (known: {known})"
        path.append(rest[0])
        command = command.commands[rest.pop(0)]
    try:
        command.make_context(" ".join(path), rest)
    except Exception as exc:  # click's UsageError family (typer vendors click)
        return f"{' '.join([*path, *rest])}: {exc}"
    return None


def _exposed_names(exposition: str) -> set[str]:
    """Queryable series names from ``# TYPE`` lines: counters end in ``_total``, histograms
    are queried through ``_bucket``/``_sum``/``_count``, gauges by their name."""
    names: set[str] = set()
    for line in exposition.splitlines():
        if not line.startswith("# TYPE "):
            continue
        _, _, name, kind = line.split()
        if name.endswith("_created"):
            continue
        if kind == "histogram":
            names.update(f"{name}{suffix}" for suffix in ("_bucket", "_sum", "_count"))
        else:
            names.add(name)
    return names


class _IdleView:
    ready = threading.Event()

    def __len__(self) -> int:
        return 0


def known_metric_names() -> frozenset[str]:
    """Every series the worker and the API export, from their real registries."""
    from prometheus_client import generate_latest

    from riskrelay.api.app import create_app

    worker = generate_latest(WorkerMetrics().registry).decode()
    api_app = create_app(_IdleView())  # type: ignore[arg-type]
    (route,) = [r for r in api_app.routes if isinstance(r, APIRoute) and r.path == "/metrics"]
    api = asyncio.run(route.endpoint()).body.decode()
    return frozenset(_exposed_names(worker) | _exposed_names(api))


def unknown_metrics(expr: str) -> set[str]:
    return set(METRIC_NAME.findall(expr)) - known_metric_names()


def _load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _env(service: Mapping[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        pairs = (item.split("=", 1) for item in environment)
        return {k: v for k, v in pairs}
    return {str(k): "" if v is None else str(v) for k, v in environment.items()}


def _dockerfile_exec_form(instruction: str) -> list[str]:
    lines = [
        line for line in DOCKERFILE.read_text().splitlines() if line.startswith(f"{instruction} ")
    ]
    assert lines, f"Dockerfile has no {instruction}"
    value = json.loads(lines[-1][len(instruction) + 1 :])
    assert isinstance(value, list), f"{instruction} must use the exec (JSON) form"
    return [str(v) for v in value]


def _argv(value: Any) -> list[str]:
    return shlex.split(value) if isinstance(value, str) else [str(v) for v in value]


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


def _ports(spec: str) -> list[int]:
    low, _, high = spec.partition("-")
    return list(range(int(low), int(high or low) + 1))


def _published(service: Mapping[str, Any]) -> set[tuple[int, int]]:
    """``[ip:]host:container`` port mappings (ranges expanded) → {(host, container)}."""
    pairs = set()
    for entry in service.get("ports") or []:
        parts = str(entry).split("/")[0].split(":")
        assert len(parts) >= 2, f"{entry}: publish host and container port explicitly"
        host, container = _ports(parts[-2]), _ports(parts[-1])
        assert len(host) == len(container), entry
        pairs |= set(zip(host, container, strict=True))
    return pairs


def _listeners(value: str) -> dict[str, tuple[str, int]]:
    """``NAME://host:port,...`` → {NAME: (host, port)}."""
    result = {}
    for item in value.split(","):
        name, _, address = item.strip().partition("://")
        result[name] = _host_port(address)
    return result


@pytest.fixture
def isolated_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith("RISKRELAY_"):
            monkeypatch.delenv(name)
    return monkeypatch


def _settings_with(monkeypatch: pytest.MonkeyPatch, env: Mapping[str, str]) -> Settings:
    """The settings a process would load with ``env`` (values are validated)."""
    for name in list(os.environ):
        if name.startswith("RISKRELAY_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    sandbox_server.SandboxSettings()
    return Settings()


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = _load_yaml(COMPOSE_FILE)
    assert isinstance(data, dict)
    assert isinstance(data.get("services"), dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]  # type: ignore[no-any-return]


def _is_riskrelay(service: Mapping[str, Any]) -> bool:
    return "build" in service or str(service.get("image", "")).startswith("riskrelay")


@pytest.fixture(scope="module")
def riskrelay_argv(services: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """Each riskrelay service's argv after the ``riskrelay`` entrypoint."""
    argv = {}
    for name, service in services.items():
        if not _is_riskrelay(service):
            continue
        entrypoint = _argv(service.get("entrypoint", _dockerfile_exec_form("ENTRYPOINT")))
        assert entrypoint[:1] == ["riskrelay"], f"{name}: entrypoint {entrypoint} is not riskrelay"
        command = _argv(service.get("command", _dockerfile_exec_form("CMD")))
        argv[name] = entrypoint[1:] + command
    assert argv, "no service runs the riskrelay image"
    return argv


def _role(argv: dict[str, list[str]], command: str) -> str:
    names = [name for name, args in argv.items() if args[:1] == [command]]
    assert len(names) == 1, f"expected one compose service running 'riskrelay {command}'"
    return names[0]


@pytest.fixture(scope="module")
def k8s_docs() -> list[tuple[str, dict[str, Any]]]:
    # kustomization.yaml is kustomize's input, not a cluster resource (test_k8s.py).
    files = sorted(p for p in K8S_DIR.glob("*.yaml") if p.name != "kustomization.yaml")
    assert files, "no manifests in deploy/k8s"
    docs = []
    for path in files:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                docs.append((path.name, doc))
    return docs


def _k8s(docs: list[tuple[str, dict[str, Any]]], kind: str) -> list[dict[str, Any]]:
    return [doc for _, doc in docs if doc.get("kind") == kind]


def _containers(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    return doc["spec"]["template"]["spec"]["containers"]  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- the checkers fail


def test_checkers_reject_typos() -> None:
    """The helpers the tests below rely on do catch mistakes."""
    assert cli_error(["worker"]) is None
    assert cli_error(["topics", "create"]) is None
    assert cli_error(["sandbox", "--host", "0.0.0.0"]) is None
    assert cli_error(["wroker"]) is not None
    assert cli_error(["topics", "craete"]) is not None
    assert cli_error(["topics"]) is not None
    assert cli_error(["sandbox", "--hots", "0.0.0.0"]) is not None
    assert cli_error(["sandbox", "--port", "eighty"]) is not None

    assert unknown_env_names({"RISKRELAY_WORKER_METRICS_HOST", "RISKRELAY_STRIPE_API_KEY"}) == set()
    assert unknown_env_names({"RISKRELAY_WORKER_METRICS_HOTS"}) == {"RISKRELAY_WORKER_METRICS_HOTS"}
    assert unknown_env_names({"RISKRELAY_KAFKA"}) == {"RISKRELAY_KAFKA"}  # a nested model

    assert unknown_metrics("rate(riskrelay_events_consumed_total[5m])") == set()
    assert unknown_metrics("rate(riskrelay_events_consumed[5m])") == {"riskrelay_events_consumed"}
    assert unknown_metrics("riskrelay_end_to_end_seconds") == {"riskrelay_end_to_end_seconds"}


def test_valid_env_names_come_from_the_settings_classes() -> None:
    names = valid_env_names()
    expected = {
        "RISKRELAY_KAFKA_BOOTSTRAP",
        "RISKRELAY_TOPIC_PREFIX",
        "RISKRELAY_SCHEMA_REGISTRY_URL",
        "RISKRELAY_WORKER_INSTANCE_ID",
        "RISKRELAY_WORKER_METRICS_HOST",
        "RISKRELAY_API_HOST",
        "RISKRELAY_DEV_BROKER_PORT",
        "RISKRELAY_DATA_DIR",
        "RISKRELAY_SANDBOX_PROCESSING_DELAY_S",
    }
    expected |= {
        f"RISKRELAY_{p.upper()}_{f}"
        for p in PROVIDERS
        for f in ("BASE_URL", "API_KEY", "TIMEOUT_S", "ENABLED")
    }
    assert expected <= names
    assert not {"RISKRELAY_KAFKA", "RISKRELAY_PROVIDERS", "RISKRELAY_WORKER"} & names


# --------------------------------------------------------------------------- image


def test_dockerfile_runs_riskrelay_as_non_root() -> None:
    text = DOCKERFILE.read_text()
    assert _dockerfile_exec_form("ENTRYPOINT") == ["riskrelay"]
    cmd = _dockerfile_exec_form("CMD")
    assert cmd == ["worker"]
    assert cli_error(cmd) is None
    assert "python:3.11-slim" in text
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert users, "the image must not run as root"
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert not unknown_env_names(set(ENV_NAME.findall(text)))


def test_dockerignore_keeps_the_build_context_and_drops_the_rest() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for required in (".venv", ".git", ".riskrelay"):
        assert required in patterns, f".dockerignore must exclude {required}"
    assert any("__pycache__" in p for p in patterns)
    # Everything the Dockerfile copies must survive the ignore rules.
    copied = re.findall(r"^COPY\s+(?!--from)(.+)\s+\S+$", DOCKERFILE.read_text(), re.MULTILINE)
    sources = [src for line in copied for src in line.split()]
    assert sources, "the Dockerfile copies nothing from the checkout"
    for source in sources:
        assert (REPO / source).exists(), f"Dockerfile copies missing {source}"
        hits = [p for p in patterns if fnmatch(source, p.removeprefix("**/"))]
        assert not hits, f".dockerignore drops {source}, which the build needs ({hits})"
    # The package metadata names its readme and the wheel force-includes schemas/.
    pyproject = (REPO / "pyproject.toml").read_text()
    assert '"schemas" = "riskrelay/_avsc"' in pyproject
    assert "schemas" in sources
    assert "README.md" in sources


# --------------------------------------------------------------------------- compose


def test_compose_commands_are_real_subcommands(riskrelay_argv: dict[str, list[str]]) -> None:
    errors = [f"{name}: {err}" for name, a in riskrelay_argv.items() if (err := cli_error(a))]
    assert not errors, "\n".join(errors)
    roles = {args[0] for args in riskrelay_argv.values()}
    assert {"worker", "api", "sandbox", "topics"} <= roles


def test_compose_env_vars_are_real_settings(services: dict[str, dict[str, Any]]) -> None:
    used = set(ENV_NAME.findall(COMPOSE_FILE.read_text()))
    for service in services.values():
        used |= {k for k in _env(service) if k.startswith("RISKRELAY")}
    assert used, "compose sets no RISKRELAY_ variable"
    assert not unknown_env_names(used), f"not settings: {sorted(unknown_env_names(used))}"


def test_compose_env_values_are_valid_settings(
    services: dict[str, dict[str, Any]], isolated_env: pytest.MonkeyPatch
) -> None:
    for name, service in services.items():
        if _is_riskrelay(service):
            try:
                _settings_with(isolated_env, _env(service))
            except Exception as exc:
                pytest.fail(f"{name}: its environment does not load: {exc}")


def test_compose_depends_on_targets_exist(services: dict[str, dict[str, Any]]) -> None:
    conditions = {"service_started", "service_healthy", "service_completed_successfully"}
    for name, service in services.items():
        depends = service.get("depends_on") or {}
        if isinstance(depends, list):
            depends = {target: {"condition": "service_started"} for target in depends}
        for target, spec in depends.items():
            assert target in services, f"{name} depends on unknown service {target}"
            assert target != name
            condition = (spec or {}).get("condition", "service_started")
            assert condition in conditions, f"{name} → {target}: bad condition {condition}"
            if condition == "service_healthy":
                assert "healthcheck" in services[target], f"{target} has no healthcheck"


def test_compose_mounts_exist(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    for name, service in compose["services"].items():
        for volume in service.get("volumes") or []:
            if isinstance(volume, dict):
                source, kind = str(volume.get("source", "")), volume.get("type")
            else:
                source = str(volume).split(":", 1)[0]
                kind = "bind" if source.startswith((".", "/", "~")) else "volume"
            if kind == "bind":
                assert not source.startswith(("/", "~")), f"{name}: {source} is outside the repo"
                assert (REPO / source).exists(), f"{name} mounts missing {source}"
            elif source:
                assert source in declared, f"{name} uses undeclared volume {source}"


def test_compose_kafka_listeners(services: dict[str, dict[str, Any]]) -> None:
    kafka = _env(services["kafka"])
    assert "broker" in kafka["KAFKA_PROCESS_ROLES"]
    assert "controller" in kafka["KAFKA_PROCESS_ROLES"]
    listeners = _listeners(kafka["KAFKA_LISTENERS"])
    advertised = _listeners(kafka["KAFKA_ADVERTISED_LISTENERS"])
    protocols = dict(
        item.split(":") for item in kafka["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")
    )
    controller = kafka["KAFKA_CONTROLLER_LISTENER_NAMES"]
    inter_broker = kafka["KAFKA_INTER_BROKER_LISTENER_NAME"]

    assert set(listeners) <= set(protocols)
    assert set(advertised) <= set(listeners)
    assert controller in listeners
    assert controller not in advertised
    assert inter_broker in advertised
    for name, (_, port) in advertised.items():
        assert listeners[name][1] == port, f"{name} advertises another port than it listens on"
    # Inside the network: the service name, which every client is given.
    assert advertised[inter_broker][0] == "kafka"
    assert "kafka" in services
    voter_id, _, voter = kafka["KAFKA_CONTROLLER_QUORUM_VOTERS"].partition("@")
    assert voter_id == str(kafka["KAFKA_NODE_ID"])
    assert _host_port(voter) == ("kafka", listeners[controller][1])
    # On the host: localhost:29092, published on the same port.
    assert advertised["EXTERNAL"] == ("localhost", 29092)
    assert (29092, 29092) in _published(services["kafka"])

    internal = {f"{host}:{port}" for host, port in advertised.values() if host == "kafka"}
    registry = _env(services["schema-registry"])
    assert registry["SCHEMA_REGISTRY_KAFKASTORE_BOOTSTRAP_SERVERS"].split("://")[-1] in internal
    for name, service in services.items():
        bootstrap = _env(service).get("RISKRELAY_KAFKA_BOOTSTRAP")
        if bootstrap is not None:
            assert bootstrap in internal, f"{name} bootstraps from {bootstrap}"
        if _is_riskrelay(service) and "RISKRELAY_KAFKA_BOOTSTRAP" not in _env(service):
            assert service.get("command", [""])[0] == "sandbox", f"{name} has no Kafka"


def test_compose_registry_is_the_schema_registry_service(
    services: dict[str, dict[str, Any]],
) -> None:
    registry = _env(services["schema-registry"])
    port = urlsplit(registry["SCHEMA_REGISTRY_LISTENERS"]).port
    for name, service in services.items():
        url = _env(service).get("RISKRELAY_SCHEMA_REGISTRY_URL")
        if url is not None:
            parts = urlsplit(url)
            assert (parts.hostname, parts.port) == ("schema-registry", port), name


def test_compose_workers_reach_the_sandboxes(
    services: dict[str, dict[str, Any]],
    riskrelay_argv: dict[str, list[str]],
    isolated_env: pytest.MonkeyPatch,
) -> None:
    worker_name = _role(riskrelay_argv, "worker")
    sandboxes_name = _role(riskrelay_argv, "sandbox")
    worker = services[worker_name]
    assert worker["deploy"]["replicas"] == 2
    assert "container_name" not in worker, "replicas cannot share a container name"
    settings = _settings_with(isolated_env, _env(worker))
    sandbox_env = _env(services[sandboxes_name])
    published = _published(services[sandboxes_name])
    for provider in PROVIDERS:
        conf = settings.providers.get(provider)
        url = urlsplit(conf.base_url or "")
        port = sandbox_server.DEFAULT_PORTS[provider]
        assert (url.hostname, url.port) == (sandboxes_name, port), provider
        assert conf.api_key is not None, provider
        key = conf.api_key.get_secret_value()
        try:
            module = importlib.import_module(f"riskrelay.sandbox.{provider}")
        except ImportError:
            expected = SANDBOX_DEFAULT_KEYS[provider]
        else:
            expected = getattr(module, "DEFAULT_API_KEY", SANDBOX_DEFAULT_KEYS[provider])
        assert key == expected, f"{provider}: worker key is not the sandbox default"
        sandbox_key = sandbox_env.get(f"RISKRELAY_{provider.upper()}_API_KEY", key)
        assert sandbox_key == key, f"{provider}: sandbox and worker keys differ"
        assert (port, port) in published, f"{provider} sandbox port {port} not published"
    assert riskrelay_argv[sandboxes_name][1:3] == ["--host", "0.0.0.0"]
    health = " ".join(_argv(services[sandboxes_name]["healthcheck"]["test"]))
    health_ports = {int(p) for p in re.findall(r":(\d+)/", health)}
    assert health_ports, "sandbox healthcheck names no port"
    implemented = {sandbox_server.DEFAULT_PORTS[p] for p in sandbox_server.available_providers()}
    assert health_ports <= implemented, "healthcheck probes a sandbox that does not exist yet"


def test_compose_worker_and_api_order_and_bind(
    services: dict[str, dict[str, Any]],
    riskrelay_argv: dict[str, list[str]],
    isolated_env: pytest.MonkeyPatch,
) -> None:
    topics = _role(riskrelay_argv, "topics")
    assert riskrelay_argv[topics] == ["topics", "create"]
    for role in ("worker", "api"):
        name = _role(riskrelay_argv, role)
        depends = services[name]["depends_on"]
        assert depends[topics]["condition"] == "service_completed_successfully"
        assert depends["schema-registry"]["condition"] == "service_healthy"
    assert "sandboxes" in services[_role(riskrelay_argv, "worker")]["depends_on"]

    api_name = _role(riskrelay_argv, "api")
    api = _settings_with(isolated_env, _env(services[api_name])).api
    assert api.host == "0.0.0.0"
    assert (api.port, api.port) in _published(services[api_name])
    health = " ".join(_argv(services[api_name]["healthcheck"]["test"]))
    assert f":{api.port}/readyz" in health


def _mounts(service: Mapping[str, Any]) -> dict[str, str]:
    """``source:target[:mode]`` volume entries → {target: source}."""
    mounts = {}
    for volume in service.get("volumes") or []:
        source, target = str(volume).split(":")[:2]
        mounts[target] = source
    return mounts


def _under(mounts: Mapping[str, str], path: str) -> tuple[str, str] | None:
    """(mount target, source) of the mount holding ``path``."""
    for target, source in mounts.items():
        if Path(path).is_relative_to(target):
            return target, source
    return None


def test_compose_images_are_the_issue_s(services: dict[str, dict[str, Any]]) -> None:
    """Apache Kafka's official image in KRaft mode, a Confluent-API registry."""
    assert str(services["kafka"]["image"]).startswith("apache/kafka:")
    assert "ZOOKEEPER" not in " ".join(_env(services["kafka"]))
    registry = str(services["schema-registry"]["image"])
    assert registry.startswith(("confluentinc/cp-schema-registry:", "ghcr.io/aiven-open/karapace"))


def test_compose_api_view_is_on_a_volume(
    compose: dict[str, Any],
    riskrelay_argv: dict[str, list[str]],
    isolated_env: pytest.MonkeyPatch,
) -> None:
    api = compose["services"][_role(riskrelay_argv, "api")]
    settings = _settings_with(isolated_env, _env(api))
    assert settings.api.view_store == "rocksdb"
    assert settings.api.view_dir is not None
    held = _under(_mounts(api), settings.api.view_dir)
    assert held is not None, "the API's view directory is not on a volume"
    target, source = held
    assert source in (compose.get("volumes") or {}), "a named volume, kept across restarts"
    # A named volume takes the owner of the image's directory: the image must create it
    # for its non-root user, or the API cannot write its view.
    owned = re.search(rf"install -d -o (\S+) -g \S+ {re.escape(target)}\b", DOCKERFILE.read_text())
    assert owned, f"the Dockerfile does not create {target} for the runtime user"


def test_compose_worker_routing_file_is_mounted(
    services: dict[str, dict[str, Any]],
    riskrelay_argv: dict[str, list[str]],
    isolated_env: pytest.MonkeyPatch,
) -> None:
    from riskrelay.routing import load_routing

    worker = services[_role(riskrelay_argv, "worker")]
    settings = _settings_with(isolated_env, _env(worker))
    assert settings.routing_file is not None
    held = _under(_mounts(worker), settings.routing_file)
    assert held is not None, "RISKRELAY_ROUTING_FILE is not inside a mount"
    target, source = held
    on_host = REPO / source / Path(settings.routing_file).relative_to(target)
    assert on_host.is_file()
    assert load_routing(str(on_host)) is not None


def test_compose_worker_healthcheck_is_its_liveness_endpoint(
    services: dict[str, dict[str, Any]],
    riskrelay_argv: dict[str, list[str]],
    isolated_env: pytest.MonkeyPatch,
) -> None:
    worker = services[_role(riskrelay_argv, "worker")]
    port = _settings_with(isolated_env, _env(worker)).worker.metrics_port
    health = " ".join(_argv(worker["healthcheck"]["test"]))
    assert f":{port}/healthz" in health


def test_compose_prometheus_loads_the_alert_rules(services: dict[str, dict[str, Any]]) -> None:
    config = _load_yaml(PROMETHEUS_DIR / "prometheus.yml")
    assert "alerts.yml" in config.get("rule_files", [])
    mounts = _mounts(services["prometheus"])
    assert (REPO / mounts["/etc/prometheus"] / "alerts.yml").is_file()


# --------------------------------------------------------------------------- prometheus


def _scrape_targets(config: Mapping[str, Any]) -> dict[str, list[tuple[str, int]]]:
    targets: dict[str, list[tuple[str, int]]] = {}
    for job in config["scrape_configs"]:
        found = []
        for static in job.get("static_configs", []):
            found += [_host_port(t) for t in static["targets"]]
        for dns in job.get("dns_sd_configs", []):
            assert dns.get("type", "SRV") == "A", "compose DNS answers A records only"
            found += [(name, int(dns["port"])) for name in dns["names"]]
        assert found, f"job {job['job_name']} has no targets"
        targets[job["job_name"]] = found
    return targets


def test_prometheus_scrapes_compose_services(
    services: dict[str, dict[str, Any]],
    riskrelay_argv: dict[str, list[str]],
    isolated_env: pytest.MonkeyPatch,
) -> None:
    config = _load_yaml(PROMETHEUS_DIR / "prometheus.yml")
    mounts = [str(v) for v in services["prometheus"].get("volumes", [])]
    assert any(m.startswith("./deploy/prometheus:/etc/prometheus") for m in mounts)

    # Where each riskrelay role listens for scrapes, per its own settings.
    listening: dict[str, tuple[str, int]] = {}
    for role in ("worker", "api"):
        name = _role(riskrelay_argv, role)
        settings = _settings_with(isolated_env, _env(services[name]))
        if role == "worker":
            listening[name] = (settings.worker.metrics_host, settings.worker.metrics_port)
        else:
            listening[name] = (settings.api.host, settings.api.port)

    scraped = set()
    for job, targets in _scrape_targets(config).items():
        for host, port in targets:
            assert host in services, f"{job} scrapes {host}, not a compose service"
            if host in listening:
                bind, expected = listening[host]
                assert port == expected, f"{job}: {host} serves metrics on {expected}"
                assert bind == "0.0.0.0", f"{host} binds {bind}: unreachable from Prometheus"
                scraped.add(host)
    assert scraped == set(listening), "every worker and API replica must be scraped"


def test_prometheus_rules_parse_and_use_known_metrics() -> None:
    config = _load_yaml(PROMETHEUS_DIR / "prometheus.yml")
    for rule_file in config.get("rule_files", []):
        rules = _load_yaml(PROMETHEUS_DIR / rule_file)
        assert rules["groups"], rule_file
        for group in rules["groups"]:
            assert group["name"] and group["rules"]
            for rule in group["rules"]:
                assert ("alert" in rule) != ("record" in rule)
                assert METRIC_NAME.search(rule["expr"]), rule
                assert not unknown_metrics(rule["expr"]), rule["expr"]


# --------------------------------------------------------------------------- grafana


def _exprs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "expr" and isinstance(value, str):
                yield value
            else:
                yield from _exprs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _exprs(item)


def test_grafana_dashboard_uses_known_metrics() -> None:
    dashboard = json.loads((GRAFANA_DIR / "riskrelay.json").read_text())
    assert dashboard["uid"] and dashboard["title"]
    exprs = list(_exprs(dashboard))
    assert exprs
    for expr in exprs:
        assert METRIC_NAME.search(expr), f"no riskrelay metric in {expr}"
        assert not unknown_metrics(expr), f"{expr}: unknown {sorted(unknown_metrics(expr))}"
    used = {m for e in exprs for m in METRIC_NAME.findall(e)}
    assert {
        "riskrelay_events_consumed_total",
        "riskrelay_events_normalized_total",
        "riskrelay_provider_deliveries_total",
        "riskrelay_dlq_records_total",
        "riskrelay_provider_request_seconds_bucket",
        "riskrelay_end_to_end_seconds_bucket",
        "riskrelay_events_in_flight",
    } <= used
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"


def test_grafana_provisioning_matches_compose(services: dict[str, dict[str, Any]]) -> None:
    provisioning = GRAFANA_DIR / "provisioning"
    datasources = _load_yaml(provisioning / "datasources" / "prometheus.yml")["datasources"]
    (prometheus,) = [d for d in datasources if d["type"] == "prometheus"]
    url = urlsplit(prometheus["url"])
    assert url.hostname in services and url.port == 9090
    dashboard = json.loads((GRAFANA_DIR / "riskrelay.json").read_text())
    used_uids = {
        p["datasource"]["uid"] for p in dashboard["panels"] if isinstance(p.get("datasource"), dict)
    }
    assert used_uids == {prometheus["uid"]}

    mounts = {}
    for volume in services["grafana"]["volumes"]:
        source, target = str(volume).split(":")[:2]
        mounts[target] = (REPO / source).resolve()
    for kind in ("datasources", "dashboards"):
        assert mounts[f"/etc/grafana/provisioning/{kind}"] == (provisioning / kind).resolve()
    for provider in _load_yaml(provisioning / "dashboards" / "riskrelay.yml")["providers"]:
        path = provider["options"]["path"]
        assert path in mounts, f"dashboards path {path} is not mounted"
        assert (mounts[path] / "riskrelay.json").is_file()


# --------------------------------------------------------------------------- kubernetes


def test_k8s_manifests_parse(k8s_docs: list[tuple[str, dict[str, Any]]]) -> None:
    seen = set()
    for file, doc in k8s_docs:
        assert isinstance(doc, dict), file
        kind = doc.get("kind")
        assert kind in K8S_API_VERSIONS, f"{file}: unexpected kind {kind}"
        assert doc.get("apiVersion") == K8S_API_VERSIONS[kind], f"{file}: {kind} apiVersion"
        name = (doc.get("metadata") or {}).get("name")
        assert name and re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name), f"{file}: name"
        assert (kind, name) not in seen, f"duplicate {kind}/{name}"
        seen.add((kind, name))
    for kind in ("StatefulSet", "Deployment", "ConfigMap", "Secret", "PodDisruptionBudget"):
        assert _k8s(k8s_docs, kind), f"no {kind}"
    for cm in _k8s(k8s_docs, "ConfigMap"):
        assert all(isinstance(v, str) for v in cm["data"].values()), "ConfigMap values: strings"
    for secret in _k8s(k8s_docs, "Secret"):
        assert all(isinstance(v, str) for v in secret.get("stringData", {}).values())


def test_k8s_env_vars_are_real_settings(k8s_docs: list[tuple[str, dict[str, Any]]]) -> None:
    used: set[str] = set()
    for path in K8S_DIR.glob("*.yaml"):  # comments too: the examples they show must work
        used |= set(ENV_NAME.findall(path.read_text()))
    env_sources: set[tuple[str, str]] = set()  # ConfigMaps and Secrets read as environment
    for _, doc in k8s_docs:
        if doc["kind"] in {"StatefulSet", "Deployment"}:
            for container in _containers(doc):
                used |= {e["name"] for e in container.get("env", [])}
                for source in container.get("envFrom", []):
                    for kind, ref in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                        if ref in source:
                            env_sources.add((kind, source[ref]["name"]))
    assert env_sources
    for _, doc in k8s_docs:
        if (doc["kind"], doc["metadata"]["name"]) in env_sources:
            used |= set(doc.get("data", {})) | set(doc.get("stringData", {}))
    assert used
    assert not unknown_env_names(used), f"not settings: {sorted(unknown_env_names(used))}"


def test_k8s_configmap_values_are_valid_settings(
    k8s_docs: list[tuple[str, dict[str, Any]]], isolated_env: pytest.MonkeyPatch
) -> None:
    for cm in _k8s(k8s_docs, "ConfigMap"):
        if cm["metadata"]["name"] != "riskrelay-config":
            continue  # files, not environment (test_k8s.py checks the routing file)
        settings = _settings_with(isolated_env, cm["data"])
        assert settings.kafka.bootstrap and settings.registry.url
        assert settings.api.host == "0.0.0.0"
        assert settings.worker.metrics_host == "0.0.0.0"


def test_k8s_references_resolve(k8s_docs: list[tuple[str, dict[str, Any]]]) -> None:
    configmaps = {d["metadata"]["name"]: d for d in _k8s(k8s_docs, "ConfigMap")}
    secrets = {d["metadata"]["name"]: d for d in _k8s(k8s_docs, "Secret")}
    workloads = _k8s(k8s_docs, "StatefulSet") + _k8s(k8s_docs, "Deployment")
    pod_labels = []
    for workload in workloads:
        name = workload["metadata"]["name"]
        labels = workload["spec"]["template"]["metadata"]["labels"]
        selector = workload["spec"]["selector"]["matchLabels"]
        assert selector.items() <= labels.items(), f"{name}: selector misses its pods"
        pod_labels.append(labels)
        for container in _containers(workload):
            args = _argv(container.get("command", [])[1:]) + _argv(container.get("args", []))
            assert cli_error(args) is None, f"{name}: {cli_error(args)}"
            assert container.get("resources", {}).get("requests"), f"{name}: no requests"
            ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
            for probe in ("livenessProbe", "readinessProbe"):
                spec = container.get(probe)
                if spec is None:
                    continue
                action = spec.get("httpGet") or spec.get("tcpSocket")
                assert action, f"{name}: {probe} has no httpGet/tcpSocket"
                port = action["port"]
                assert port in ports or port in ports.values(), f"{name}: {probe} port {port}"
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    assert source["configMapRef"]["name"] in configmaps
                if "secretRef" in source:
                    assert source["secretRef"]["name"] in secrets
            for env in container.get("env", []):
                ref = env.get("valueFrom", {})
                if "secretKeyRef" in ref:
                    secret = secrets[ref["secretKeyRef"]["name"]]
                    assert ref["secretKeyRef"]["key"] in secret["stringData"], env["name"]
                if "configMapKeyRef" in ref:
                    cm = configmaps[ref["configMapKeyRef"]["name"]]
                    assert ref["configMapKeyRef"]["key"] in cm["data"], env["name"]
            volumes = {
                v["name"]: v for v in workload["spec"]["template"]["spec"].get("volumes", [])
            }
            for mount in container.get("volumeMounts", []):
                assert mount["name"] in volumes, f"{name}: mounts unknown volume {mount['name']}"
        for volume in workload["spec"]["template"]["spec"].get("volumes", []):
            if "configMap" in volume:
                assert volume["configMap"]["name"] in configmaps, volume
            if "secret" in volume:
                assert volume["secret"]["secretName"] in secrets, volume
    for service in _k8s(k8s_docs, "Service"):
        selector = service["spec"]["selector"]
        assert any(selector.items() <= labels.items() for labels in pod_labels), service
    for pdb in _k8s(k8s_docs, "PodDisruptionBudget"):
        selector = pdb["spec"]["selector"]["matchLabels"]
        assert any(selector.items() <= labels.items() for labels in pod_labels), pdb


def test_k8s_workers_use_static_membership(k8s_docs: list[tuple[str, dict[str, Any]]]) -> None:
    (statefulset,) = _k8s(k8s_docs, "StatefulSet")
    headless = {
        s["metadata"]["name"]
        for s in _k8s(k8s_docs, "Service")
        if s["spec"].get("clusterIP") == "None"
    }
    assert statefulset["spec"]["serviceName"] in headless
    (container,) = _containers(statefulset)
    assert _argv(container["args"]) == ["worker"]
    env = {e["name"]: e for e in container["env"]}
    instance = env["RISKRELAY_WORKER_INSTANCE_ID"]["valueFrom"]["fieldRef"]["fieldPath"]
    assert instance == "metadata.name"
    for provider in PROVIDERS:
        key = f"RISKRELAY_{provider.upper()}_API_KEY"
        assert "secretKeyRef" in env[key]["valueFrom"], f"{key} must come from a Secret"
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    labels = statefulset["spec"]["template"]["metadata"]["labels"]
    pdbs = _k8s(k8s_docs, "PodDisruptionBudget")
    assert any(p["spec"]["selector"]["matchLabels"].items() <= labels.items() for p in pdbs)


def test_k8s_api_probes(k8s_docs: list[tuple[str, dict[str, Any]]]) -> None:
    (deployment,) = _k8s(k8s_docs, "Deployment")
    (container,) = _containers(deployment)
    assert _argv(container["args"]) == ["api"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_k8s_secrets_are_placeholders(k8s_docs: list[tuple[str, dict[str, Any]]]) -> None:
    example = K8S_DIR / "secret.example.yaml"
    assert "EXAMPLE" in example.read_text()
    for secret in _k8s(k8s_docs, "Secret"):
        values = set(secret.get("stringData", {}).values()) | set(secret.get("data", {}).values())
        assert values == {"REPLACE_ME"}, "manifests must never hold real credentials"
