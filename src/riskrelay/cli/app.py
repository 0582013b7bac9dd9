"""``riskrelay``: one command, a sub-command per component.

Errors that are the user's to fix (bad config, a broker that will not start) print one
readable line and exit non-zero; tracebacks are for bugs only.
"""

from __future__ import annotations

import sys
import warnings

# confluent_kafka's registry client imports authlib's httpx integration, which warns on
# every start; it is not ours to act on and would clutter every command's stderr.
warnings.filterwarnings("ignore", message="The httpx module is deprecated")
from typing import Annotated

import typer

from riskrelay.errors import ConfigError, RiskRelayError
from riskrelay.settings import load_settings

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
    port: Annotated[int | None, typer.Option(help="port (default RISKRELAY_SCHEMA_REGISTRY_PORT)")] = None,
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
    providers: Annotated[list[str] | None, typer.Argument(help="providers to serve (default: all)")] = None,
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="port, when serving one provider")] = None,
) -> None:
    """Serve provider sandboxes: strict contract checks, recordings, fault injection."""
    from riskrelay.sandbox.server import run_sandboxes

    run_sandboxes(providers or [], host=host, port=port)


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
