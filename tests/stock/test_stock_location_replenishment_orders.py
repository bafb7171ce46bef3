"""`StockLocation.replenishmentOrders`: a connection, newest first, whose first pages are
batched across locations, narrowed by status, guarded by VIEW_STOCK_LEVELS and costed like
every connection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from auth.requirements import Audience
from core.ids import decode_id, global_id
from models import Consumable, Device, ReplenishmentOrder, StockLocation
from models.enums import ReplenishmentStatus
from schema.root import schema
from tests.conftest import StatementCounter
from tests.graphql import NOT_IN_SCHEMA, GraphQLClient

AGENT = "agent@vendor.example"
STOCK_MANAGER = "stock@acme.example"

QUERY_LOCATIONS_WITH_ORDERS = """
query Locations($locations: Int!, $orders: Int!, $statuses: [ReplenishmentStatus!]) {
  stockLocations(first: $locations) {
    nodes {
      id
      replenishmentOrders(first: $orders, statuses: $statuses) {
        totalCount
        pageInfo { hasNextPage hasPreviousPage }
        edges { cursor node { id status } }
      }
    }
  }
}
"""

QUERY_LOCATION_ORDERS = """
query Orders(
  $id: ID!, $first: Int, $after: String, $last: Int, $before: String,
  $statuses: [ReplenishmentStatus!]
) {
  node(id: $id) {
    ... on StockLocation {
      replenishmentOrders(
        first: $first, after: $after, last: $last, before: $before, statuses: $statuses
      ) {
        totalCount
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
        nodes { id status }
      }
    }
  }
}
"""

QUERY_ORDERS_WITHOUT_PAGE_SIZE = """
query { stockLocations(first: 5) { nodes { replenishmentOrders { nodes { id } } } } }
"""

QUERY_ORDER_COST = """
query Cost($locations: Int!, $orders: Int!) {
  stockLocations(first: $locations) {
    nodes { replenishmentOrders(first: $orders) { totalCount nodes { id } } }
  }
}
"""

QUERY_ORDERS_OF_ALL = """
query { stockLocations(first: 5) { nodes { id replenishmentOrders(first: 2) { nodes { id } } } } }
"""

QUERY_LOCATIONS_OF_ALL = """
query { stockLocations(first: 5) { nodes { id } } }
"""

Orders = dict[
    int, list[tuple[str, str]]
]  # location id -> [(order global id, status)], newest first


@pytest.fixture
async def orders(connection: AsyncConnection) -> Orders:
    """Location k gets 3 + k closed orders an hour apart, two of them at the same instant (the
    id breaks the tie), and one open (PENDING) order, the newest."""
    locations = list(await connection.scalars(select(StockLocation.id).order_by(StockLocation.id)))
    devices = list(await connection.scalars(select(Device.id).order_by(Device.id)))
    consumable = await connection.scalar(select(Consumable.id).order_by(Consumable.id))
    assert len(locations) >= 3 and len(devices) >= len(locations)
    start = datetime(2026, 1, 1, 12, tzinfo=UTC)
    made: dict[int, list[tuple[int, datetime, str]]] = {}
    for k, location in enumerate(locations):
        rows = []
        for j in range(3 + k + 1):
            status = (
                ReplenishmentStatus.PENDING
                if j == 0
                else (ReplenishmentStatus.DELIVERED if j % 2 else ReplenishmentStatus.CANCELLED)
            )
            created = start - timedelta(hours=1 if j == 2 else j)  # orders 1 and 2 tie
            order_id = await connection.scalar(
                insert(ReplenishmentOrder)
                .values(
                    stock_location_id=location,
                    device_id=devices[k],
                    consumable_id=consumable,
                    quantity=1,
                    status=status,
                    created_at=created,
                )
                .returning(ReplenishmentOrder.id)
            )
            rows.append((int(order_id), created, status.value))
        made[location] = rows
    return {
        location: [
            (global_id("ReplenishmentOrder", i), status)
            for i, _, status in sorted(rows, key=lambda r: (r[1], r[0]), reverse=True)
        ]
        for location, rows in made.items()
    }


async def _orders_of(gql: GraphQLClient, location: int, **variables: Any) -> dict[str, Any]:
    result = await gql(
        QUERY_LOCATION_ORDERS,
        {"id": global_id("StockLocation", location), **variables},
        as_user=AGENT,
    )
    assert not result.errors, result.errors
    return result.data["node"]["replenishmentOrders"]  # type: ignore[no-any-return]


async def test_first_pages_of_many_locations_cost_the_statements_of_one(
    gql: GraphQLClient, orders: Orders, statements: StatementCounter
) -> None:
    # given
    await gql.token_for(AGENT)
    statements.reset()
    # when
    one = await gql(QUERY_LOCATIONS_WITH_ORDERS, {"locations": 1, "orders": 2}, as_user=AGENT)
    one_count = statements.count
    statements.reset()
    many = await gql(QUERY_LOCATIONS_WITH_ORDERS, {"locations": 100, "orders": 2}, as_user=AGENT)
    many_count = statements.count
    # then
    assert not one.errors and not many.errors, (one.errors, many.errors)
    nodes = many.data["stockLocations"]["nodes"]
    assert len(nodes) == len(orders) >= 3
    assert one_count == many_count, statements.statements
    for location in nodes:
        expected = orders[decode_id(location["id"], "StockLocation")]
        page = location["replenishmentOrders"]
        assert [(e["node"]["id"], e["node"]["status"]) for e in page["edges"]] == expected[:2]
        assert page["totalCount"] == len(expected)
        assert page["pageInfo"] == {"hasNextPage": True, "hasPreviousPage": False}


async def test_cursors_walk_the_orders_both_ways(gql: GraphQLClient, orders: Orders) -> None:
    # given: the location with the most orders
    location, expected = max(orders.items(), key=lambda item: len(item[1]))
    # when: forwards two at a time, then backwards from the end
    forwards: list[str] = []
    after = None
    while True:
        page = await _orders_of(gql, location, first=2, after=after)
        forwards += [n["id"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    backwards: list[str] = []
    before = None
    while True:
        page = await _orders_of(gql, location, last=3, before=before)
        backwards = [n["id"] for n in page["nodes"]] + backwards
        if not page["pageInfo"]["hasPreviousPage"]:
            break
        before = page["pageInfo"]["startCursor"]
    # then
    assert forwards == backwards == [order_id for order_id, _ in expected]
    assert page["totalCount"] == len(expected)


async def test_statuses_narrow_pages_and_counts(gql: GraphQLClient, orders: Orders) -> None:
    # given
    location, expected = max(orders.items(), key=lambda item: len(item[1]))
    closed = [o for o in expected if o[1] in ("DELIVERED", "CANCELLED")]
    # when
    pending = await _orders_of(gql, location, first=10, statuses=["PENDING"])
    done = await _orders_of(gql, location, first=2, statuses=["DELIVERED", "CANCELLED"])
    after = await _orders_of(
        gql,
        location,
        first=100,
        after=done["pageInfo"]["endCursor"],
        statuses=["DELIVERED", "CANCELLED"],
    )
    nothing = await _orders_of(gql, location, first=10, statuses=[])
    batched = await gql(
        QUERY_LOCATIONS_WITH_ORDERS,
        {"locations": 100, "orders": 5, "statuses": ["PENDING"]},
        as_user=AGENT,
    )
    # then
    assert [(n["id"], n["status"]) for n in pending["nodes"]] == expected[:1]
    assert pending["totalCount"] == 1
    assert [(n["id"], n["status"]) for n in done["nodes"] + after["nodes"]] == closed
    assert done["totalCount"] == after["totalCount"] == len(closed)
    assert nothing["nodes"] == [] and nothing["totalCount"] == 0
    assert not batched.errors, batched.errors
    for node in batched.data["stockLocations"]["nodes"]:
        page = node["replenishmentOrders"]
        assert [e["node"]["status"] for e in page["edges"]] == ["PENDING"]
        assert page["totalCount"] == 1


async def test_orders_inside_the_locations_list_need_a_page_size(
    gql: GraphQLClient, statements: StatementCounter
) -> None:
    # given
    await gql.token_for(AGENT)
    statements.reset()
    # when
    result = await gql(QUERY_ORDERS_WITHOUT_PAGE_SIZE, as_user=AGENT)
    # then
    assert result.error_codes == ["BAD_USER_INPUT"]
    assert "StockLocation.replenishmentOrders" in result.errors[0]["message"]
    assert result.data is None


@pytest.mark.parametrize(
    "variables",
    [{"first": 101}, {"last": -1}, {"first": 2, "last": 2}, {"first": 2, "after": "not-a-cursor"}],
)
async def test_bad_page_arguments_are_coded_errors(
    gql: GraphQLClient, orders: Orders, variables: dict[str, Any]
) -> None:
    # given
    location = next(iter(orders))
    # when
    result = await gql(
        QUERY_LOCATION_ORDERS,
        {"id": global_id("StockLocation", location), **variables},
        as_user=AGENT,
    )
    # then
    assert result.error_codes == ["BAD_USER_INPUT"], result.errors


async def test_orders_cost_by_their_page_size(gql: GraphQLClient) -> None:
    # when
    result = await gql(QUERY_ORDER_COST, {"locations": 3, "orders": 10}, as_user=AGENT)
    # then: 2 + 3 x (location 1 + orders 2 + 10 x order 1 + totalCount 1)
    assert not result.errors, result.errors
    assert result.body["extensions"]["cost"]["requestedQueryCost"] == 44


async def test_stock_manager_sees_the_orders_of_the_assigned_location(
    gql: GraphQLClient, orders: Orders
) -> None:
    # when
    result = await gql(QUERY_ORDERS_OF_ALL, as_user=STOCK_MANAGER)
    # then
    assert not result.errors, result.errors
    [location] = result.data["stockLocations"]["nodes"]
    expected = orders[decode_id(location["id"], "StockLocation")]
    assert [n["id"] for n in location["replenishmentOrders"]["nodes"]] == [
        order_id for order_id, _ in expected[:2]
    ]


async def test_replenishment_orders_require_permission(
    gql: GraphQLClient, orders: Orders, analytics_token: str
) -> None:
    # given: an analytics client sees every account, but holds no stock permission
    analytics = schema.for_audience(Audience.of_client(["analytics:read"]))._schema
    # when
    result = await gql(QUERY_ORDERS_OF_ALL, token=analytics_token)
    locations = await gql(QUERY_LOCATIONS_OF_ALL, token=analytics_token)
    # then: it sees the locations, but their orders are not in its schema
    assert result.data is None
    assert result.error_codes == NOT_IN_SCHEMA, result.errors
    location_type: Any = analytics.get_type("StockLocation")
    assert "replenishmentOrders" not in location_type.fields
    assert not locations.errors, locations.errors
    assert locations.data["stockLocations"]["nodes"]
