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

if TYPE_CHECKING:
    from schema.context import AppServices
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


class InMemoryBroker:
    """One process: every subscriber gets its own bounded queue."""

    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[TicketEventMessage]] = set()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self._queues.clear()

    async def publish(self, message: TicketEventMessage) -> None:
        self._deliver(message)

    def _deliver(self, message: TicketEventMessage) -> None:
        for queue in list(self._queues):
            try:
                queue.put_nowait(message)
            except asyncio.QueueFull:  # a stuck subscriber loses events, never blocks others
                log.warning("dropping a ticket event for a slow subscriber")

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[TicketEventMessage]]:
        await self.start()
        queue: asyncio.Queue[TicketEventMessage] = asyncio.Queue(QUEUE_SIZE)
        self._queues.add(queue)
        try:
            yield queue
        finally:
            self._queues.discard(queue)


class RedisBroker(InMemoryBroker):
    """Several processes: publish to a Redis channel; one listener per process feeds the local
    subscriber queues (local subscribers get the event back from Redis like everyone else)."""

    def __init__(self, url: str, channel: str = CHANNEL) -> None:
        super().__init__()
        self.url = url
        self.channel = channel
        self._redis: Any = None
        self._listener: asyncio.Task[None] | None = None
        self._ready: asyncio.Event | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        async with self._lock:
            if self._listener is not None and not self._listener.done():
                return
            import redis.asyncio as redis

            if self._redis is None:
                self._redis = redis.from_url(self.url)
            self._ready = asyncio.Event()
            self._listener = asyncio.create_task(self._listen(), name="ticket-events-listener")
        await asyncio.wait_for(self._ready.wait(), timeout=10)

    async def _listen(self) -> None:
        assert self._ready is not None
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    self._ready.set()
                    async for item in pubsub.listen():
                        if item.get("type") != "message":
                            continue
                        try:
                            self._deliver(TicketEventMessage.decode(item["data"]))
                        except (ValueError, KeyError, TypeError):
                            log.warning("ignoring a malformed ticket event message")
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("ticket event listener lost Redis; reconnecting", exc_info=True)
                await asyncio.sleep(1)

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
        await self.start()
        await self._redis.publish(self.channel, message.encode())


Broker = InMemoryBroker


def channel_for(settings: Settings) -> str:
    """One channel per database: deployments (or test runs) sharing a Redis never see each
    other's event ids."""
    database = settings.database_url.rsplit("@", 1)[-1]
    return f"{CHANNEL}:{hashlib.sha256(database.encode()).hexdigest()[:16]}"


def create_broker(settings: Settings) -> Broker:
    if settings.redis_url:
        return RedisBroker(settings.redis_url, channel_for(settings))
    return InMemoryBroker()


def broker_for(services: AppServices) -> Broker:
    """The process's broker, made on first use (the app's lifespan stops it)."""
    broker: Broker | None = services.extras.get("ticket_broker")
    if broker is None:
        broker = services.extras["ticket_broker"] = create_broker(services.settings)
    return broker


async def publish_all(services: AppServices, messages: list[TicketEventMessage]) -> None:
    """After commit: a failure to announce never undoes or fails the change itself."""
    if not messages:
        return
    broker = broker_for(services)
    for message in messages:
        try:
            await broker.publish(message)
        except Exception:
            log.warning("could not publish ticket event %s", message.event_id, exc_info=True)
