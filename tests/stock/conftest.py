"""Helpers for stock tests: the demo's e-Maintenance client token and a few lookups."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from auth.passwords import hash_password
from demo.fleet import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from models import ApiClient, Device, StockLocation
from tests.graphql import GraphQLClient

QUERY_CLIENT_TOKEN = """
mutation Token($input: ClientTokenInput!) {
  clientToken(input: $input) { accessToken userErrors { code } }
}
"""


async def client_token(gql: GraphQLClient, client_id: str, secret: str) -> str:
    result = await gql(
        QUERY_CLIENT_TOKEN, {"input": {"clientId": client_id, "clientSecret": secret}}
    )
    payload = result.data["clientToken"]
    assert payload["userErrors"] == [], payload
    return payload["accessToken"]  # type: ignore[no-any-return]


@pytest.fixture
async def emaintenance_token(gql: GraphQLClient) -> str:
    return await client_token(gql, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)


@pytest.fixture
async def analytics_token(gql: GraphQLClient, connection: AsyncConnection) -> str:
    """A machine client that sees every account (analytics) but holds no stock permission."""
    await connection.execute(
        ApiClient.__table__.insert().values(
            client_id="analytics-test",
            name="Analytics (test)",
            secret_hash=hash_password("analytics-secret"),
            scopes=["analytics:read"],
            is_active=True,
        )
    )
    return await client_token(gql, "analytics-test", "analytics-secret")


async def supplied_device(connection: AsyncConnection) -> Any:
    """An e-Maintenance device with a supplying stock location."""
    return (
        await connection.execute(
            select(Device)
            .where(Device.e_maintenance.is_(True), Device.stock_location_id.is_not(None))
            .order_by(Device.id)
            .limit(1)
        )
    ).one()


async def location_of(connection: AsyncConnection, location_id: int) -> Any:
    return (
        await connection.execute(select(StockLocation).where(StockLocation.id == location_id))
    ).one()
