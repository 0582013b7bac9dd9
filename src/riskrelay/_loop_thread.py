"""An async server on its own event-loop thread, for synchronous callers such as pytest.

A synchronous client (``SchemaRegistryClient``, ``httpx.Client``...) called from the loop
that serves it would deadlock, so the server runs on a dedicated thread instead::

    thread = LoopThread(lambda: start_server(...), Server.stop, name="server")
    with thread:
        thread.call(lambda handle: handle.state)  # on the loop thread

``start()`` returns once the handle is ready and re-raises in the caller whatever the
start coroutine raised; ``stop()`` awaits ``stop(handle)`` on the loop, then closes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import threading
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Generic, Self, TypeVar, overload

H = TypeVar("H")
T = TypeVar("T")


class LoopThread(Generic[H]):
    """Serve ``await start()`` (a handle) on a thread until :meth:`stop` awaits ``stop(handle)``.

    ``name`` names the thread and the errors; ``timeout_error(timeout_s)`` is what
    :meth:`start` raises when the handle is not ready in time (a ``TimeoutError`` unless
    given).
    """

    def __init__(
        self,
        start: Callable[[], Awaitable[H]],
        stop: Callable[[H], Awaitable[object]],
        *,
        name: str,
        timeout_error: Callable[[float], BaseException] | None = None,
    ) -> None:
        self._start_handle = start
        self._stop_handle = stop
        self._name = name
        self._timeout_error = timeout_error
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready = threading.Event()
        self._handle: H | None = None
        self._error: BaseException | None = None

    @property
    def handle(self) -> H:
        if self._handle is None:
            raise RuntimeError(f"{self._name} not started")
        return self._handle

    def start(self, timeout_s: float = 60.0) -> Self:
        """Start the loop thread and wait for the handle; re-raise what starting raised."""
        self._ready.clear()
        self._error = self._task = None
        self._loop = asyncio.new_event_loop()
        self._stopping = asyncio.Event()
        thread = threading.Thread(target=self._run, name=self._name.replace(" ", "-"), daemon=True)
        self._thread = thread
        thread.start()
        if not self._ready.wait(timeout_s):
            self._shutdown(timeout_s)  # cancels the pending start
            if self._timeout_error is not None:
                raise self._timeout_error(timeout_s)
            raise TimeoutError(f"{self._name} did not start within {timeout_s:.0f}s")
        if self._handle is None:  # starting failed; the thread has ended or is ending
            error = self._shutdown(timeout_s)
            raise error if error is not None else RuntimeError(f"{self._name} did not start")
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        """Await ``stop(handle)`` on the loop, then end the thread; re-raise what it raised."""
        error = self._shutdown(timeout_s)
        if error is not None:
            raise error

    @overload
    def call(self, fn: Callable[[H], Awaitable[T]], timeout_s: float = ...) -> T: ...
    @overload
    def call(self, fn: Callable[[H], T], timeout_s: float = ...) -> T: ...
    def call(self, fn: Callable[[H], Any], timeout_s: float = 30.0) -> Any:
        """``fn(handle)`` on the loop thread (awaited if it is a coroutine); its result."""
        loop, handle = self._loop, self.handle
        if loop is None:
            raise RuntimeError(f"{self._name} not started")

        async def run() -> Any:
            result = fn(handle)
            return await result if inspect.isawaitable(result) else result

        return asyncio.run_coroutine_threadsafe(run(), loop).result(timeout=timeout_s)

    def _shutdown(self, timeout_s: float) -> BaseException | None:
        thread, self._thread = self._thread, None
        loop, self._loop = self._loop, None
        if thread is None or loop is None:
            return None
        if thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop closed in between
                loop.call_soon_threadsafe(self._request_stop)
        thread.join(timeout_s)
        self._handle = None
        error, self._error = self._error, None
        return error

    def _request_stop(self) -> None:  # on the loop thread
        if self._stopping is not None:
            self._stopping.set()
        if self._handle is None and self._task is not None:
            self._task.cancel()  # still starting: give up on it

    def _run(self) -> None:
        loop, stopping = self._loop, self._stopping
        assert loop is not None and stopping is not None
        try:
            with asyncio.Runner(loop_factory=lambda: loop) as runner:
                runner.run(self._serve(stopping))
        except BaseException as exc:  # handed to start() or stop(); a thread cannot raise
            self._error = exc
        finally:
            self._ready.set()

    async def _serve(self, stopping: asyncio.Event) -> None:
        self._task = asyncio.current_task()
        if stopping.is_set():
            return
        handle = await self._start_handle()
        try:
            self._handle = handle
            self._ready.set()
            await stopping.wait()
        finally:
            await self._stop_handle(handle)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
