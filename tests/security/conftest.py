"""Fixtures for the attack suite: apps with adjusted settings over the test's rolled-back
connection, raw HTTP access, and Redis (when it runs) under a key prefix of the test's own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncConnection

from app import create_app
from models.session import create_sessionmaker
from settings import Settings
from tests.graphql import GraphQLClient

REDIS_URL = "redis://127.0.0.1:6379/0"

ClientFactory = Callable[..., AbstractAsyncContextManager[GraphQLClient]]


@pytest.fixture
def client_with(settings: Settings, connection: AsyncConnection) -> ClientFactory:
    """`async with client_with(max_query_cost=10) as gql:` a client of an app with other
    settings (same rolled-back connection); `gql.http` is its raw httpx client and `gql.app`
    the app."""

    @asynccontextmanager
    async def make(**overrides: Any) -> AsyncIterator[GraphQLClient]:
        sessionmaker = create_sessionmaker(connection, join_transaction_mode="create_savepoint")
        app = create_app(replace(settings, **overrides), sessionmaker=sessionmaker)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            client = GraphQLClient(http)
            client.app = app  # type: ignore[attr-defined]
            yield client

    return make


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except Exception:  # pragma: no cover - depends on the machine
        await client.aclose()
        pytest.skip("needs Redis at 127.0.0.1:6379")
    yield client
    await client.aclose()


@pytest.fixture
async def redis_prefix(redis: Redis) -> AsyncIterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    prefix = f"test:{uuid.uuid4().hex}:"
    yield prefix
    keys = [key async for key in redis.scan_iter(match=prefix + "*")]
    if keys:
        await redis.delete(*keys)
