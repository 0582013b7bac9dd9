"""One ``riskrelay dev`` session: start the stack, optionally publish demo traffic with a
progress display, run until the duration ends or Ctrl-C, print the summary, stop."""

from __future__ import annotations

import signal
import sys
import time
from types import FrameType

import orjson
from rich.console import Console
from rich.table import Table

from riskrelay.cli.progress import progress_bars
from riskrelay.dev.demo import demo_stream, malformed_records
from riskrelay.dev.stack import LocalStack, StackUrls
from riskrelay.dev.summary import Summary, scrape
from riskrelay.errors import RiskRelayError
from riskrelay.models import Family
from riskrelay.sdk.producer import EventProducer
from riskrelay.settings import ProviderName, Settings


class _Stopped(Exception):
    """SIGTERM asks the session to end like Ctrl-C does."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise _Stopped


def print_urls(console: Console, urls: StackUrls) -> None:
    console.print("[bold]riskrelay local stack[/bold]")
    console.print(f"  broker      {urls.broker}")
    console.print(f"  registry    {urls.registry}")
    for provider, url in urls.providers.items():
        where = "sandbox" if provider in urls.sandboxed else "external"
        console.print(f"  {provider:<11} {url} ({where})")
    console.print(f"  api         {urls.api}/v1/events/<event_id>")
    if urls.api_key:
        console.print(f"  api key     {urls.api_key} (X-API-Key, generated)")
    else:
        console.print("  api key     as configured (RISKRELAY_API_KEYS or RISKRELAY_API_KEYS_FILE)")
    console.print(f"  metrics     {urls.metrics}")


def publish_demo(settings: Settings, urls: StackUrls, count: int) -> int:
    """Publish the demo mix; returns how many records (good and malformed) were sent."""
    producer = EventProducer(urls.broker, urls.registry, settings.topics)
    for family, event in demo_stream(count):
        producer.send(family, event)
    for key, value in malformed_records():
        producer.send_raw(producer.topic(Family.LIFECYCLE), key, value)
    producer.flush()
    return producer.sent


def summary_table(summary: Summary) -> Table:
    table = Table(title="riskrelay dev summary")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("events consumed", str(summary.consumed))
    table.add_row("normalized", str(summary.normalized))
    for provider, n in sorted(summary.delivered.items()):
        table.add_row(f"delivered to {provider}", str(n))
    for provider, n in sorted(summary.failed.items()):
        table.add_row(f"failed at {provider}", str(n))
    reasons = ", ".join(f"{r}: {n}" for r, n in sorted(summary.dlq_reasons.items()))
    table.add_row("in the DLQ", f"{summary.dlq}" + (f" ({reasons})" if reasons else ""))
    return table


def run_dev(
    settings: Settings,
    providers: list[ProviderName],
    demo: bool,
    duration_s: float | None,
    as_json: bool,
    demo_count: int = 300,
) -> None:
    console = Console(stderr=as_json)
    stack = LocalStack(settings, providers)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    summary = Summary()
    start = time.monotonic()
    try:
        try:
            urls = stack.start()
        except RiskRelayError:
            stack.stop()
            raise
        print_urls(console, urls)
        published = 0
        if demo:
            published = publish_demo(settings, urls, demo_count)
            console.print(
                f"published {published} demo records "
                f"({len(malformed_records())} deliberately malformed, for the DLQ)"
            )
        else:
            console.print("stack running; Ctrl-C stops it")
        with progress_bars(Console(stderr=True)) as progress:
            task = progress.add_task("events processed", total=published or None)
            while duration_s is None or time.monotonic() - start < duration_s:
                time.sleep(0.5)
                latest = scrape(urls.metrics)
                if latest is not None:
                    summary = latest
                    delivered = sum(summary.delivered.values())
                    progress.update(
                        task,
                        completed=summary.consumed,
                        description=(
                            f"consumed {summary.consumed} · delivered {delivered} · "
                            f"dlq {summary.dlq}"
                        ),
                    )
                dead = stack.failed_children()
                if dead:
                    raise RiskRelayError(f"{', '.join(dead)} stopped unexpectedly")
    except (KeyboardInterrupt, _Stopped):
        pass
    finally:
        latest = scrape(stack.urls.metrics) if stack.urls.metrics else None
        summary = latest or summary
        stack.stop()
        signal.signal(signal.SIGTERM, previous)
    console.print(summary_table(summary))
    if as_json:
        sys.stdout.write(orjson.dumps(summary.as_json()).decode() + "\n")
        sys.stdout.flush()
