"""Graceful shutdown of a worker: on SIGTERM `/readyz` answers 503 "draining" at once, the worker
keeps serving for `SHUTDOWN_DELAY_SECONDS` (the load balancer sees the probe fail and stops
routing to it), then uvicorn's own shutdown runs: it stops accepting, lets the requests in flight
finish (up to `SHUTDOWN_GRACE_SECONDS`, `--timeout-graceful-shutdown`), closes open WebSockets
with code 1012 (service restart: clients reconnect, to another worker) and runs the app's
lifespan shutdown. SIGINT (Ctrl+C) skips the delay, and so does a second signal.

The hook chains in front of the handler uvicorn installed (it must be installed from the main
thread, after the server's own handlers: the lifespan startup is that moment)."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

log = logging.getLogger("portal.lifecycle")

Handler = Callable[[int, FrameType | None], Any] | int | None


class Drain:
    def __init__(self, delay_seconds: float) -> None:
        self.delay_seconds = delay_seconds
        self.draining = False
        self._previous: dict[int, Handler] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def install(self) -> None:
        """Chains in front of the current SIGTERM / SIGINT handlers (no-op off the main
        thread, e.g. a server run in a thread by the tests)."""
        if threading.current_thread() is not threading.main_thread():
            return
        self._loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._previous[sig] = signal.signal(sig, self._on_signal)

    def uninstall(self) -> None:
        for sig, handler in self._previous.items():
            if signal.getsignal(sig) == self._on_signal:
                signal.signal(sig, handler)
        self._previous.clear()

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        previous = self._previous.get(sig)
        delay = self.delay_seconds if sig == signal.SIGTERM and not self.draining else 0.0
        if not self.draining:
            log.info(
                "shutdown requested (%s): /readyz answers 503 draining; stopping in %.1f s",
                signal.Signals(sig).name,
                delay,
            )
        self.draining = True
        if delay <= 0 or self._loop is None:
            _call(previous, sig, frame)
            return
        self._loop.call_soon_threadsafe(self._loop.call_later, delay, _call, previous, sig, None)


def _call(handler: Handler, sig: int, frame: FrameType | None) -> None:
    if callable(handler):
        handler(sig, frame)
    elif handler == signal.SIG_DFL:
        signal.signal(sig, signal.SIG_DFL)
        signal.raise_signal(sig)
