"""Ticket numbers and idempotency under real concurrency: each request on its own pooled
connection (row locks on PostgreSQL, the write lock taken first on SQLite). These tests
commit, so they clean up what they wrote."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app import create_app
from models import Ticket
from models.session import create_sessionmaker
from settings import Settings
from tests.graphql import GraphQLClient
from tests.tickets.support import CREATE_TICKET, committed_writes_removed, covered_device

ADMIN = "admin@acme.example"


@pytest.fixture
async def committing_gql(engine: AsyncEngine, settings: Settings) -> AsyncIterator[GraphQLClient]:
    """A client whose operations each commit on their own pooled connection; everything the
    test wrote is removed afterwards."""
    app = create_app(settings, sessionmaker=create_sessionmaker(engine))
    transport = httpx.ASGITransport(app=app)
    async with (
        committed_writes_removed(engine),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as http,
    ):
        yield GraphQLClient(http)


def _input(device_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "input": {
            "type": "INCIDENT",
            "deviceId": device_id,
            "summary": "Concurrent",
            "symptomCategory": "OTHER",
            **extra,
        }
    }


async def test_twenty_concurrent_creations_get_distinct_consecutive_numbers(
    committing_gql: GraphQLClient,
) -> None:
    # given
    gql = committing_gql
    device = await covered_device(gql, ADMIN)
    token = await gql.token_for(ADMIN)
    # when
    results = await asyncio.gather(
        *(gql(CREATE_TICKET, _input(device["id"]), token=token) for _ in range(20))
    )
    # then
    numbers = []
    for result in results:
        assert not result.errors, result.errors
        assert result.data["createTicket"]["userErrors"] == []
        numbers.append(result.data["createTicket"]["ticket"]["number"])
    sequence = sorted(int(n[-6:]) for n in numbers)
    assert len(set(numbers)) == 20
    assert sequence == list(range(sequence[0], sequence[0] + 20))


async def test_concurrent_retries_with_one_key_create_one_ticket(
    committing_gql: GraphQLClient, engine: AsyncEngine
) -> None:
    # given
    gql = committing_gql
    device = await covered_device(gql, ADMIN)
    token = await gql.token_for(ADMIN)
    key = f"retry-{uuid.uuid4()}"
    # when
    results = await asyncio.gather(
        *(
            gql(CREATE_TICKET, _input(device["id"], idempotencyKey=key), token=token)
            for _ in range(8)
        )
    )
    # then
    ids = set()
    for result in results:
        assert not result.errors, result.errors
        assert result.data["createTicket"]["userErrors"] == []
        ids.add(result.data["createTicket"]["ticket"]["id"])
    assert len(ids) == 1
    async with engine.connect() as conn:
        stored = await conn.scalar(
            select(func.count()).select_from(Ticket).where(Ticket.idempotency_key == key)
        )
    assert stored == 1
