"""Fixtures of the webhook tests: a real receiver on loopback and a sender over the test's
connection (each test's writes are rolled back)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from resolvers.context import AppServices
from schema.webhook_payloads import SchemaRenderer
from tests.conftest import ClientFactory
from tests.graphql import GraphQLClient
from tests.integrations.support import Receiver
from tests.servers import serving
from webhooks.sender import WebhookSender


@dataclass
class Served:
    receiver: Receiver
    url: str


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    receiver = Receiver()
    async with serving(receiver) as host:
        yield Served(receiver, f"http://{host}/hook")


@dataclass
class Hooks:
    gql: GraphQLClient
    sender: WebhookSender
    services: AppServices

    async def deliver(self) -> int:
        """One pass of the sender (retries are due at once: the backoff base is 0)."""
        return await self.sender.deliver_pending()


@pytest.fixture
async def hooks(client_with: ClientFactory) -> AsyncIterator[Hooks]:
    async with client_with(
        webhook_backoff_base_seconds=0.0,
        webhook_timeout_seconds=0.5,
        webhook_disable_after_failures=3,
    ) as gql:
        services = gql.app.state.services  # type: ignore[attr-defined]
        # One connection under the test: deliveries one at a time.
        sender = WebhookSender(
            services.sessionmaker, services.settings, SchemaRenderer(services), concurrency=1
        )
        try:
            yield Hooks(gql, sender, services)
        finally:
            await sender.stop()
