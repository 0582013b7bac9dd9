"""The registry on its own event-loop thread, for synchronous callers such as pytest.

``SchemaRegistryClient`` is synchronous; calling it from the loop that serves the registry
would deadlock, so tests and tools run the server here instead::

    with RegistryThread(KafkaSchemaLog(bootstrap, topic)) as registry:
        client = SchemaRegistryClient({"url": registry.url})
"""

from __future__ import annotations

from riskrelay._loop_thread import LoopThread
from riskrelay.errors import RegistryError
from riskrelay.registry.server import RegistryHandle, build_app, start_registry
from riskrelay.registry.store import SchemaLog


class RegistryThread(LoopThread[RegistryHandle]):
    """Start with :meth:`start` (or ``with``); :meth:`stop` closes the port and the log."""

    def __init__(self, log: SchemaLog, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(
            lambda: start_registry(build_app(log), host, port),
            RegistryHandle.stop,
            name="schema registry",
            timeout_error=lambda timeout_s: RegistryError(
                f"schema registry did not start within {timeout_s:.0f}s"
            ),
        )

    @property
    def url(self) -> str:
        return self.handle.url

    @property
    def port(self) -> int:
        return self.handle.port
