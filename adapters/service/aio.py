"""`AsyncSyncService`: the same service for an asyncio app (the Omi SDK's BLE capture runs in an
event loop). It never blocks the loop: every engine command (its SQLite commits and its HTTP
requests) runs in a worker thread through `asyncio.to_thread`, and the loop only awaits; the
sleeping between passes is an `asyncio.Event` waited on with the plan's timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import timedelta
from typing import Any, Final

from walsync.adapters.engine import Engine
from walsync.adapters.ports import StoredEvent
from walsync.adapters.service.retention import DEFAULT_HORIZON
from walsync.adapters.service.runner import ABORT_GRACE_SECONDS, AfterPass, Passes

__all__ = ["AsyncSyncService"]

_LOG: Final = logging.getLogger("walsync.service")


class AsyncSyncService:
    """An engine driven through its due actions by a task of the running event loop."""

    def __init__(self, engine: Engine, *, after_pass: Iterable[AfterPass] = (),
                 retention: timedelta | None = DEFAULT_HORIZON) -> None:
        self.engine = engine
        self.passes = Passes(engine, after_pass=after_pass, retention=retention)
        self._wake: asyncio.Event | None = None
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._feeds: list[asyncio.Queue[Sequence[StoredEvent] | None]] = []

    async def start(self) -> AsyncSyncService:
        """Start the service's task on the running loop; returns the service."""
        if self._task is not None:
            raise RuntimeError("the service is already started")
        self._loop = asyncio.get_running_loop()
        use_loop = getattr(self.engine.backend, "use_loop", None)
        if callable(use_loop):  # an async token provider runs on this loop
            use_loop(self._loop)
        self._wake = asyncio.Event()
        self._stopping = False
        self.engine.send_until(None)
        self._task = asyncio.create_task(self._run(), name="walsync-service")
        return self

    async def _run(self) -> None:
        assert self._wake is not None
        while not self._stopping:
            seconds = await asyncio.to_thread(self.passes.run_due)
            if self._stopping:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), seconds)
            self._wake.clear()

    def nudge(self) -> None:
        """Look at the schedule now (a pause for refused credentials asks the token provider
        again); callable from any thread."""
        self.passes.nudged = True
        loop, wake = self._loop, self._wake
        if loop is None or wake is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            wake.set()
        else:
            loop.call_soon_threadsafe(wake.set)

    def cancel(self) -> bool:
        """The card's Cancel (`engine.cancel()`): the running batch sync sends no further
        batch, and the service sends nothing on its own until nudged. Any thread."""
        return self.engine.cancel()

    async def register(self, **recording: Any) -> str:
        """`engine.register(...)` off the loop, then a nudge: the new recording is due at once."""
        wal_id = await asyncio.to_thread(lambda: self.engine.register(**recording))
        self.nudge()
        return wal_id

    async def stop(self, timeout: float = 5.0) -> bool:
        """Stop within `timeout` seconds: no request starts from now on; one still out when the
        time is up is recorded as abandoned. True when the task ended in time."""
        self._stopping = True
        self.engine.send_until(0)
        self.nudge()
        task, self._task = self._task, None
        if task is None:
            await self._end_feeds()
            return True
        done, _ = await asyncio.wait({task}, timeout=max(0.0, timeout - ABORT_GRACE_SECONDS))
        if not done:  # a request is still out: cut it short, so its command records its end
            self.engine.abort_requests()
            done, _ = await asyncio.wait({task}, timeout=min(timeout, ABORT_GRACE_SECONDS))
        if done:
            task.result()
        else:
            abandoned = await asyncio.to_thread(self.engine.abandon)
            _LOG.warning("stopped with a request still out; recorded as abandoned: %s",
                         ", ".join(abandoned) or "a status poll")
        await self._end_feeds()
        return bool(done)

    async def changes(self) -> AsyncIterator[Sequence[StoredEvent]]:
        """Every batch of events this engine commits (the service's and the app's), in order,
        delivered on the loop; ends when the service stops."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Sequence[StoredEvent] | None] = asyncio.Queue()
        self._feeds.append(queue)

        def deliver(events: Sequence[StoredEvent]) -> None:  # on the committing thread
            loop.call_soon_threadsafe(queue.put_nowait, list(events))

        unsubscribe = self.engine.subscribe(deliver)
        try:
            while (batch := await queue.get()) is not None:
                yield batch
        finally:
            unsubscribe()
            self._feeds.remove(queue)

    async def _end_feeds(self) -> None:
        await asyncio.sleep(0)  # commits handed over before the stop are delivered first
        for queue in self._feeds:
            queue.put_nowait(None)

    async def __aenter__(self) -> AsyncSyncService:
        return await self.start()

    async def __aexit__(self, *_: object) -> None:
        await self.stop()
