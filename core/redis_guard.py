"""A circuit breaker in front of Redis: a Redis that is down or hangs costs a request at most one
short timeout, never the ~10 s a blocked socket would.

Every Redis call of the app (rate limits, WebSocket connection counts, persisted queries, the
ticket event broker) goes through `RedisGuard.call` with an in-process fallback. A failure or a
timeout opens the breaker: for the next `COOLDOWN_SECONDS` calls go straight to their fallback,
and a background probe (one PING, same short timeout) closes it again once Redis answers.
Listeners (the ticket broker) hear when it opens and closes, since events may be lost between.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from settings import Settings

log = logging.getLogger("portal.redis")

T = TypeVar("T")

# Socket connect and read timeouts of every Redis client, and the bound of one guarded call.
TIMEOUT_SECONDS = 0.2
# How long the breaker stays open before the probe tries Redis again.
COOLDOWN_SECONDS = 5.0


def client_options() -> dict[str, Any]:
    """Options for `Redis.from_url`: short timeouts, so a hanging Redis is found out fast."""

    return {
        "socket_timeout": TIMEOUT_SECONDS,
        "socket_connect_timeout": TIMEOUT_SECONDS,
        "retry": Retry(NoBackoff(), 0),  # the breaker, not a retry, handles a failing Redis
    }


class RedisGuard:
    """The breaker of one app (all its Redis clients talk to the same server)."""

    def __init__(
        self,
        ping: Callable[[], Awaitable[Any]] | None = None,
        timeout: float | None = None,
        cooldown: float | None = None,
    ) -> None:
        self.ping = ping
        self.timeout = TIMEOUT_SECONDS if timeout is None else timeout
        self.cooldown = COOLDOWN_SECONDS if cooldown is None else cooldown
        self._open = False
        self._probe: asyncio.Task[None] | None = None
        self._closed_event = asyncio.Event()
        self._closed_event.set()
        self.on_open: list[Callable[[], None]] = []
        self.on_close: list[Callable[[], None]] = []

    @property
    def available(self) -> bool:
        return not self._open

    async def wait_available(self) -> None:
        await self._closed_event.wait()

    async def call(
        self, action: Callable[[], Awaitable[T]], fallback: Callable[[], Awaitable[T]]
    ) -> T:
        """`action()` within the timeout while the breaker is closed, else `fallback()`."""
        if self._open:
            return await fallback()
        try:
            async with asyncio.timeout(self.timeout):
                return await action()
        except Exception as error:  # any Redis, socket or timeout error: Redis is unusable
            self.failed(error)
            return await fallback()

    def failed(self, error: BaseException) -> None:
        """Opens the breaker (one log line, no trace) and starts the probe."""
        if self._open:
            return
        self._open = True
        self._closed_event.clear()
        log.warning(
            "Redis unavailable (%s: %s); in-process fallbacks for at least %.0f s",
            type(error).__name__,
            error or "timed out",
            self.cooldown,
        )
        for listener in list(self.on_open):
            listener()
        if self.ping is not None and (self._probe is None or self._probe.done()):
            self._probe = asyncio.create_task(self._probe_until_back(), name="redis-probe")

    def restored(self) -> None:
        if not self._open:
            return
        self._open = False
        self._closed_event.set()
        log.warning("Redis available again")
        for listener in list(self.on_close):
            listener()

    async def _probe_until_back(self) -> None:
        assert self.ping is not None
        while self._open:
            await asyncio.sleep(self.cooldown)
            try:
                async with asyncio.timeout(self.timeout):
                    await self.ping()
            except asyncio.CancelledError:
                raise
            except Exception:
                continue
            self.restored()

    async def check(self) -> bool:
        """For the readiness probe: False while open, else one guarded PING."""
        if self._open or self.ping is None:
            return not self._open

        async def ping() -> bool:
            assert self.ping is not None
            await self.ping()
            return True

        async def down() -> bool:
            return False

        return await self.call(ping, down)

    async def stop(self) -> None:
        probe, self._probe = self._probe, None
        if probe is not None:
            probe.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await probe


class Services(Protocol):
    """What the app's shared Redis client and breaker hang on (the app's services)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def extras(self) -> dict[str, Any]: ...


_REDIS_KEY = "protection.redis"
_GUARD_KEY = "protection.redis_guard"


def shared_redis(services: Services) -> Redis | None:
    """The app's Redis client (one per app, created on first use), or None without REDIS_URL."""
    url = services.settings.redis_url
    if not url:
        return None
    client = services.extras.get(_REDIS_KEY)
    if client is None:
        client = services.extras[_REDIS_KEY] = Redis.from_url(url, **client_options())
    return client


def redis_guard(services: Services) -> RedisGuard:
    """The app's Redis circuit breaker below; it probes through the
    shared client."""
    guard: RedisGuard | None = services.extras.get(_GUARD_KEY)
    if guard is None:

        async def ping() -> Any:
            client = shared_redis(services)
            return None if client is None else await client.ping()

        guard = services.extras[_GUARD_KEY] = RedisGuard(ping)
    return guard


async def close_shared_redis(services: Services) -> None:
    guard = services.extras.pop(_GUARD_KEY, None)
    if guard is not None:
        await guard.stop()
    client = services.extras.pop(_REDIS_KEY, None)
    if client is not None:
        await client.aclose()
