"""The alert rules and the dashboard against promtool, the runbook and the metrics the
worker and the API export.

Which metric names exist comes from ``test_compose_and_manifests.known_metric_names``
(the real registries' exposition); that module also checks every rule and dashboard
expression against it. Here: promtool's own checks and unit tests of the rules, every
alert's runbook section, the promtool tests' input series being real metrics (a renamed
metric would otherwise leave the tests passing on series nobody exports), what the
dashboard shows, and docs/metrics.md listing every metric.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures.prometheus import prometheus_tool
from tests.unit.deploy.test_compose_and_manifests import METRIC_NAME, known_metric_names

REPO = Path(__file__).resolve().parents[3]
PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
ALERTS = PROMETHEUS_DIR / "alerts.yml"
ALERT_TESTS = PROMETHEUS_DIR / "alerts.test.yml"
DASHBOARD = REPO / "deploy" / "grafana" / "riskrelay.json"
RUNBOOK = REPO / "docs" / "runbook.md"
METRICS_DOC = REPO / "docs" / "metrics.md"

# What the issue asks the alerts to cover, by the metric each must watch.
REQUIRED_ALERTS = {
    "RiskrelayConsumerLagGrowing": "riskrelay_consumer_lag_records",
    "RiskrelayDlqRecords": "riskrelay_dlq_records_total",
    "RiskrelayProviderBreakerOpen": "riskrelay_provider_breaker_state",
    "RiskrelayProviderErrorRatio": "riskrelay_provider_requests_total",
    "RiskrelayProviderAuthFailures": "riskrelay_provider_credentials_invalid",
    "RiskrelayNoProgress": "riskrelay_events_consumed_total",
    "RiskrelayStateRestoreTooLong": "riskrelay_state_restore_started_timestamp_seconds",
}
RUNBOOK_OPERATIONS = (
    "DLQ inspection and replay",
    "Rebalance storms",
    "Scaling",
    "Credentials rotation",
)


def rules() -> Iterator[dict[str, Any]]:
    for group in yaml.safe_load(ALERTS.read_text())["groups"]:
        yield from group["rules"]


def alerts() -> dict[str, dict[str, Any]]:
    return {rule["alert"]: rule for rule in rules() if "alert" in rule}


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def runbook_anchors() -> set[str]:
    headings = re.findall(r"^#{1,6} (.+)$", RUNBOOK.read_text(), re.MULTILINE)
    return {github_anchor(h) for h in headings}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [prometheus_tool("promtool"), *args],
        cwd=PROMETHEUS_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_promtool_checks_the_rules() -> None:
    done = promtool("check", "rules", ALERTS.name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(list(rules()))} rules found" in done.stdout


def test_promtool_unit_tests_pass() -> None:
    done = promtool("test", "rules", ALERT_TESTS.name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_promtool_unit_tests_can_fail(tmp_path: Path) -> None:
    """The same tests against rules whose thresholds moved must fail: they test the
    thresholds, not just that the rules load."""
    moved = ALERTS.read_text().replace("> 1000", "> 100000").replace("== 2", "== 3")
    (tmp_path / ALERTS.name).write_text(moved)
    (tmp_path / ALERT_TESTS.name).write_text(ALERT_TESTS.read_text())
    done = subprocess.run(
        [prometheus_tool("promtool"), "test", "rules", ALERT_TESTS.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "RiskrelayConsumerLagGrowing" in output
    assert "RiskrelayProviderBreakerOpen" in output


def test_the_required_alerts_exist_and_watch_their_metric() -> None:
    defined = alerts()
    for name, metric in REQUIRED_ALERTS.items():
        assert name in defined, f"missing alert {name}"
        assert metric in METRIC_NAME.findall(defined[name]["expr"]), (name, metric)


def test_every_alert_has_severity_summary_and_a_runbook_section() -> None:
    anchors = runbook_anchors()
    for name, rule in alerts().items():
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        annotations = rule["annotations"]
        assert annotations["summary"] and annotations["description"], name
        url = annotations["runbook_url"]
        assert url.startswith("docs/runbook.md#"), url
        anchor = url.split("#", 1)[1]
        assert anchor in anchors, f"{name}: docs/runbook.md has no section #{anchor}"
        assert anchor == github_anchor(name), f"{name}: the section is named after the alert"


def test_the_runbook_covers_the_operations() -> None:
    anchors = runbook_anchors()
    for section in RUNBOOK_OPERATIONS:
        assert github_anchor(section) in anchors, f"docs/runbook.md lacks '{section}'"
    # Links inside the runbook resolve.
    for target in re.findall(r"\]\(#([^)]+)\)", RUNBOOK.read_text()):
        assert target in anchors, f"broken link #{target}"


def alert_tests() -> list[dict[str, Any]]:
    tests: list[dict[str, Any]] = yaml.safe_load(ALERT_TESTS.read_text())["tests"]
    return tests


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    fired: dict[str, int] = {}
    quiet: dict[str, int] = {}
    for case in alert_tests():
        for check in case["alert_rule_test"]:
            target = fired if check.get("exp_alerts") else quiet
            target[check["alertname"]] = target.get(check["alertname"], 0) + 1
    for name in alerts():
        assert fired.get(name), f"no promtool test where {name} fires"
        assert quiet.get(name), f"no promtool test where {name} stays quiet"


def test_the_promtool_tests_feed_series_the_worker_exports() -> None:
    known = known_metric_names()
    for case in alert_tests():
        for series in case["input_series"]:
            name = series["series"].split("{", 1)[0]
            assert name in known, f"{case['name']}: {name} is not an exported series"


def dashboard_exprs() -> Iterator[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]


def test_the_dashboard_shows_what_an_operator_needs() -> None:
    used: dict[str, set[str]] = {}
    for title, expr in dashboard_exprs():
        for metric in METRIC_NAME.findall(expr):
            used.setdefault(metric, set()).add(title)
    needed = {
        "throughput": "riskrelay_events_consumed_total",
        "deliveries": "riskrelay_provider_deliveries_total",
        "end-to-end latency": "riskrelay_end_to_end_seconds_bucket",
        "provider latency": "riskrelay_provider_request_seconds_bucket",
        "lag": "riskrelay_consumer_lag_records",
        "DLQ": "riskrelay_dlq_records_total",
        "breakers": "riskrelay_provider_breaker_state",
        "in flight": "riskrelay_events_in_flight",
        "paused partitions": "riskrelay_paused_partitions",
        "commit latency": "riskrelay_commit_seconds_bucket",
        "provider errors": "riskrelay_provider_requests_total",
        "credentials": "riskrelay_provider_credentials_invalid",
    }
    missing = {what: metric for what, metric in needed.items() if metric not in used}
    assert not missing, f"the dashboard does not show {missing}"
    quantiles = {
        float(q)
        for _, expr in dashboard_exprs()
        if "riskrelay_end_to_end_seconds_bucket" in expr
        for q in re.findall(r"histogram_quantile\(([\d.]+)", expr)
    }
    assert {0.5, 0.99} <= quantiles, "end-to-end latency percentiles p50 and p99"


def test_every_exported_metric_is_documented() -> None:
    documented = set(re.findall(r"`(riskrelay_[a-z0-9_]+)`", METRICS_DOC.read_text()))
    exported = set()
    for name in known_metric_names():
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        exported.add(base if f"{base}_bucket" in known_metric_names() else name)
    assert exported - documented == set(), "add them to docs/metrics.md"
    assert documented - exported == set(), "docs/metrics.md names metrics nobody exports"


@pytest.mark.parametrize("path", [ALERTS, ALERT_TESTS])
def test_rule_files_are_plain_yaml(path: Path) -> None:
    assert isinstance(yaml.safe_load(path.read_text()), dict)
