"""KNOWLEDGE_USER reads articles and nothing else."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.ids import global_id
from models import Account, Device, StockLocation, Ticket
from tests.graphql import GraphQLClient

KNOWLEDGE_USER = "kb@acme.example"

QUERY_EVERYTHING = """
query Everything {
  accounts(first: 10) { totalCount }
  devices(first: 10) { totalCount }
  tickets(first: 10) { totalCount }
  stockLocations(first: 10) { totalCount }
  knowledgeArticles(first: 10) { totalCount }
}
"""

QUERY_NODES = """
query Nodes($ids: [ID!]!) { nodes(ids: $ids) { id } }
"""

QUERY_UPDATE_STOCK_LOCATION = """
mutation Update($input: UpdateStockLocationInput!) {
  updateStockLocation(input: $input) { stockLocation { id } userErrors { code } }
}
"""


async def test_knowledge_user_sees_articles_and_nothing_else(gql: GraphQLClient) -> None:
    # when
    result = await gql(QUERY_EVERYTHING, as_user=KNOWLEDGE_USER)
    # then
    assert not result.errors, result.errors
    data = result.data
    assert data["knowledgeArticles"]["totalCount"] == 6
    for root in ("accounts", "devices", "tickets", "stockLocations"):
        assert data[root]["totalCount"] == 0, root


async def test_knowledge_user_cannot_reach_objects_by_id(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given: objects of the knowledge user's own account
    acme = await connection.scalar(select(Account.id).where(Account.name == "Acme Group"))
    ids = [global_id("Account", acme)]
    for model, type_name in (
        (Device, "Device"),
        (StockLocation, "StockLocation"),
        (Ticket, "Ticket"),
    ):
        pk = await connection.scalar(select(model.id).order_by(model.id).limit(1))
        ids.append(global_id(type_name, pk))
    # when
    result = await gql(QUERY_NODES, {"ids": ids}, as_user=KNOWLEDGE_USER)
    # then
    assert not result.errors, result.errors
    assert result.data["nodes"] == [None] * len(ids)


async def test_knowledge_user_cannot_write_stock(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given
    location = await connection.scalar(select(StockLocation.id).limit(1))
    # when
    result = await gql(
        QUERY_UPDATE_STOCK_LOCATION,
        {"input": {"id": global_id("StockLocation", location), "name": "Mine now"}},
        as_user=KNOWLEDGE_USER,
    )
    # then
    assert result.data["updateStockLocation"] == {
        "stockLocation": None,
        "userErrors": [{"code": "NOT_FOUND"}],
    }
    stored = await connection.scalar(select(StockLocation.name).where(StockLocation.id == location))
    assert stored != "Mine now"
