"""A real uvicorn server in the test's event loop for standard GraphQL clients; its requests
commit on their own connections, so what a test writes (tickets and their comments, audit and
mail rows, sign-ins' refresh tokens) is removed afterwards."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app import create_app
from models.session import create_sessionmaker
from models.user import RefreshToken
from settings import Settings
from tests.servers import serving
from tests.tickets.support import committed_writes_removed

ADMIN = "admin@acme.example"
AGENT = "agent@vendor.example"


@dataclass
class Server:
    address: str  # 127.0.0.1:port

    @property
    def http_url(self) -> str:
        return f"http://{self.address}/graphql"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.address}/graphql"


@contextlib.asynccontextmanager
async def refresh_tokens_removed(engine: AsyncEngine) -> AsyncIterator[None]:
    async with engine.connect() as conn:
        mark = await conn.scalar(select(func.coalesce(func.max(RefreshToken.id), 0)))
    try:
        yield
    finally:
        async with engine.begin() as conn:
            await conn.execute(delete(RefreshToken).where(RefreshToken.id > mark))


@pytest.fixture
async def server(engine: AsyncEngine, settings: Settings) -> AsyncIterator[Server]:
    app = create_app(replace(settings, redis_url=None), sessionmaker=create_sessionmaker(engine))
    async with (
        committed_writes_removed(engine),
        refresh_tokens_removed(engine),
        serving(app) as address,
    ):
        yield Server(address)
