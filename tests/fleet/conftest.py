"""The fleet tests page through whole lists with the issue's dashboard query (100 devices with
their readings, tickets and stock location) many times per test: the per-caller token bucket
is raised here so that the tests check the fleet views, not the rate limit (which
`tests/security/` covers). The query-cost ceiling stays the default: the dashboard must fit it."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.applications import Starlette

from settings import Settings
from tests.conftest import make_app


@pytest.fixture
def app(settings: Settings, connection: AsyncConnection) -> Starlette:
    return make_app(replace(settings, rate_limit_capacity=10**9), connection)
