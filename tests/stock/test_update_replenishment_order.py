"""`updateReplenishmentOrder`: agents ship and deliver; delivery adds to the stock level."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.ids import global_id
from models import ReplenishmentOrder, StockLevel
from models.enums import ReplenishmentStatus
from tests.audiences import fields_of
from tests.graphql import NOT_IN_SCHEMA, GraphQLClient
from tests.stock.conftest import supplied_device

AGENT = "agent@vendor.example"

QUERY_UPDATE_ORDER = """
mutation Update($input: UpdateReplenishmentOrderInput!) {
  updateReplenishmentOrder(input: $input) {
    replenishmentOrder { id status shippedAt deliveredAt stockLocation { id } device { id } }
    userErrors { field code message }
  }
}
"""

QUERY_LOCATION_ORDERS = """
query Node($id: ID!) {
  node(id: $id) { ... on StockLocation { replenishmentOrders { nodes { id status } } } }
}
"""


async def _pending_order(connection: AsyncConnection) -> tuple[Any, int]:
    device = await supplied_device(connection)
    level = (
        await connection.execute(
            select(StockLevel).where(StockLevel.stock_location_id == device.stock_location_id)
        )
    ).first()
    assert level is not None
    order_id = await connection.scalar(
        insert(ReplenishmentOrder)
        .values(
            stock_location_id=device.stock_location_id,
            device_id=device.id,
            consumable_id=level.consumable_id,
            quantity=2,
        )
        .returning(ReplenishmentOrder.id)
    )
    return level, int(order_id)


async def _move(gql: GraphQLClient, order_id: int, status: str, user: str = AGENT) -> Any:
    return await gql(
        QUERY_UPDATE_ORDER,
        {"input": {"id": global_id("ReplenishmentOrder", order_id), "status": status}},
        as_user=user,
    )


async def test_agent_ships_then_delivers_and_stock_grows(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given
    level, order_id = await _pending_order(connection)
    # when
    shipped = await _move(gql, order_id, "SHIPPED")
    delivered = await _move(gql, order_id, "DELIVERED")
    # then
    assert shipped.data["updateReplenishmentOrder"]["replenishmentOrder"]["status"] == "SHIPPED"
    order = delivered.data["updateReplenishmentOrder"]["replenishmentOrder"]
    assert order["status"] == "DELIVERED" and order["deliveredAt"] and order["shippedAt"]
    assert order["stockLocation"]["id"] == global_id("StockLocation", level.stock_location_id)
    quantity = await connection.scalar(
        select(StockLevel.quantity).where(
            StockLevel.stock_location_id == level.stock_location_id,
            StockLevel.consumable_id == level.consumable_id,
        )
    )
    assert quantity == level.quantity + 2
    orders = await gql(
        QUERY_LOCATION_ORDERS,
        {"id": global_id("StockLocation", level.stock_location_id)},
        as_user=AGENT,
    )
    assert {"id": global_id("ReplenishmentOrder", order_id), "status": "DELIVERED"} in orders.data[
        "node"
    ]["replenishmentOrders"]["nodes"]


async def test_delivery_of_an_untracked_consumable_creates_the_level(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given
    level, order_id = await _pending_order(connection)
    await connection.execute(
        StockLevel.__table__.delete().where(
            StockLevel.stock_location_id == level.stock_location_id,
            StockLevel.consumable_id == level.consumable_id,
        )
    )
    await _move(gql, order_id, "SHIPPED")
    # when
    await _move(gql, order_id, "DELIVERED")
    # then
    quantity = await connection.scalar(
        select(StockLevel.quantity).where(
            StockLevel.stock_location_id == level.stock_location_id,
            StockLevel.consumable_id == level.consumable_id,
        )
    )
    assert quantity == 2


async def test_invalid_transitions_are_refused(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given
    _, order_id = await _pending_order(connection)
    # when
    skipped = await _move(gql, order_id, "DELIVERED")
    backwards = await _move(gql, order_id, "PENDING")
    # then
    for result in (skipped, backwards):
        payload = result.data["updateReplenishmentOrder"]
        assert payload["replenishmentOrder"] is None
        assert payload["userErrors"][0]["code"] == "INVALID_ORDER_TRANSITION"
    status = await connection.scalar(
        select(ReplenishmentOrder.status).where(ReplenishmentOrder.id == order_id)
    )
    assert status == ReplenishmentStatus.PENDING


async def test_update_replenishment_order_requires_permission(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given: customers, who manage replenishment nowhere
    _, order_id = await _pending_order(connection)
    users = ("admin@acme.example", "stock@acme.example", "kb@acme.example")
    # when
    results = [await _move(gql, order_id, "SHIPPED", user=user) for user in users]
    # then: neither the mutation nor its input type is in their schemas
    for user, result in zip(users, results, strict=True):
        assert result.data is None, user
        assert set(result.error_codes) == set(NOT_IN_SCHEMA), (user, result.errors)
        assert "updateReplenishmentOrder" not in fields_of(user, "Mutation"), user
    status = await connection.scalar(
        select(ReplenishmentOrder.status).where(ReplenishmentOrder.id == order_id)
    )
    assert status == ReplenishmentStatus.PENDING


QUERY_ORDER_NODE = """
query Node($id: ID!) {
  node(id: $id) { ... on ReplenishmentOrder { status consumable { sku } } }
}
"""


async def test_order_nodes_follow_the_stock_location_scope(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given
    _, order_id = await _pending_order(connection)
    variables = {"id": global_id("ReplenishmentOrder", order_id)}
    # when
    as_agent = await gql(QUERY_ORDER_NODE, variables, as_user=AGENT)
    hidden = await gql(QUERY_ORDER_NODE, variables, as_user="admin@globex.example")
    unreachable = {
        user: await gql(QUERY_ORDER_NODE, variables, as_user=user)
        for user in ("devices@acme.example", "kb@acme.example")
    }
    # then
    assert as_agent.data["node"]["status"] == "PENDING"
    assert not hidden.errors, hidden.errors
    assert hidden.data["node"] is None
    # then: without any stock-location reach, orders are not in the schema at all
    for user, result in unreachable.items():
        assert result.data is None, user
        assert result.error_codes == NOT_IN_SCHEMA, (user, result.errors)
        assert fields_of(user, "ReplenishmentOrder") == set(), user


async def test_a_refused_transition_names_the_statuses_in_the_readers_language(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given
    _, order_id = await _pending_order(connection)
    variables = {"input": {"id": global_id("ReplenishmentOrder", order_id), "status": "DELIVERED"}}
    # when
    answers = {
        language: await gql(
            QUERY_UPDATE_ORDER, variables, as_user=AGENT, headers={"Accept-Language": language}
        )
        for language in ("en", "fr", "it")
    }
    # then
    messages = {
        language: result.data["updateReplenishmentOrder"]["userErrors"][0]["message"]
        for language, result in answers.items()
    }
    assert "pending" in messages["en"] and "delivered" in messages["en"]
    assert "en attente" in messages["fr"] and "livrée" in messages["fr"]
    assert "in attesa" in messages["it"] and "consegnato" in messages["it"]
    assert not any("PENDING" in m or "DELIVERED" in m for m in messages.values())
