"""The worker's HTTP endpoint: ``/metrics`` plus ``/healthz`` and ``/readyz`` for probes.

A worker serves no traffic, so its readiness is about rollouts, not routing: a
StatefulSet's rolling update and a PodDisruptionBudget count a pod as available only
when it is ready, and a worker that is still restoring its partitions' state from the
compacted topics is not doing work yet. So:

- ``/readyz`` answers 200 once the consumer loop has polled and while no restore is in
  progress (a worker with no partition assigned is ready: it is idle, not broken);
- ``/healthz`` answers 200 while the consumer loop keeps polling (a restore counts as
  progress: it runs inside the poll and may take minutes on a large state topic), so a
  wedged loop gets the container restarted instead of holding its partitions forever.

Everything else on the port is the Prometheus exposition, as before.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

STALL_S = 60.0
"""No poll for this long (outside a restore) and ``/healthz`` fails. Polls return at
least every ``RISKRELAY_WORKER_POLL_TIMEOUT_S`` (0.1 s), even when paused by
backpressure, so only a loop that stopped turning goes this long."""

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class WorkerHealth:
    """Set by the worker's loop and rebalance callbacks, read by the HTTP thread."""

    def __init__(
        self, stall_s: float = STALL_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._stall_s = stall_s
        self._clock = clock
        self._last_poll: float | None = None
        self._restoring = 0
        self._lock = threading.Lock()

    def polled(self) -> None:
        self._last_poll = self._clock()

    def restore_started(self) -> None:
        with self._lock:
            self._restoring += 1

    def restore_finished(self) -> None:
        with self._lock:
            self._restoring -= 1
        self._last_poll = self._clock()

    @property
    def restoring(self) -> bool:
        return self._restoring > 0

    def live(self) -> tuple[bool, str]:
        last = self._last_poll
        if last is None:
            return True, "starting"  # connecting, creating topics, reaching the registry
        if self.restoring:
            return True, "restoring state"
        idle = self._clock() - last
        if idle > self._stall_s:
            return False, f"no poll for {idle:.0f}s"
        return True, "polling"

    def ready(self) -> tuple[bool, str]:
        if self._last_poll is None:
            return False, "starting"
        if self.restoring:
            return False, "restoring state"
        return self.live()


def health_app(
    health: WorkerHealth, registry: CollectorRegistry
) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """WSGI: the two probes, and the Prometheus exposition on every other path."""
    metrics = make_wsgi_app(registry)
    probes = {"/healthz": health.live, "/readyz": health.ready}

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        probe = probes.get(environ.get("PATH_INFO", ""))
        if probe is None:
            return metrics(environ, start_response)  # type: ignore[no-any-return]
        ok, status = probe()
        body = json.dumps({"status": status}).encode()
        start_response(
            "200 OK" if ok else "503 Service Unavailable",
            [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
        )
        return [body]

    return app


class _Server(ThreadingMixIn, WSGIServer):
    """One thread per request: a slow scrape never holds up a probe."""

    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Probes every few seconds would flood stderr."""


def serve_worker_http(
    host: str, port: int, registry: CollectorRegistry, health: WorkerHealth
) -> tuple[WSGIServer, threading.Thread]:
    """Serve ``health_app`` in a daemon thread; ``server.shutdown()`` stops it."""
    server = make_server(
        host, port, health_app(health, registry), _Server, handler_class=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, name="worker-http", daemon=True)
    thread.start()
    return server, thread
