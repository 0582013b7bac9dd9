"""A real Prometheus server scrapes a running ``riskrelay worker`` process: the
delivered-events counter it stores equals the number of events sent, the alert rules
load and evaluate, every expression of the alerts and the dashboard runs on it, and the
worker's JSON log lines are parseable and hold no personal data of the events."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from riskrelay.models import Family
from riskrelay.sandbox.server import SandboxThread
from riskrelay.sdk.producer import EventProducer
from riskrelay.settings import Settings
from tests.fixtures.pipeline import WorkerProcess, wait_for
from tests.fixtures.prometheus import PrometheusServer
from tests.integration.worker.streams import publish, subject_histories

REPO = Path(__file__).resolve().parents[3]
ALERTS = REPO / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = REPO / "deploy" / "grafana" / "riskrelay.json"
EVENTS = 40


@pytest.fixture
def prometheus_for(tmp_path: Path) -> Iterator[Callable[[str], PrometheusServer]]:
    started: list[PrometheusServer] = []

    def start(target: str) -> PrometheusServer:
        server = PrometheusServer(tmp_path / "prometheus", [target], [ALERTS]).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def scalar(prometheus: PrometheusServer, expr: str) -> float | None:
    result = prometheus.query(expr)
    return float(result[0]["value"][1]) if result else None


def expressions() -> list[str]:
    exprs = [
        rule["expr"]
        for group in yaml.safe_load(ALERTS.read_text())["groups"]
        for rule in group["rules"]
    ]
    dashboard = json.loads(DASHBOARD.read_text())
    exprs += [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    return [e.replace("$__rate_interval", "1m") for e in exprs]


def test_prometheus_scrapes_the_delivered_count_of_a_running_worker(
    pipeline_settings: Settings,
    producer: EventProducer,
    unit21: SandboxThread,
    worker_processes: Callable[..., WorkerProcess],
    prometheus_for: Callable[[str], PrometheusServer],
    tmp_path: Path,
) -> None:
    worker = worker_processes(pipeline_settings)
    prometheus = prometheus_for(f"127.0.0.1:{worker.metrics_port}")
    events = subject_histories(10, EVENTS // 10)
    publish(producer, events)
    producer.send_raw(producer.topic(Family.LIFECYCLE), b"user-poison", b"not avro")
    producer.flush()

    delivered = 'sum(riskrelay_provider_deliveries_total{outcome="delivered"})'
    deadline = time.monotonic() + 90
    seen: float | None = None
    while time.monotonic() < deadline:
        seen = scalar(prometheus, delivered)
        if seen == EVENTS:
            break
        time.sleep(0.5)
    assert seen == EVENTS, f"Prometheus holds {seen} deliveries, {EVENTS} were sent"
    assert scalar(prometheus, 'sum(riskrelay_dlq_records_total{reason="undecodable"})') == 1
    (target,) = prometheus.api("targets")["activeTargets"]
    assert target["health"] == "up", target

    # The alert rules loaded, and each was evaluated without an error.
    def evaluated() -> list[dict[str, str]]:
        groups = prometheus.api("rules")["groups"]
        return [rule for group in groups for rule in group["rules"]]

    wait_for(lambda: all(r["health"] == "ok" for r in evaluated()), 30, "every rule evaluated")
    rules = evaluated()
    names = {rule["name"] for rule in rules}
    defined = {
        rule["alert"]
        for group in yaml.safe_load(ALERTS.read_text())["groups"]
        for rule in group["rules"]
    }
    assert names == defined
    assert all(not rule.get("lastError") for rule in rules), rules
    firing = [r["name"] for r in rules if r.get("state") == "firing"]
    assert firing == [], f"alerts fire on a healthy run: {firing}"

    # Every expression of the alerts and the dashboard runs on a real server.
    for expr in expressions():
        prometheus.query(expr)  # raises with Prometheus' message on a bad expression
    wait_for(
        lambda: scalar(prometheus, "count(riskrelay_consumer_lag_records)") == 3 * len(Family),
        30,
        "the lag of every assigned partition",
    )

    # The worker's log: JSON lines, the DLQ one with its fields, no personal data.
    worker.stop()
    log = (tmp_path / "logs" / "w1.log").read_text()
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert lines, log[-2000:]
    dlq = [line for line in lines if line.get("event") == "dlq"]
    assert len(dlq) == 1 and dlq[0]["reason"] == "undecodable", dlq
    assert any(line.get("event") == "rebalance" for line in lines)
    for event in events:
        for value in (event["user"]["email"], event["session"]["ip_address"]):
            assert value not in log
