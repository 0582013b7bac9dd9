"""The registry on its own event-loop thread, for synchronous callers such as pytest.

``SchemaRegistryClient`` is synchronous; calling it from the loop that serves the registry
would deadlock, so tests and tools run the server here instead::

    with RegistryThread(KafkaSchemaLog(bootstrap, topic)) as registry:
        client = SchemaRegistryClient({"url": registry.url})
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from types import TracebackType

from riskrelay.errors import RegistryError
from riskrelay.registry.server import RegistryHandle, build_app, start_registry
from riskrelay.registry.store import SchemaLog


class RegistryThread:
    """Start with :meth:`start` (or ``with``); :meth:`stop` closes the port and the log."""

    def __init__(self, log: SchemaLog, host: str = "127.0.0.1", port: int = 0) -> None:
        self._log = log
        self._host = host
        self._port = port
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._handle: RegistryHandle | None = None
        self._error: BaseException | None = None

    @property
    def handle(self) -> RegistryHandle:
        if self._handle is None:
            raise RuntimeError("schema registry not started")
        return self._handle

    @property
    def url(self) -> str:
        return self.handle.url

    @property
    def port(self) -> int:
        return self.handle.port

    def start(self, timeout_s: float = 60.0) -> RegistryThread:
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(target=self._run, name="schema-registry", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s):
            self.stop()
            raise RegistryError(f"schema registry did not start within {timeout_s:.0f}s")
        if self._error is not None:
            self._thread.join(timeout_s)
            self._thread = None
            raise self._error
        return self

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # handed to start(); a thread cannot raise to its caller
            self._error = exc
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        handle = await start_registry(build_app(self._log), self._host, self._port)
        try:
            self._handle = handle
            self._ready.set()
            await self._stop.wait()
        finally:
            await handle.stop()

    def stop(self, timeout_s: float = 30.0) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        if thread.is_alive() and self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed in between
                self._loop.call_soon_threadsafe(self._stop.set)
        thread.join(timeout_s)
        self._handle = None
        self._loop = self._stop = None

    def __enter__(self) -> RegistryThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
