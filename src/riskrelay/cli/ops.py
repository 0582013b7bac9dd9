"""Operator commands: ``topics describe``, ``schemas register|check``, ``dlq list|show|replay``.

Options and printing only; the work is in ``riskrelay.ops``. People get tables on stdout and
progress on stderr; ``--json`` puts only JSON on stdout for scripts. A command that finds a
problem (drift, an incompatible schema) exits 1; one that cannot run (no broker, bad
option) exits 2 with one line, through ``cli.app.main``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from riskrelay.cli.progress import progress_bars
from riskrelay.errors import ConfigError
from riskrelay.settings import Settings, load_settings

if TYPE_CHECKING:
    from riskrelay.ops.dlq import DlqEntry, DlqFilter, DlqReader

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False)


def _print_json(value: Any) -> None:
    sys.stdout.write(orjson.dumps(value).decode() + "\n")
    sys.stdout.flush()


@contextmanager
def progress_bar(description: str, total: int | None, quiet: bool) -> Iterator[Any]:
    """A bar on stderr (hidden for ``--json``, whose stderr scripts may still show);
    yields ``advance(n)``."""
    progress = progress_bars(err, disable=quiet or not err.is_terminal)
    with progress:
        task = progress.add_task(description, total=total)
        yield lambda n=1: progress.advance(task, n)


def _bootstrap(settings: Settings) -> str:
    if not settings.kafka.bootstrap:
        raise ConfigError(
            "RISKRELAY_KAFKA_BOOTSTRAP is not set (run 'riskrelay dev' for a local stack)"
        )
    return settings.kafka.bootstrap


def _registry_url(settings: Settings) -> str:
    if not settings.registry.url:
        raise ConfigError("RISKRELAY_SCHEMA_REGISTRY_URL is not set")
    return settings.registry.url


JsonOption = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]


# -- topics ----------------------------------------------------------------------------


def topics_describe(json_output: JsonOption = False) -> None:
    """Partitions, replication and retention configs of every riskrelay topic, with each
    difference from what 'topics create' sets. Exits 1 on any drift or missing topic."""
    from riskrelay.ops.topics import describe_topics

    reports = describe_topics(load_settings())
    drifted = [r for r in reports if r.drift]
    if json_output:
        _print_json({"topics": [r.as_json() for r in reports], "drift": bool(drifted)})
    else:
        table = Table("topic", "partitions", "replication", "configs", "drift")
        for r in reports:
            configs = "\n".join(f"{k}={v}" for k, v in r.configs.items() if v is not None)
            table.add_row(
                r.name,
                "-" if r.partitions is None else str(r.partitions),
                "-" if r.replication is None else str(r.replication),
                configs or "-",
                "[red]" + escape("\n".join(r.drift)) + "[/red]" if r.drift else "[green]ok[/green]",
            )
        out.print(table)
        out.print(f"{len(drifted)} of {len(reports)} topics differ from 'riskrelay topics create'")
    if drifted:
        raise typer.Exit(1)


# -- schemas ---------------------------------------------------------------------------

schemas_app = typer.Typer(
    help="Register the Avro contracts and check them for BACKWARD compatibility.",
    no_args_is_help=True,
)
DirOption = Annotated[
    Path | None, typer.Option("--dir", help="folder of .avsc files (default: the bundled ones)")
]


def _schemas(directory: Path | None, json_output: bool, register: bool) -> None:
    from riskrelay.ops.schemas import (
        RegistryApi,
        bundled_schema_dir,
        check_schemas,
        register_schemas,
        schema_files,
    )

    settings = load_settings()
    files = schema_files(directory or bundled_schema_dir(), settings.topics)
    with RegistryApi(_registry_url(settings)) as api:
        results = register_schemas(api, files) if register else check_schemas(api, files)
    failed = [r for r in results if r.failed]
    if json_output:
        _print_json({"subjects": [r.as_json() for r in results], "compatible": not failed})
    else:
        for result in results:
            colour = "red" if result.failed else "green"
            out.print(f"[{colour}]{escape(result.summary())}[/{colour}]")
            for message in result.messages if result.failed else []:
                out.print(f"  {escape(message)}")
        if failed and register:
            out.print("nothing registered: fix the incompatible schemas first")
    if failed:
        for result in failed:
            reason = "; ".join(result.messages)
            print(
                f"riskrelay: {result.subject}: not BACKWARD compatible: {reason}", file=sys.stderr
            )
        raise typer.Exit(1)


@schemas_app.command("check")
def schemas_check(directory: DirOption = None, json_output: JsonOption = False) -> None:
    """Check every schema against its subject's latest version (exit 1 if one breaks)."""
    _schemas(directory, json_output, register=False)


@schemas_app.command("register")
def schemas_register(directory: DirOption = None, json_output: JsonOption = False) -> None:
    """Check, then register every schema under <topic>-value (none if one breaks)."""
    _schemas(directory, json_output, register=True)


# -- dlq -------------------------------------------------------------------------------

dlq_app = typer.Typer(help="Inspect and replay the dead-letter queue.", no_args_is_help=True)

ReasonOption = Annotated[
    list[str] | None, typer.Option("--reason", help="only this reason (repeatable)")
]
ProviderOption = Annotated[
    list[str] | None, typer.Option("--provider", help="only this provider (repeatable)")
]
SinceOption = Annotated[
    str | None, typer.Option(help="dead-lettered at or after: RFC 3339 or an age (2h, 3d)")
]
UntilOption = Annotated[
    str | None, typer.Option(help="dead-lettered before: RFC 3339 or an age (15m)")
]
EventOption = Annotated[str | None, typer.Option("--event-id", help="only this event id")]


def _filter(
    reason: list[str] | None,
    provider: list[str] | None,
    since: str | None,
    until: str | None,
    event_id: str | None,
    ids: list[str] | None = None,
) -> DlqFilter:
    from riskrelay.ops.dlq import DlqFilter, parse_id, parse_when

    return DlqFilter(
        reasons=frozenset(reason or ()),
        providers=frozenset(provider or ()),
        since=parse_when(since) if since else None,
        until=parse_when(until) if until else None,
        event_id=event_id,
        ids=frozenset(parse_id(i) for i in ids or ()),
    )


def _reader(settings: Settings) -> DlqReader:
    from riskrelay.decode.avro import AvroDecoder, registry_client
    from riskrelay.ops.dlq import DlqReader

    registry = registry_client(_registry_url(settings))
    topic = settings.topics.name(settings.topics.dlq)
    return DlqReader(_bootstrap(settings), settings.kafka, topic, AvroDecoder(registry, "dlq"))


def _scan(reader: DlqReader, chosen: DlqFilter, limit: int | None, quiet: bool) -> list[DlqEntry]:
    from riskrelay.ops.dlq import select

    with progress_bar("reading the DLQ", reader.size(), quiet) as advance:
        return select(reader.entries(advance), chosen, limit)


@dlq_app.command("list")
def dlq_list(
    reason: ReasonOption = None,
    provider: ProviderOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    event_id: EventOption = None,
    limit: Annotated[int | None, typer.Option(help="at most this many records")] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="one JSON object per record (JSON lines)")
    ] = False,
) -> None:
    """DLQ records, oldest first per partition, with the reason and where they came from."""
    from riskrelay.ops.dlq import summary_json

    settings = load_settings()
    chosen = _filter(reason, provider, since, until, event_id)
    entries = _scan(_reader(settings), chosen, limit, json_output)
    if json_output:
        for entry in entries:
            _print_json(summary_json(entry))
        return
    table = Table()
    for column in ("id", "failed at", "reason", "provider"):
        table.add_column(column, no_wrap=True)
    for column in ("event", "source"):
        table.add_column(column, overflow="fold")
    table.add_column("message", min_width=24)
    for entry in entries:
        row = summary_json(entry)
        table.add_row(
            row["id"],
            row["failed_at"][:19],
            row["reason"],
            row["provider"] or "-",
            row["event_id"] or "-",
            row["source"],
            escape(row["message"][:80]),
        )
    out.print(table)
    out.print(f"{len(entries)} records (show one with: riskrelay dlq show <id>)")


@dlq_app.command("show")
def dlq_show(
    record_id: Annotated[str, typer.Argument(metavar="ID", help="<partition>:<offset>")],
    json_output: JsonOption = False,
) -> None:
    """One DLQ record in full: original bytes (base64, hex) and decoded, headers, source,
    error, attempts."""
    from riskrelay.decode.avro import registry_client
    from riskrelay.ops.dlq import OriginalDecoder, detail_json, parse_id

    settings = load_settings()
    wanted = parse_id(record_id)
    chosen = _filter(None, None, None, None, None, [record_id])
    found = _scan(_reader(settings), chosen, 1, True)
    if not found:
        raise ConfigError(f"no DLQ record {wanted[0]}:{wanted[1]}")
    originals = OriginalDecoder.for_topics(
        registry_client(_registry_url(settings)), settings.topics
    )
    detail = detail_json(found[0], originals)
    if json_output:
        _print_json(detail)
        return
    _print_detail(detail)


def _print_detail(detail: dict[str, Any]) -> None:
    table = Table(show_header=False, box=None)
    for name in (
        "id",
        "failed_at",
        "reason",
        "provider",
        "attempts",
        "error_class",
        "message",
        "event_id",
        "subject_id",
        "source_topic",
        "source_partition",
        "source_offset",
        "source_timestamp",
    ):
        table.add_row(name, escape(str(detail[name])))
    for name in ("original_key", "original_value"):
        value = detail[name]
        if value is None:
            table.add_row(name, "null")
        else:
            table.add_row(f"{name} ({value['size']} bytes, base64)", value["base64"])
            table.add_row(f"{name} (hex)", value["hex"])
    for header in detail["original_headers"]:
        table.add_row(f"header {escape(header['key'])}", escape(str(header["value"])))
    out.print(table)
    if detail["decoded"] is not None:
        out.print("decoded original:")
        out.print_json(data=detail["decoded"])
    else:
        out.print(f"original not decodable: {escape(str(detail['not_decodable']))}")


@dlq_app.command("replay")
def dlq_replay(
    ids: Annotated[
        list[str] | None, typer.Argument(metavar="[ID]...", help="DLQ records <partition>:<offset>")
    ] = None,
    reason: ReasonOption = None,
    provider: ProviderOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    event_id: EventOption = None,
    replay_all: Annotated[
        bool, typer.Option("--all", help="replay every record (when no id or filter is given)")
    ] = False,
    dry_run: Annotated[bool, typer.Option(help="say what would be replayed, produce nothing")] = (
        False
    ),
    json_output: Annotated[
        bool, typer.Option("--json", help="print the summary as one JSON line last")
    ] = False,
) -> None:
    """Re-inject chosen records for reprocessing, idempotently: the worker retries only the
    providers that failed, and a second replay of a record delivered since does nothing."""
    from riskrelay.ops.dlq import plan_replay, produce_replay

    settings = load_settings()
    chosen = _filter(reason, provider, since, until, event_id, ids)
    if chosen.empty and not replay_all:
        raise ConfigError("name records (ids, --reason, --provider, ...) or pass --all")
    entries = _scan(_reader(settings), chosen, None, json_output)
    plan = plan_replay(entries, settings.topics.inputs)
    replayed = 0
    if plan.items and not dry_run:
        with progress_bar("replaying", len(plan.items), json_output) as advance:
            replayed = produce_replay(_bootstrap(settings), settings.kafka, plan.items, advance)
    summary = {
        "selected": len(entries),
        "replayed": replayed,
        "originals": len(plan.items),
        "dry_run": dry_run,
        "skipped": [{"id": i, "why": why} for i, why in plan.skipped],
        "records": [
            {
                "source": f"{i.source.topic}:{i.source.partition}:{i.source.offset}",
                "providers": sorted(i.providers) if i.providers else None,
                "dlq_ids": i.dlq_ids,
            }
            for i in plan.items
        ],
    }
    if json_output:
        _print_json(summary)
        return
    for item in plan.items:
        only = ", ".join(sorted(item.providers)) if item.providers else "every routed provider"
        out.print(
            f"{'would replay' if dry_run else 'replayed'} "
            f"{item.source.topic}:{item.source.partition}:{item.source.offset} ({only}) "
            f"from {', '.join(item.dlq_ids)}"
        )
    for label, why in plan.skipped:
        out.print(f"skipped {label}: {escape(why)}")
    verb = "would replay" if dry_run else "replayed"
    out.print(f"{len(entries)} DLQ records selected; {verb} {len(plan.items)} original records")


# -- produce ---------------------------------------------------------------------------


def produce_file(path: str, family: str, json_output: bool) -> None:
    """``riskrelay produce``: good lines published, bad ones reported by number (exit 1)."""
    from riskrelay.sdk.jsonl import publish_jsonl

    settings = load_settings()
    bootstrap, registry = _bootstrap(settings), _registry_url(settings)
    size = Path(path).stat().st_size if Path(path).is_file() else None
    with progress_bar("publishing", size, json_output) as advance:
        published, bad = publish_jsonl(
            path, family, bootstrap, registry, settings.topics, settings.kafka, advance
        )
    if json_output:
        _print_json({"published": published, "rejected": [{"line": n, "error": e} for n, e in bad]})
    else:
        for line_number, reason in bad:
            print(f"line {line_number}: {reason}", file=sys.stderr)
        print(f"published {published} events, rejected {len(bad)} lines")
    if bad:
        raise typer.Exit(1)
