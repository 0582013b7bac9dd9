"""What happened, read from the worker's own Prometheus metrics."""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families


@dataclass
class Summary:
    consumed: int = 0
    normalized: int = 0
    delivered: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    dlq: int = 0
    dlq_reasons: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "consumed": self.consumed,
            "normalized": self.normalized,
            "delivered": dict(sorted(self.delivered.items())),
            "dlq": self.dlq,
        }


def parse_metrics(text: str) -> Summary:
    summary = Summary()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if not sample.name.endswith("_total"):
                continue
            value = int(sample.value)
            labels = sample.labels
            if family.name == "riskrelay_events_consumed":
                summary.consumed += value
            elif family.name == "riskrelay_events_normalized":
                summary.normalized += value
            elif family.name == "riskrelay_provider_deliveries":
                target = summary.delivered if labels["outcome"] == "delivered" else summary.failed
                target[labels["provider"]] = target.get(labels["provider"], 0) + value
            elif family.name == "riskrelay_dlq_records":
                summary.dlq += value
                summary.dlq_reasons[labels["reason"]] = value
    return summary


def fetch_metrics(metrics_url: str, timeout_s: float = 2.0) -> str:
    with urllib.request.urlopen(metrics_url, timeout=timeout_s) as response:
        text: str = response.read().decode()
        return text


def scrape(metrics_url: str, timeout_s: float = 2.0) -> Summary | None:
    try:
        return parse_metrics(fetch_metrics(metrics_url, timeout_s))
    except (urllib.error.URLError, OSError):
        return None


def scrape_samples(metrics_url: str, sample: str, labels: dict[str, str]) -> float:
    """Sum of the samples named ``sample`` whose labels include ``labels`` (0 if none)."""
    total = 0.0
    for family in text_string_to_metric_families(fetch_metrics(metrics_url)):
        for s in family.samples:
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total
