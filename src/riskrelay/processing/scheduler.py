"""Per-subject ordered concurrency.

Records of one subject run strictly one after another; records of different subjects run
concurrently. A subject with a record in flight queues the next ones behind it, so a
subject that is retrying holds back only itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Hashable

from confluent_kafka import Message

log = logging.getLogger(__name__)

Handler = Callable[[Message], Awaitable[None]]
Done = Callable[[Message], None]


class SubjectScheduler:
    def __init__(self, handler: Handler, on_done: Done) -> None:
        self._handler = handler
        self._on_done = on_done
        self._queues: dict[Hashable, deque[Message]] = {}
        self._tasks: dict[Hashable, asyncio.Task[None]] = {}
        self.failure: BaseException | None = None
        self.accepted = 0  # submitted and not finished (queued or running)

    def submit(self, subject: Hashable, message: Message) -> None:
        self.accepted += 1
        queue = self._queues.get(subject)
        if queue is not None:
            queue.append(message)
            return
        self._queues[subject] = deque((message,))
        self._tasks[subject] = asyncio.create_task(self._drain(subject))

    async def _drain(self, subject: Hashable) -> None:
        queue = self._queues[subject]
        try:
            while queue:
                message = queue[0]
                await self._handler(message)
                queue.popleft()
                self.accepted -= 1
                self._on_done(message)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            # A bug, not bad input (bad input is dead-lettered inside the handler): stop
            # the worker without committing past this record.
            log.exception("processing failed for subject %r", subject)
            self.failure = self.failure or exc
        finally:
            self._queues.pop(subject, None)
            self._tasks.pop(subject, None)

    @property
    def subjects(self) -> int:
        return len(self._queues)

    async def wait_idle(self, timeout_s: float) -> bool:
        """Wait until nothing is queued or running; False if the timeout came first."""
        if not self._tasks:
            return True
        _, pending = await asyncio.wait(list(self._tasks.values()), timeout=timeout_s)
        if pending:
            return False
        return await self.wait_idle(timeout_s)

    async def cancel(self, keep: Callable[[Message], bool]) -> int:
        """Abandon every queued or running record for which ``keep`` is false (their
        offsets are never finished, so they are not committed); returns how many."""
        abandoned = 0
        for subject, queue in list(self._queues.items()):
            if all(keep(m) for m in queue):
                continue
            task = self._tasks.get(subject)
            kept = deque(m for m in queue if keep(m))
            abandoned += len(queue) - len(kept)
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            self.accepted -= len(queue)
            for message in kept:
                self.submit(subject, message)
        return abandoned
