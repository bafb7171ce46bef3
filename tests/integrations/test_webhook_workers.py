"""Several senders on one outbox, committing for real (on SQLite and, with DATABASE_URL, on
PostgreSQL): each delivery reaches the receiver once however the workers race, and a worker
that dies holding deliveries only delays them until its lease runs out."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app import create_app
from core import clock
from models import Account, DeliveryStatus, Device, User, Webhook, WebhookDelivery
from models.session import create_sessionmaker
from schema.webhook_payloads import SchemaRenderer
from settings import Settings
from tests.integrations.conftest import Served
from tests.integrations.support import NODE_PAYLOAD
from webhooks import signing
from webhooks.events import WebhookEvent, events_column
from webhooks.sender import LEASE, WebhookSender, claim

DEVICES = 12


@dataclass
class Outbox:
    sessionmaker: async_sessionmaker[AsyncSession]
    renderer: SchemaRenderer
    settings: Settings
    webhook_id: int
    delivery_ids: list[int]

    def sender(self) -> WebhookSender:
        return WebhookSender(self.sessionmaker, self.settings, self.renderer, concurrency=4)

    async def statuses(self) -> Counter[str]:
        async with self.sessionmaker() as session:
            rows = await session.scalars(
                select(WebhookDelivery.status).where(WebhookDelivery.webhook_id == self.webhook_id)
            )
            return Counter(status.value for status in rows)


@pytest.fixture
async def outbox(engine: AsyncEngine, settings: Settings, served: Served) -> AsyncIterator[Outbox]:
    """An administrator's committed webhook with one pending delivery per Acme device (and two
    more about the first device, to check their order)."""
    secret = signing.new_secret()
    served.receiver.secrets = [secret]
    async with engine.begin() as conn:
        owner = await conn.scalar(select(User.id).where(User.email == "admin@acme.example"))
        group = await conn.scalar(select(Account.id).where(Account.name == "Acme Group"))
        devices = list(
            await conn.scalars(
                select(Device.id)
                .join(Account, Account.id == Device.account_id)
                .where(Account.name.like("Acme%"))
                .order_by(Device.id)
                .limit(DEVICES)
            )
        )
        now = clock.now()
        webhook_id = await conn.scalar(
            insert(Webhook)
            .values(
                account_id=group,
                owner_user_id=owner,
                url=served.url,
                events=events_column([WebhookEvent.DEVICE_STATUS_CHANGED]),
                query=NODE_PAYLOAD,
                description="race",
                secret=secret,
                is_active=True,
                consecutive_failures=0,
                created_at=now,
                updated_at=now,
            )
            .returning(Webhook.id)
        )
        subjects = [*devices, devices[0], devices[0]]
        ids = list(
            await conn.scalars(
                insert(WebhookDelivery).returning(WebhookDelivery.id),
                [
                    {
                        "webhook_id": webhook_id,
                        "event": WebhookEvent.DEVICE_STATUS_CHANGED.value,
                        "subject_type": "Device",
                        "subject_id": subject,
                        "internal": False,
                        "status": DeliveryStatus.PENDING,
                        "available_at": now,
                        "attempts": 0,
                        "created_at": now,
                    }
                    for subject in subjects
                ],
            )
        )
    sessionmaker = create_sessionmaker(engine)
    app_settings = replace(settings, webhook_backoff_base_seconds=0.0)
    services = create_app(app_settings, sessionmaker=sessionmaker).state.services
    try:
        yield Outbox(sessionmaker, SchemaRenderer(services), app_settings, webhook_id, ids)
    finally:
        async with engine.begin() as conn:
            await conn.execute(
                delete(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id)
            )
            await conn.execute(delete(Webhook).where(Webhook.id == webhook_id))


async def drain(sender: WebhookSender) -> int:
    attempted = 0
    while n := await sender.deliver_pending(limit=3):
        attempted += n
    await sender.stop()
    return attempted


async def test_two_workers_deliver_each_delivery_once(outbox: Outbox, served: Served) -> None:
    # when two senders drain the outbox at the same time
    first, second = await asyncio.gather(drain(outbox.sender()), drain(outbox.sender()))

    # then every delivery was attempted once, by one of them, and reached the receiver once
    assert first + second == len(outbox.delivery_ids)
    ids = Counter(r.headers["webhook-id"] for r in served.receiver.received)
    assert sorted(ids) == sorted(f"msg_{i}" for i in outbox.delivery_ids)
    assert set(ids.values()) == {1}
    assert all(r.verified for r in served.receiver.received)
    assert await outbox.statuses() == Counter({"SUCCEEDED": len(outbox.delivery_ids)})
    # the three deliveries about one device arrived in the order of their events
    about_first = [f"msg_{i}" for i in (outbox.delivery_ids[0], *outbox.delivery_ids[-2:])]
    received = [r.headers["webhook-id"] for r in served.receiver.received]
    assert [i for i in received if i in about_first] == about_first


async def test_deliveries_of_a_worker_that_died_are_sent_after_its_lease(
    outbox: Outbox, served: Served
) -> None:
    # given a worker that claimed everything it could, then died
    held = await claim(outbox.sessionmaker, limit=100)
    assert held  # (the two later events of the first device wait for the first)

    # when another worker runs before the lease is over
    survivor = outbox.sender()
    attempted = await survivor.deliver_pending()

    # then it leaves the held deliveries alone
    assert attempted == 0
    assert served.receiver.received == []

    # when the lease has run out
    with time_machine.travel(clock.now() + LEASE + timedelta(seconds=1), tick=True):
        attempted = await drain(survivor)

    # then everything is delivered, once
    assert attempted == len(outbox.delivery_ids)
    assert len(served.receiver.received) == len(outbox.delivery_ids)
    assert await outbox.statuses() == Counter({"SUCCEEDED": len(outbox.delivery_ids)})
