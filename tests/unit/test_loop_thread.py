"""LoopThread: a handle served on its own loop thread for synchronous callers."""

from __future__ import annotations

import asyncio
import threading

import pytest

from riskrelay._loop_thread import LoopThread


class Handle:
    def __init__(self) -> None:
        self.thread = threading.current_thread()
        self.stopped = False

    async def stop(self) -> None:
        self.stopped = True


async def start_handle() -> Handle:
    await asyncio.sleep(0)
    return Handle()


def test_serves_on_its_own_thread_and_stops_the_handle() -> None:
    with LoopThread(start_handle, Handle.stop, name="test server") as served:
        handle = served.handle
        assert handle.thread is not threading.current_thread()
        assert handle.thread.name == "test-server"
        assert served.call(lambda h: threading.current_thread()) is handle.thread

        async def on_loop(h: Handle) -> bool:
            await asyncio.sleep(0)
            return h is handle

        assert served.call(on_loop) is True
    assert handle.stopped
    with pytest.raises(RuntimeError, match="test server not started"):
        _ = served.handle


def test_restarts_after_stop() -> None:
    served = LoopThread(start_handle, Handle.stop, name="server")
    first = served.start().handle
    served.stop()
    second = served.start().handle
    served.stop()
    assert first is not second and first.stopped and second.stopped
    served.stop()  # a second stop is a no-op


def test_start_errors_reach_the_caller() -> None:
    async def fail() -> Handle:
        raise ValueError("cannot listen")

    served = LoopThread(fail, Handle.stop, name="server")
    with pytest.raises(ValueError, match="cannot listen"):
        served.start()
    with pytest.raises(RuntimeError, match="server not started"):
        served.call(lambda h: h)


def test_a_start_that_hangs_times_out_and_is_cancelled() -> None:
    cancelled = threading.Event()

    async def hang() -> Handle:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return Handle()

    with pytest.raises(TimeoutError, match="server did not start within 0s"):
        LoopThread(hang, Handle.stop, name="server").start(timeout_s=0.1)
    assert cancelled.is_set()

    def error(timeout_s: float) -> Exception:
        return LookupError(f"gave up after {timeout_s}s")

    with pytest.raises(LookupError, match=r"gave up after 0\.1s"):
        LoopThread(hang, Handle.stop, name="server", timeout_error=error).start(timeout_s=0.1)


def test_stop_errors_reach_the_caller() -> None:
    async def stop(handle: Handle) -> None:
        raise OSError("close failed")

    served = LoopThread(start_handle, stop, name="server").start()
    with pytest.raises(OSError, match="close failed"):
        served.stop()
