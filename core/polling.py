"""The background loop every worker runs for each of its outboxes and periodic jobs (mail,
webhook deliveries, bulk exports, reading reminders, orders for silent devices): a pass, then a pause unless the pass says
more work is waiting, until stopped. A failing pass is logged and the loop goes on."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

log = logging.getLogger("portal.polling")


class PollingLoop:
    """Subclasses say what one pass does (`run_pass`: True when more work is waiting, to go
    again at once) and how long to pause (`poll_seconds`)."""

    name = "polling"

    def __init__(self) -> None:
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def poll_seconds(self) -> float:
        raise NotImplementedError

    async def run_pass(self) -> bool:
        raise NotImplementedError

    def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self, grace_seconds: float = 5.0) -> None:
        """Lets a pass in progress finish (up to `grace_seconds`), then cancels it: what it was
        doing is leased or idempotent, so another pass picks it up."""
        self._stop.set()
        task, self._task = self._task, None
        if task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), grace_seconds)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while not self._stop.is_set():
            more = False
            try:
                more = await self.run_pass()
            except Exception:
                log.exception("%s pass failed", self.name)
            if more:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.poll_seconds)


class PeriodicJob(PollingLoop):
    """A job every worker runs every `poll_setting` seconds (a setting's name), whatever it
    finds (`run_once`); `passes` counts the passes done, for tests and logs."""

    poll_setting: str

    def __init__(self, sessionmaker: Any, settings: Any) -> None:
        super().__init__()
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.passes = 0

    @property
    def poll_seconds(self) -> float:
        return float(getattr(self.settings, self.poll_setting))

    async def run_once(self) -> None:
        raise NotImplementedError

    async def run_pass(self) -> bool:
        try:
            await self.run_once()
        finally:
            self.passes += 1
        return False
