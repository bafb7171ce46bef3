"""Fixtures for the attack suite: Redis (when it runs) under a key prefix of the test's own, and
two apps sharing it (apps with adjusted settings: `client_with` in tests/conftest.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from redis.asyncio import Redis

from tests.conftest import ClientFactory
from tests.graphql import GraphQLClient

REDIS_URL = "redis://127.0.0.1:6379/0"


@asynccontextmanager
async def two_workers(
    client_with: ClientFactory, extra: str, make: Callable[[], Any]
) -> AsyncIterator[tuple[GraphQLClient, GraphQLClient]]:
    """Two apps ("workers") configured for Redis, each with its own `make()` as `extra`."""
    async with (
        client_with(redis_url=REDIS_URL) as first,
        client_with(redis_url=REDIS_URL) as second,
    ):
        for worker in (first, second):
            worker.app.state.services.extras[extra] = make()  # type: ignore[attr-defined]
        yield first, second


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
