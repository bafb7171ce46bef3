"""The ticket event broker: fans each committed ticket event out to the subscriptions of every
process.

In-process by default; with `REDIS_URL` set, events travel over Redis pub/sub, so an event made
through one worker reaches subscribers on every other one. Messages only carry identifiers:
each subscription re-reads the event with a fresh session and re-checks visibility before it
delivers anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import orjson
from redis.asyncio import Redis

from core.redis_guard import RedisGuard, Services, client_options, redis_guard

if TYPE_CHECKING:
    from settings import Settings

log = logging.getLogger("portal.events")

CHANNEL = "portal:ticket-events"
QUEUE_SIZE = 1000


@dataclass(frozen=True)
class TicketEventMessage:
    """What travels between processes: identifiers only, never content."""

    event_id: int
    ticket_id: int
    account_id: int
    internal: bool

    def encode(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def decode(cls, raw: bytes | str) -> TicketEventMessage:
        data = orjson.loads(raw)
        return cls(
            event_id=int(data["event_id"]),
            ticket_id=int(data["ticket_id"]),
            account_id=int(data["account_id"]),
            internal=bool(data["internal"]),
        )


@dataclass(frozen=True)
class Resync:
    """Put in every subscriber's queue when events may have been lost for it: live delivery
    across servers was interrupted (Redis lost, its breaker opened) or has just been restored.
    The subscription answers a `RESYNC` event: the client refetches what it shows."""

    reason: str  # "interrupted" | "restored"


Item = TicketEventMessage | Resync


class InMemoryBroker:
    """One process: every subscriber gets its own bounded queue."""

    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[Item]] = set()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self._queues.clear()

    async def publish(self, message: TicketEventMessage) -> None:
        self._deliver(message)

    def _deliver(self, item: Item) -> None:
        for queue in list(self._queues):
            try:
                queue.put_nowait(item)
            except asyncio.QueueFull:  # a stuck subscriber loses events, never blocks others
                log.warning("dropping a ticket event for a slow subscriber")

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[Item]]:
        await self.start()
        queue: asyncio.Queue[Item] = asyncio.Queue(QUEUE_SIZE)
        self._queues.add(queue)
        try:
            yield queue
        finally:
            self._queues.discard(queue)


# How long a subscription waits for the Redis listener before it goes on without it.
READY_WAIT_SECONDS = 1.0
# A quiet listener pings Redis this often, so that a hanging Redis is noticed without traffic.
HEARTBEAT_SECONDS = 2.0


class RedisBroker(InMemoryBroker):
    """Several processes: publish to a Redis channel; one listener per process feeds the local
    subscriber queues (local subscribers get the event back from Redis like everyone else).

    While the Redis breaker (core/redis_guard.py) is open, events are delivered in
    process only, and every local subscriber gets a `Resync` when that starts and another
    once the listener is subscribed again: events of other processes in between are lost."""

    def __init__(self, url: str, channel: str = CHANNEL, guard: RedisGuard | None = None) -> None:
        super().__init__()
        self.url = url
        self.channel = channel
        self._redis: Any = None
        self._listener: asyncio.Task[None] | None = None
        self._ready: asyncio.Event | None = None
        self._lock = asyncio.Lock()
        self._gap = False
        self.guard = guard or RedisGuard(self._ping)
        self.guard.on_open.append(self._interrupted)

    def _client(self) -> Any:
        if self._redis is None:
            self._redis = Redis.from_url(self.url, **client_options())
        return self._redis

    async def _ping(self) -> Any:
        return await self._client().ping()

    def _interrupted(self) -> None:
        self._gap = True
        self._deliver(Resync("interrupted"))

    async def start(self) -> None:
        async with self._lock:
            if self._listener is not None and not self._listener.done():
                return
            self._client()
            self._ready = asyncio.Event()
            self._listener = asyncio.create_task(self._listen(), name="ticket-events-listener")
        # Until the listener is subscribed, the breaker opens (the listener's own timeouts
        # open it when Redis fails), or READY_WAIT_SECONDS; after that a subscriber that may
        # have missed something gets a Resync once the listener is subscribed.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_WAIT_SECONDS
        while not self._ready.is_set() and self.guard.available:
            if loop.time() >= deadline:
                self._gap = True
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._ready.wait()), 0.05)

    async def _listen(self) -> None:
        assert self._ready is not None
        while True:
            try:
                await self.guard.wait_available()
                async with self._client().pubsub() as pubsub:
                    async with asyncio.timeout(self.guard.timeout):
                        await pubsub.subscribe(self.channel)
                    self._ready.set()
                    if self._gap:
                        self._gap = False
                        self._deliver(Resync("restored"))
                    await self._receive(pubsub)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self.guard.failed(error)  # one log line; in-process delivery until it is back

    async def _receive(self, pubsub: Any) -> None:
        """Delivers messages until the breaker opens (a failed heartbeat or any other call)."""
        loop = asyncio.get_running_loop()
        quiet_since = loop.time()
        while self.guard.available:
            item = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if item is None:
                if loop.time() - quiet_since >= HEARTBEAT_SECONDS:
                    quiet_since = loop.time()
                    await self.guard.check()
                continue
            quiet_since = loop.time()
            if item.get("type") != "message":
                continue
            try:
                self._deliver(TicketEventMessage.decode(item["data"]))
            except (ValueError, KeyError, TypeError):
                log.warning("ignoring a malformed ticket event message")

    async def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await listener
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None
        await super().stop()

    async def publish(self, message: TicketEventMessage) -> None:
        async def shared() -> None:
            await self._client().publish(self.channel, message.encode())

        async def local() -> None:
            self._deliver(message)

        await self.guard.call(shared, local)


Broker = InMemoryBroker


def channel_for(settings: Settings) -> str:
    """One channel per database: deployments (or test runs) sharing a Redis never see each
    other's event ids."""
    database = settings.database_url.rsplit("@", 1)[-1]
    return f"{CHANNEL}:{hashlib.sha256(database.encode()).hexdigest()[:16]}"


def create_broker(settings: Settings, guard: RedisGuard | None = None) -> Broker:
    if settings.redis_url:
        return RedisBroker(settings.redis_url, channel_for(settings), guard)
    return InMemoryBroker()


def broker_for(services: Services) -> Broker:
    """The process's broker, made on first use (the app's lifespan stops it)."""
    broker: Broker | None = services.extras.get("ticket_broker")
    if broker is None:
        guard = redis_guard(services) if services.settings.redis_url else None
        broker = services.extras["ticket_broker"] = create_broker(services.settings, guard)
    return broker


async def publish_all(services: Services, messages: list[TicketEventMessage]) -> None:
    """After commit: a failure to announce never undoes or fails the change itself."""
    if not messages:
        return
    broker = broker_for(services)
    for message in messages:
        try:
            await broker.publish(message)
        except Exception:
            log.warning("could not publish ticket event %s", message.event_id, exc_info=True)
