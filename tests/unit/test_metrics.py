"""The worker's metrics as Prometheus sees them: names, types, units and labels from a
parsed exposition; children bound once; lag from librdkafka statistics; store sizes;
the endpoint label of provider requests never carries an id."""

from __future__ import annotations

import asyncio
import json
import random
import re
from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from riskrelay.deliver.lane import MAX_ENDPOINTS, ProviderLane
from riskrelay.deliver.policy import ProviderPolicy
from riskrelay.deliver.request import ProviderRequest
from riskrelay.metrics import Bound, WorkerMetrics, partition_lags
from riskrelay.state.store import MemoryBytesStore, RocksBytesStore
from tests.unit.deliver.fakes import RecordingSleep, ScriptedHttp

# name -> (type, labels): the contract the dashboard, the alerts and docs/metrics.md use.
EXPECTED: dict[str, tuple[str, set[str]]] = {
    "riskrelay_events_consumed": ("counter", {"topic"}),
    "riskrelay_events_invalid": ("counter", {"topic", "reason"}),
    "riskrelay_events_normalized": ("counter", {"family", "kind"}),
    "riskrelay_events_emitted": ("counter", {"topic", "family", "kind"}),
    "riskrelay_events_skipped": ("counter", set()),
    "riskrelay_events_in_flight": ("gauge", set()),
    "riskrelay_events_uncommitted": ("gauge", set()),
    "riskrelay_dlq_records": ("counter", {"reason"}),
    "riskrelay_provider_requests": ("counter", {"provider", "endpoint", "status_class"}),
    "riskrelay_provider_request_seconds": ("histogram", {"provider"}),
    "riskrelay_provider_batch_events": ("histogram", {"provider"}),
    "riskrelay_provider_deliveries": ("counter", {"provider", "outcome"}),
    "riskrelay_end_to_end_seconds": ("histogram", {"provider"}),
    "riskrelay_provider_retries": ("counter", {"provider"}),
    "riskrelay_provider_breaker_state": ("gauge", {"provider"}),
    "riskrelay_provider_breaker_transitions": ("counter", {"provider", "state"}),
    "riskrelay_provider_breaker_waiting": ("gauge", {"provider"}),
    "riskrelay_provider_auth_failures": ("counter", {"provider"}),
    "riskrelay_provider_credentials_invalid": ("gauge", {"provider"}),
    "riskrelay_consumer_lag_records": ("gauge", {"topic", "partition"}),
    "riskrelay_paused_partitions": ("gauge", set()),
    "riskrelay_assigned_partitions": ("gauge", set()),
    "riskrelay_rebalances": ("counter", {"kind"}),
    "riskrelay_commit_seconds": ("histogram", set()),
    "riskrelay_transaction_aborts": ("counter", set()),
    "riskrelay_offset_commit_deferrals": ("counter", set()),
    "riskrelay_state_restore_seconds": ("histogram", set()),
    "riskrelay_state_restore_started_timestamp_seconds": ("gauge", set()),
    "riskrelay_state_store_records": ("gauge", {"store"}),
    "riskrelay_state_store_bytes": ("gauge", {"store"}),
}
ID_LIKE = re.compile(r"(^|_)(id|event_id|subject_id|offset|key)$")


def exercised() -> WorkerMetrics:
    """Metrics with one child of every labelled metric, so every label set shows."""
    m = WorkerMetrics()
    m.consumed.labels("risk.lifecycle.v1").inc()
    m.invalid.labels("risk.lifecycle.v1", "undecodable").inc()
    m.normalized.labels("LIFECYCLE", "sign_in").inc()
    m.emitted.labels("risk.normalized.v1", "LIFECYCLE", "sign_in").inc()
    m.dlq.labels("undecodable").inc()
    m.requests.labels("unit21", "POST /v1/events/create", "2xx").inc()
    m.provider_latency.labels("unit21").observe(0.01)
    m.provider_batch_size.labels("unit21").observe(12)
    m.deliveries.labels("unit21", "delivered").inc()
    m.end_to_end.labels("unit21").observe(0.2)
    m.provider_retries.labels("unit21").inc()
    m.breaker_state.labels("unit21").set(0)
    m.breaker_transitions.labels("unit21", "open").inc()
    m.breaker_waiting.labels("unit21").set(0)
    m.auth_failures.labels("unit21").inc()
    m.credentials_invalid.labels("unit21").set(0)
    m.consumer_lag.labels("risk.lifecycle.v1", "0").set(3)
    m.rebalances.labels("assign").inc()
    m.watch_store("event_state", _SizedStore())
    return m


class _SizedStore:
    def stats(self) -> tuple[int, int | None]:
        return 3, 300


def families(metrics: WorkerMetrics) -> dict[str, Any]:
    """Families of the text exposition (the ``_created`` timestamps the client adds to
    counters and histograms parse as families of their own: left out)."""
    text = generate_latest(metrics.registry).decode()
    parsed = text_string_to_metric_families(text)
    return {f.name: f for f in parsed if not f.name.endswith("_created")}


def test_exposition_names_types_and_labels() -> None:
    parsed = families(exercised())
    assert set(parsed) == set(EXPECTED), set(parsed) ^ set(EXPECTED)
    for name, (kind, labels) in EXPECTED.items():
        family = parsed[name]
        assert family.type == kind, name
        assert family.samples, f"{name}: no sample"
        for sample in family.samples:
            assert set(sample.labels) - {"le"} == labels, (name, sample.labels)
            assert not any(ID_LIKE.search(label) for label in sample.labels), sample
            if kind == "counter":
                assert sample.name == f"{name}_total", sample.name
        if kind == "histogram":  # durations in seconds; the one size histogram in events
            assert name.endswith(("_seconds", "_batch_events")), f"{name}: a duration is in seconds"


def test_units_follow_the_conventions() -> None:
    for name in EXPECTED:
        assert name.startswith("riskrelay_")
        assert not name.endswith("_total"), "prometheus_client adds _total to counters"
        if "seconds" in name or "bytes" in name:
            assert name.endswith(("_seconds", "_bytes")), f"{name}: the unit comes last"
        assert not re.search(r"_(ms|millis|milliseconds|kb|mb)(_|$)", name), name


def test_bound_children_are_bound_once_and_primed_at_zero() -> None:
    metrics = WorkerMetrics()
    consumed = Bound(metrics.consumed).prime(["t1", "t2"])
    sample = metrics.registry.get_sample_value
    assert sample("riskrelay_events_consumed_total", {"topic": "t1"}) == 0
    child = consumed["t1"]
    assert consumed["t1"] is child
    consumed["t1"].inc()
    emitted = Bound(metrics.emitted, "out")
    emitted["PAYMENT", "purchase"].inc(2)
    assert emitted["PAYMENT", "purchase"] is emitted["PAYMENT", "purchase"]
    assert len(emitted) == 1
    assert sample("riskrelay_events_consumed_total", {"topic": "t1"}) == 1
    labels = {"topic": "out", "family": "PAYMENT", "kind": "purchase"}
    assert sample("riskrelay_events_emitted_total", labels) == 2


def partition(number: int, **offsets: Any) -> dict[str, Any]:
    stats: dict[str, Any] = {
        "partition": number,
        "desired": True,
        "hi_offset": -1001,
        "ls_offset": -1001,
        "lo_offset": -1001,
        "stored_offset": -1001,
        "committed_offset": -1001,
        "consumer_lag": -1,
    }
    stats.update(offsets)
    return stats


def stats(**topics: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "consumer",
        "topics": {
            topic: {"topic": topic, "partitions": {str(p["partition"]): p for p in parts}}
            for topic, parts in topics.items()
        },
    }


def test_partition_lag_counts_from_the_read_position_to_the_last_stable_offset() -> None:
    lags = partition_lags(
        stats(
            t=[
                # read up to 40 of 100 stable (hi 120: an open transaction past it)
                partition(0, hi_offset=120, ls_offset=100, stored_offset=40, lo_offset=0),
                # nothing read since assignment: from the committed offset
                partition(1, hi_offset=50, ls_offset=50, committed_offset=30, lo_offset=0),
                # new group, nothing committed: from the log start
                partition(2, hi_offset=50, ls_offset=50, lo_offset=10),
                # caught up
                partition(3, hi_offset=7, ls_offset=7, stored_offset=7, lo_offset=0),
                # not ours (another member's) and librdkafka's internal partition
                partition(4, desired=False, hi_offset=9, ls_offset=9, lo_offset=0),
                partition(-1, hi_offset=9, ls_offset=9, lo_offset=0),
                # offsets unknown yet
                partition(5),
            ]
        )
    )
    assert lags == {("t", 0): 60, ("t", 1): 20, ("t", 2): 40, ("t", 3): 0}


def test_consumer_stats_set_the_lag_and_forget_revoked_partitions() -> None:
    metrics = WorkerMetrics()
    lag = metrics.registry.get_sample_value
    metrics.consumer_stats(
        json.dumps(
            stats(
                a=[partition(0, ls_offset=10, stored_offset=4), partition(1, ls_offset=3)],
                b=[partition(0, ls_offset=8, stored_offset=8)],
            )
        )
    )
    assert lag("riskrelay_consumer_lag_records", {"topic": "a", "partition": "0"}) == 6
    assert lag("riskrelay_consumer_lag_records", {"topic": "b", "partition": "0"}) == 0
    # offsets of a:1 unknown yet: no value rather than a wrong one
    assert lag("riskrelay_consumer_lag_records", {"topic": "a", "partition": "1"}) is None
    # a:0 revoked, b:0 moved on
    metrics.consumer_stats(json.dumps(stats(b=[partition(0, ls_offset=20, stored_offset=8)])))
    assert lag("riskrelay_consumer_lag_records", {"topic": "a", "partition": "0"}) is None
    assert lag("riskrelay_consumer_lag_records", {"topic": "b", "partition": "0"}) == 12
    metrics.consumer_stats("not json")  # logged, nothing changes
    assert lag("riskrelay_consumer_lag_records", {"topic": "b", "partition": "0"}) == 12
    config = metrics.consumer_config()
    assert config["stats_cb"] == metrics.consumer_stats
    assert config["statistics.interval.ms"] > 0


def test_restore_start_and_finish() -> None:
    metrics = WorkerMetrics()
    sample = metrics.registry.get_sample_value
    metrics.restore_started(clock=lambda: 1234.5)
    assert sample("riskrelay_state_restore_started_timestamp_seconds") == 1234.5
    metrics.restore_finished(2.0)
    assert sample("riskrelay_state_restore_started_timestamp_seconds") == 0
    assert sample("riskrelay_state_restore_seconds_count") == 1
    assert sample("riskrelay_state_restore_seconds_sum") == 2.0


def test_store_sizes_are_read_at_scrape_time() -> None:
    metrics = WorkerMetrics()
    memory, rocks = MemoryBytesStore(), RocksBytesStore()
    metrics.watch_store("memory", memory)
    metrics.watch_store("rocks", rocks)
    try:
        for i in range(50):
            memory.put(i % 3, f"e{i}", b"x" * 100)
            rocks.put(i % 3, f"e{i}", b"x" * 100)
        sample = metrics.registry.get_sample_value
        assert sample("riskrelay_state_store_records", {"store": "memory"}) == 50
        assert sample("riskrelay_state_store_bytes", {"store": "memory"}) is None  # unknown
        assert sample("riskrelay_state_store_records", {"store": "rocks"}) == 50
        assert (sample("riskrelay_state_store_bytes", {"store": "rocks"}) or 0) >= 50 * 100
        memory.drop(0)
        assert sample("riskrelay_state_store_records", {"store": "memory"}) == 33
    finally:
        rocks.close()
    # A closed store is skipped, not an error of the whole scrape.
    assert "riskrelay_state_store_records" in generate_latest(metrics.registry).decode()
    assert sample("riskrelay_state_store_records", {"store": "rocks"}) is None


def lane_with_metrics() -> tuple[ProviderLane, WorkerMetrics, ScriptedHttp]:
    metrics = WorkerMetrics()
    http = ScriptedHttp([200])
    lane = ProviderLane("p", http, ProviderPolicy(), sleep=RecordingSleep(), rng=random.Random(1))
    lane.bind_metrics(metrics)
    return lane, metrics, http


def endpoints(metrics: WorkerMetrics) -> set[str]:
    return {
        s.labels["endpoint"]
        for s in families(metrics)["riskrelay_provider_requests"].samples
        if s.value
    }


def test_endpoint_label_is_the_route_not_the_path() -> None:
    lane, metrics, _ = lane_with_metrics()
    for event_id in ("evt-1", "evt-2", "evt-3"):
        route = "/v1/events/{event_id}/update"
        request = ProviderRequest("PUT", f"/v1/events/{event_id}/update", json={}, route=route)
        asyncio.run(lane.call(request))
    asyncio.run(lane.call(ProviderRequest("POST", "/v1/events/create", json={})))
    assert endpoints(metrics) == {"PUT /v1/events/{event_id}/update", "POST /v1/events/create"}
    labels = {"provider": "p", "endpoint": "PUT /v1/events/{event_id}/update"}
    value = metrics.registry.get_sample_value(
        "riskrelay_provider_requests_total", {**labels, "status_class": "2xx"}
    )
    assert value == 3


def test_paths_with_ids_and_no_route_stop_at_a_bounded_label_set(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lane, metrics, _ = lane_with_metrics()
    for i in range(MAX_ENDPOINTS + 10):
        asyncio.run(lane.call(ProviderRequest("POST", f"/things/{i}", json={})))
    seen = endpoints(metrics)
    assert len(seen) == MAX_ENDPOINTS + 1
    assert "other" in seen
    assert sum("more than" in r.getMessage() for r in caplog.records) == 1


def test_adapters_give_routes_to_paths_that_carry_ids() -> None:
    """The two adapter calls whose path holds an id label by their route: two events
    with different ids count under one endpoint."""
    from riskrelay.deliver.providers.stripe import StripeAdapter
    from riskrelay.deliver.providers.unit21 import Unit21Adapter
    from riskrelay.state.identities import Identity
    from tests.unit.deliver.test_stripe_mapping import EVALUATIONS, PAYMENT_ID, Known, evaluation
    from tests.unit.deliver.test_unit21_mapping import body_of

    unit21 = [
        Unit21Adapter().build_request({**body_of("SIGN_IN"), "event_id": e}, 2, Known())
        for e in ("evt-a", "evt-b")
    ]
    stripe = [
        StripeAdapter().build_request(
            evaluation("REFUNDED"), 1, Known(Identity(EVALUATIONS, PAYMENT_ID, peval))
        )
        for peval in ("peval_a", "peval_b")
    ]
    for first, second in (unit21, stripe):
        assert first.path != second.path
        assert first.route is not None and first.route == second.route
        assert "{" in first.route
