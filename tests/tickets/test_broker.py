"""The in-process ticket event broker (one worker, no Redis)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from pubsub.tickets import InMemoryBroker, RedisBroker, TicketEventMessage, create_broker
from settings import Settings


async def test_every_subscriber_gets_each_message_until_it_leaves() -> None:
    # given
    broker = InMemoryBroker()
    message = TicketEventMessage(event_id=1, ticket_id=2, account_id=3, internal=False)
    async with broker.subscribe() as first:
        async with broker.subscribe() as second:
            # when
            await broker.publish(message)
            # then
            assert await asyncio.wait_for(first.get(), 1) == message
            assert await asyncio.wait_for(second.get(), 1) == message
        await broker.publish(message)
        assert await asyncio.wait_for(first.get(), 1) == message
    await broker.stop()


def test_messages_carry_identifiers_only() -> None:
    # given
    message = TicketEventMessage(event_id=10, ticket_id=20, account_id=30, internal=True)
    # then
    assert TicketEventMessage.decode(message.encode()) == message
    assert set(message.__dict__) == {"event_id", "ticket_id", "account_id", "internal"}


def test_redis_is_used_when_configured(settings: Settings) -> None:
    # when
    local = create_broker(replace(settings, redis_url=None))
    shared = create_broker(replace(settings, redis_url="redis://127.0.0.1:6379/0"))
    other_database = create_broker(
        replace(settings, redis_url="redis://127.0.0.1:6379/0", database_url="sqlite:///other")
    )
    # then: one channel per database
    assert type(local) is InMemoryBroker
    assert isinstance(shared, RedisBroker) and isinstance(other_database, RedisBroker)
    assert shared.channel != other_database.channel
