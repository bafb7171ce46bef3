"""Fixtures for identity and access tests: apps with adjusted settings over the test's
rolled-back connection, and direct access to the app's token service."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.applications import Starlette

from app import create_app
from auth.tokens import TokenService
from models.session import create_sessionmaker
from settings import Settings
from tests.graphql import GraphQLClient

ClientFactory = Callable[..., AbstractAsyncContextManager[GraphQLClient]]


@pytest.fixture
def tokens(app: Starlette) -> TokenService:
    return app.state.services.tokens  # type: ignore[no-any-return]


@pytest.fixture
def client_with(settings: Settings, connection: AsyncConnection) -> ClientFactory:
    """`async with client_with(login_max_failures=2) as gql:` a client of an app whose settings
    differ from the session's (same database connection, so the same rolled-back state)."""

    @asynccontextmanager
    async def make(**overrides: Any) -> AsyncIterator[GraphQLClient]:
        app = make_app(replace(settings, **overrides), connection)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            client = GraphQLClient(http)
            client.app = app  # type: ignore[attr-defined]
            yield client

    return make


def make_app(settings: Settings, connection: AsyncConnection) -> Starlette:
    sessionmaker = create_sessionmaker(connection, join_transaction_mode="create_savepoint")
    return create_app(settings, sessionmaker=sessionmaker)
