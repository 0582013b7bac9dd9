"""The local schema registry's aiohttp app and its runners (CLI process and in-process).

``riskrelay registry`` calls :func:`run_registry`. Code that wants the registry inside its
own event loop uses :func:`start_registry`; synchronous callers (tests, tools) use
:class:`~riskrelay.registry.background.RegistryThread`.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web

from riskrelay.errors import ConfigError
from riskrelay.registry.handlers import REGISTRY, confluent_errors, routes
from riskrelay.registry.service import SchemaRegistry
from riskrelay.registry.store import KafkaSchemaLog, SchemaLog

MAX_REQUEST_BYTES = 4 * 1024 * 1024


def build_app(log: SchemaLog) -> web.Application:
    """The registry app over any schemas log; the log is opened and replayed at startup."""
    app = web.Application(middlewares=[confluent_errors], client_max_size=MAX_REQUEST_BYTES)
    app[REGISTRY] = SchemaRegistry(log)
    app.cleanup_ctx.append(_open_registry)
    app.add_routes(routes)
    return app


def create_app(bootstrap: str, topic: str) -> web.Application:
    """The registry app storing its schemas in ``topic`` on the cluster at ``bootstrap``."""
    return build_app(KafkaSchemaLog(bootstrap, topic))


async def _open_registry(app: web.Application) -> AsyncIterator[None]:
    registry = app[REGISTRY]
    try:
        await registry.open()
    except BaseException:
        await registry.close()
        raise
    yield
    await registry.close()


@dataclass
class RegistryHandle:
    """A registry serving in the running loop; ``await stop()`` frees the port."""

    app: web.Application
    runner: web.AppRunner
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def registry(self) -> SchemaRegistry:
        return self.app[REGISTRY]

    async def stop(self) -> None:
        await self.runner.cleanup()


async def start_registry(
    app: web.Application, host: str = "127.0.0.1", port: int = 0
) -> RegistryHandle:
    """Replay the schemas log, then listen on ``host:port`` (``0`` picks a free port)."""
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=2.0)
    try:
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        reason = exc.strerror or str(exc)
        raise ConfigError(f"schema registry cannot listen on {host}:{port}: {reason}") from exc
    except BaseException:
        await runner.cleanup()
        raise
    bound = int(runner.addresses[0][1])
    return RegistryHandle(app, runner, host, bound)


def run_registry(bootstrap: str, topic: str, host: str, port: int) -> None:
    """Serve until SIGINT or SIGTERM, then close the port and the Kafka clients and return."""
    asyncio.run(_serve_until_signalled(create_app(bootstrap, topic), host, port, topic))


async def _serve_until_signalled(app: web.Application, host: str, port: int, topic: str) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    try:
        handle = await start_registry(app, host, port)
        try:
            print(f"schema registry: {handle.url} (schemas topic {topic!r})", flush=True)
            await stop.wait()
        finally:
            await handle.stop()
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
