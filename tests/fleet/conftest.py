"""The fleet tests page through whole lists with the issue's dashboard query (100 devices with
their readings, tickets and stock location) many times per test: the per-caller token bucket
and the query-cost ceiling are raised here so that the tests check the fleet views, not the
limits (which `tests/security/` covers)."""

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
    roomy = replace(settings, max_query_cost=10_000, rate_limit_capacity=10**9)
    sessionmaker = create_sessionmaker(connection, join_transaction_mode="create_savepoint")
    return create_app(roomy, sessionmaker=sessionmaker)
