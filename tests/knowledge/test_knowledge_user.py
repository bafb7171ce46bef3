"""KNOWLEDGE_USER reads articles and nothing else."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.ids import global_id
from models import Account, Device, StockLocation, Ticket
from tests.audiences import fields_of
from tests.graphql import NOT_IN_SCHEMA, GraphQLClient

KNOWLEDGE_USER = "kb@acme.example"

OTHER_ROOTS = ("accounts", "devices", "tickets", "stockLocations")
ROOTS = (*OTHER_ROOTS, "knowledgeArticles")


def _count(roots: list[str]) -> str:
    return "query Counts { " + " ".join(f"{r}(first: 10) {{ totalCount }}" for r in roots) + " }"


QUERY_NODES = """
query Nodes($ids: [ID!]!) { nodes(ids: $ids) { id } }
"""

QUERY_UPDATE_STOCK_LOCATION = """
mutation Update($input: UpdateStockLocationInput!) {
  updateStockLocation(input: $input) { stockLocation { id } userErrors { code } }
}
"""


async def test_knowledge_user_sees_articles_and_nothing_else(gql: GraphQLClient) -> None:
    # given: the lists its schema has
    known = [root for root in ROOTS if root in fields_of(KNOWLEDGE_USER, "Query")]
    # when
    result = await gql(_count(known), as_user=KNOWLEDGE_USER)
    everything = await gql(_count(list(ROOTS)), as_user=KNOWLEDGE_USER)
    # then
    assert not result.errors, result.errors
    data = result.data
    assert data == {"knowledgeArticles": {"totalCount": 6}}
    # then: the other lists are not even in its schema; asking them fails validation
    assert set(OTHER_ROOTS).isdisjoint(fields_of(KNOWLEDGE_USER, "Query"))
    assert everything.data is None
    assert everything.error_codes == NOT_IN_SCHEMA * len(OTHER_ROOTS), everything.errors


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
    # then: it manages stock locations nowhere: neither the mutation nor its input type is
    # in its schema, refused before anything runs
    assert result.data is None
    assert set(result.error_codes) == set(NOT_IN_SCHEMA), result.errors
    assert "updateStockLocation" not in fields_of(KNOWLEDGE_USER, "Mutation")
    stored = await connection.scalar(select(StockLocation.name).where(StockLocation.id == location))
    assert stored != "Mine now"
