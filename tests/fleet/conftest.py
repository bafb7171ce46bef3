"""The fleet tests page through whole lists with the issue's dashboard query (100 devices with
their readings, tickets and stock location) many times per test: the per-caller token bucket
is raised here so that the tests check the fleet views, not the rate limit (which
`tests/security/` covers). The query-cost ceiling stays the default: the dashboard must fit it."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.applications import Starlette

from app import create_app
from models.session import create_sessionmaker
from settings import Settings


@pytest.fixture
def app(settings: Settings, connection: AsyncConnection) -> Starlette:
    roomy = replace(settings, rate_limit_capacity=10**9)
    sessionmaker = create_sessionmaker(connection, join_transaction_mode="create_savepoint")
    return create_app(roomy, sessionmaker=sessionmaker)
