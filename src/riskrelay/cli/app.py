"""``riskrelay``: one command, a sub-command per component.

Errors that are the user's to fix (bad config, a broker that will not start) print one
readable line and exit non-zero; tracebacks are for bugs only.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from riskrelay._warnings import silence_registry_client_warning
from riskrelay.cli.ops import dlq_app, schemas_app, topics_describe
from riskrelay.errors import ConfigError, RiskRelayError
from riskrelay.settings import WorkerSettings, load_settings

silence_registry_client_warning()

app = typer.Typer(
    name="riskrelay",
    help="Carry risk events from Kafka to fraud-prevention providers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
def registry(
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    port: Annotated[
        int | None, typer.Option(help="port (default RISKRELAY_SCHEMA_REGISTRY_PORT)")
    ] = None,
) -> None:
    """Serve the local Confluent-API schema registry, storing schemas in Kafka."""
    from riskrelay.registry.server import run_registry

    settings = load_settings()
    bootstrap = _require_bootstrap(settings.kafka.bootstrap)
    run_registry(
        bootstrap=bootstrap,
        topic=settings.topics.name(settings.topics.schemas),
        host=host,
        port=port or settings.registry.port,
    )


@app.command()
def sandbox(
    providers: Annotated[
        list[str] | None, typer.Argument(help="providers to serve (default: all)")
    ] = None,
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="port, when serving one provider")] = None,
) -> None:
    """Serve provider sandboxes: strict contract checks, recordings, fault injection."""
    from riskrelay.sandbox.server import run_sandboxes

    run_sandboxes(providers or [], host=host, port=port)


@app.command()
def worker() -> None:
    """Run a worker: consume, normalize, deliver to providers, emit, commit."""
    from riskrelay.logging import configure_logging
    from riskrelay.worker import run_worker

    configure_logging()
    run_worker(load_settings())


@app.command()
def api() -> None:
    """Serve the HTTP API (event reads with the 423/updated contract, health, metrics)."""
    from riskrelay.api.server import run_api
    from riskrelay.logging import configure_logging

    configure_logging()
    run_api(load_settings())


@app.command()
def dev(
    demo: Annotated[bool, typer.Option("--demo", help="publish demo lifecycle events")] = False,
    duration: Annotated[
        float | None, typer.Option(help="stop everything after this many seconds")
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="print the summary as one JSON line last")
    ] = False,
    demo_events: Annotated[int, typer.Option(help="how many demo events to publish")] = 300,
) -> None:
    """Run the whole local stack: broker, registry, sandboxes, worker and API."""
    from riskrelay.dev.session import run_dev
    from riskrelay.worker import ADAPTERS

    providers = [adapter.name for adapter in ADAPTERS]
    run_dev(load_settings(), providers, demo, duration, json_output, demo_events)  # type: ignore[arg-type]


@app.command()
def broker(
    port: Annotated[int, typer.Option(help="port to listen on")] = 9092,
    data_dir: Annotated[
        str, typer.Option(help="where the broker keeps its data")
    ] = ".riskrelay/broker",
) -> None:
    """Run the embedded Kafka-protocol broker in the foreground (RISKRELAY_KAFKA_EMBEDDED)."""
    import signal
    import threading
    from pathlib import Path

    from riskrelay.kafka.embedded import EmbeddedBroker

    settings = load_settings()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with EmbeddedBroker(Path(data_dir), kind=settings.kafka.embedded, port=port) as embedded:
        print(f"{settings.kafka.embedded} broker on {embedded.bootstrap} (Ctrl-C stops it)")
        try:
            while not stop.wait(0.5) and embedded.running:
                pass
        except KeyboardInterrupt:
            pass


topics_app = typer.Typer(help="Create and inspect riskrelay's topics.", no_args_is_help=True)
app.add_typer(topics_app, name="topics")
topics_app.command("describe")(topics_describe)
app.add_typer(schemas_app, name="schemas")
app.add_typer(dlq_app, name="dlq")


@topics_app.command("create")
def topics_create() -> None:
    """Create every topic with its partitions and configs (existing ones are kept)."""
    from riskrelay.kafka.topics import ensure_topics, topic_specs

    settings = load_settings()
    bootstrap = _require_bootstrap(settings.kafka.bootstrap)
    specs = topic_specs(settings)
    ensure_topics(bootstrap, specs, settings.kafka.replication_factor)
    for spec in specs:
        print(f"{spec.name}  partitions={spec.partitions}  {spec.config}")


@app.command()
def produce(
    path: Annotated[str, typer.Argument(help="JSON-lines file of input events")],
    family: Annotated[
        str, typer.Option(help="lifecycle, payment, evaluation, or auto (from event_type)")
    ] = "auto",
    json_output: Annotated[
        bool, typer.Option("--json", help="print the summary as one JSON line")
    ] = False,
) -> None:
    """Validate and publish events from a JSON-lines file; bad lines are reported by number."""
    from riskrelay.cli.ops import produce_file

    produce_file(path, family, json_output)


bench_app = typer.Typer(help="Benchmarks of riskrelay's processes.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")


@bench_app.command("worker")
def bench_worker(
    partitions: Annotated[int, typer.Option(help="partitions of every topic")] = 6,
    subjects: Annotated[int, typer.Option(help="distinct subjects (user ids)")] = 10_000,
    events: Annotated[int, typer.Option(help="events of the main throughput run")] = 30_000,
    baseline_events: Annotated[
        int, typer.Option(help="events of the baseline run (0: ~10 s at partitions/latency)")
    ] = 0,
    latency_ms: Annotated[float, typer.Option(help="provider (sandbox) latency")] = 50.0,
    backlog: Annotated[
        int, typer.Option(help="events preloaded for the memory figure (0: skip that phase)")
    ] = 20_000,
    broker: Annotated[
        str | None, typer.Option(help="embedded broker: noida or tansu (RISKRELAY_KAFKA_EMBEDDED)")
    ] = None,
    backlog_broker: Annotated[
        str,
        typer.Option(
            help="backlog phase broker: auto (tansu above 100k events on noida), same, noida, tansu"
        ),
    ] = "auto",
    max_in_flight: Annotated[
        int, typer.Option(help="RISKRELAY_WORKER_MAX_IN_FLIGHT")
    ] = WorkerSettings.model_fields["max_in_flight"].default,
    concurrency: Annotated[
        int, typer.Option(help="RISKRELAY_UNIT21_MAX_CONCURRENCY of the worker")
    ] = 256,
    pace: Annotated[
        float, typer.Option(help="latency runs publish at this share of measured throughput")
    ] = 0.6,
    paced_seconds: Annotated[float, typer.Option(help="length of each latency run")] = 5.0,
    rss_seconds: Annotated[
        float, typer.Option(help="memory sampling window on the backlog")
    ] = 20.0,
    stall_timeout: Annotated[
        float, typer.Option(help="fail after this long without progress")
    ] = 60.0,
    broker_port: Annotated[int, typer.Option(help="embedded broker port (0: any free)")] = 0,
    registry_port: Annotated[int, typer.Option(help="registry port (0: any free)")] = 0,
    sandbox_port: Annotated[int, typer.Option(help="Unit21 sandbox port (0: any free)")] = 0,
    metrics_port: Annotated[int, typer.Option(help="worker metrics port (0: any free)")] = 0,
    profile: Annotated[
        str | None, typer.Option(help="write a py-spy profile of the main run's worker here")
    ] = None,
    cpu_events: Annotated[
        int,
        typer.Option(help="events of the CPU-pipeline phase, enrichment on and off (0: skip it)"),
    ] = 3_000,
    json_output: Annotated[
        bool, typer.Option("--json", help="print the result as one JSON line last")
    ] = False,
) -> None:
    """Measure one worker process: events/s, produce-to-ack latency and peak memory, next
    to a one-event-at-a-time-per-partition baseline, against the Unit21 sandbox; and the
    CPU pipeline alone (no network) with enrichment on and off."""
    from pathlib import Path

    from riskrelay.bench import BenchOptions, run_bench

    options = BenchOptions(
        partitions=partitions,
        subjects=subjects,
        events=events,
        baseline_events=baseline_events,
        latency_ms=latency_ms,
        backlog=backlog,
        broker=broker or load_settings().kafka.embedded,  # type: ignore[arg-type]
        backlog_broker=backlog_broker,  # type: ignore[arg-type]
        max_in_flight=max_in_flight,
        concurrency=concurrency,
        pace=pace,
        paced_s=paced_seconds,
        rss_window_s=rss_seconds,
        stall_timeout_s=stall_timeout,
        broker_port=broker_port,
        registry_port=registry_port,
        sandbox_port=sandbox_port,
        metrics_port=metrics_port,
        profile=Path(profile).resolve() if profile else None,
        cpu_events=cpu_events,
    )
    run_bench(options, json_output)


@bench_app.command("api")
def bench_api(
    events: Annotated[int, typer.Option(help="state snapshots in the view")] = 1_000_000,
    partitions: Annotated[int, typer.Option(help="partitions of the state topic")] = 6,
    concurrency: Annotated[int, typer.Option(help="GET requests in flight")] = 32,
    duration: Annotated[float, typer.Option(help="seconds of recorded GET load")] = 10.0,
    warmup: Annotated[float, typer.Option(help="seconds of GET load before recording")] = 2.0,
    view_store: Annotated[
        str, typer.Option(help="RISKRELAY_API_VIEW_STORE of the API: rocksdb or memory")
    ] = "rocksdb",
    broker: Annotated[
        str | None, typer.Option(help="embedded broker: noida or tansu (RISKRELAY_KAFKA_EMBEDDED)")
    ] = None,
    broker_port: Annotated[int, typer.Option(help="embedded broker port (0: any free)")] = 0,
    registry_port: Annotated[int, typer.Option(help="registry port (0: any free)")] = 0,
    api_port: Annotated[int, typer.Option(help="API port (0: any free)")] = 0,
    ready_timeout: Annotated[
        float, typer.Option(help="fail if the API is not ready after this many seconds")
    ] = 900.0,
    profile: Annotated[
        str | None, typer.Option(help="write a py-spy profile of the API under load here")
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="print the result as one JSON line last")
    ] = False,
) -> None:
    """Measure the read API: rebuild of its view from the state topic, GET/s and latency
    under load (existing, locked and unknown ids), memory, restart from its checkpoint."""
    from pathlib import Path

    from riskrelay.bench.api import run_api_bench
    from riskrelay.bench.api_stack import ApiBenchOptions

    options = ApiBenchOptions(
        events=events,
        partitions=partitions,
        concurrency=concurrency,
        duration_s=duration,
        warmup_s=warmup,
        view_store=view_store,  # type: ignore[arg-type]
        broker=broker or load_settings().kafka.embedded,  # type: ignore[arg-type]
        broker_port=broker_port,
        registry_port=registry_port,
        api_port=api_port,
        ready_timeout_s=ready_timeout,
        profile=Path(profile).resolve() if profile else None,
    )
    run_api_bench(options, json_output)


def _require_bootstrap(bootstrap: str | None) -> str:
    if not bootstrap:
        raise ConfigError(
            "RISKRELAY_KAFKA_BOOTSTRAP is not set (run 'riskrelay dev' for a local stack)"
        )
    return bootstrap


def main() -> None:
    try:
        app()
    except RiskRelayError as exc:
        print(f"riskrelay: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
