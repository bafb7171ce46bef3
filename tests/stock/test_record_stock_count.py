"""`recordStockCount`: set the counted quantities (inserting levels not yet tracked)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.ids import global_id, parse_global_id
from models import Consumable, StockLevel
from tests.audiences import fields_of
from tests.graphql import NOT_IN_SCHEMA, GraphQLClient

STOCK_MANAGER = "stock@acme.example"
DEVICE_MANAGER = "devices@acme.example"

QUERY_MY_LOCATION = """
query { stockLocations(first: 1) { nodes { id stockLevels { consumable { id } quantity } } } }
"""

QUERY_COUNT = """
mutation Count($input: RecordStockCountInput!) {
  recordStockCount(input: $input) {
    stockLocation { id stockLevels { consumable { id sku } quantity reorderPoint low } }
    userErrors { field code message }
  }
}
"""


async def test_count_sets_quantities_and_adds_new_levels(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given
    location = (await gql(QUERY_MY_LOCATION, as_user=STOCK_MANAGER)).data["stockLocations"][
        "nodes"
    ][0]
    tracked = location["stockLevels"][0]["consumable"]["id"]
    tracked_ids = {level["consumable"]["id"] for level in location["stockLevels"]}
    untracked = next(
        global_id("Consumable", c)
        for c in await connection.scalars(select(Consumable.id).order_by(Consumable.id))
        if global_id("Consumable", c) not in tracked_ids
    )
    # when
    result = await gql(
        QUERY_COUNT,
        {
            "input": {
                "stockLocationId": location["id"],
                "counts": [
                    {"consumableId": tracked, "quantity": 9},
                    {"consumableId": untracked, "quantity": 1},
                ],
            }
        },
        as_user=STOCK_MANAGER,
    )
    # then
    payload = result.data["recordStockCount"]
    assert payload["userErrors"] == []
    levels = {lvl["consumable"]["id"]: lvl for lvl in payload["stockLocation"]["stockLevels"]}
    assert levels[tracked]["quantity"] == 9 and not levels[tracked]["low"]
    assert levels[untracked]["quantity"] == 1 and levels[untracked]["low"]
    assert len(levels) == len(location["stockLevels"]) + 1


async def test_bad_counts_store_nothing(gql: GraphQLClient, connection: AsyncConnection) -> None:
    # given
    location = (await gql(QUERY_MY_LOCATION, as_user=STOCK_MANAGER)).data["stockLocations"][
        "nodes"
    ][0]
    tracked = location["stockLevels"][0]["consumable"]["id"]
    cases = [
        ([{"consumableId": tracked, "quantity": -1}], "QUANTITY_NEGATIVE"),
        ([{"consumableId": global_id("Consumable", 999999), "quantity": 1}], "UNKNOWN_CONSUMABLE"),
        (
            [{"consumableId": tracked, "quantity": 1}, {"consumableId": tracked, "quantity": 2}],
            "DUPLICATE_CONSUMABLE",
        ),
    ]
    for counts, code in cases:
        # when
        result = await gql(
            QUERY_COUNT,
            {"input": {"stockLocationId": location["id"], "counts": counts}},
            as_user=STOCK_MANAGER,
        )
        # then
        assert result.data["recordStockCount"]["userErrors"][0]["code"] == code
    parsed = parse_global_id(location["id"])
    assert parsed is not None
    stored = {
        global_id("Consumable", c): q
        for c, q in await connection.execute(
            select(StockLevel.consumable_id, StockLevel.quantity).where(
                StockLevel.stock_location_id == parsed[1]
            )
        )
    }
    assert stored == {lvl["consumable"]["id"]: lvl["quantity"] for lvl in location["stockLevels"]}


async def test_record_stock_count_requires_permission(gql: GraphQLClient) -> None:
    # given
    location = (await gql(QUERY_MY_LOCATION, as_user=STOCK_MANAGER)).data["stockLocations"][
        "nodes"
    ][0]
    tracked = location["stockLevels"][0]["consumable"]["id"]
    variables = {
        "input": {
            "stockLocationId": location["id"],
            "counts": [{"consumableId": tracked, "quantity": 50}],
        }
    }
    for user in (DEVICE_MANAGER, "kb@acme.example"):
        # when
        result = await gql(QUERY_COUNT, variables, as_user=user)
        # then: who manages stock locations nowhere has neither the mutation nor its input type
        assert result.data is None, user
        assert set(result.error_codes) == set(NOT_IN_SCHEMA), (user, result.errors)
        assert "recordStockCount" not in fields_of(user, "Mutation"), user
    # when: another customer's administrator manages its own locations, not this one
    result = await gql(QUERY_COUNT, variables, as_user="admin@globex.example")
    # then
    assert result.data["recordStockCount"]["userErrors"][0]["code"] == "NOT_FOUND"
    # then: nothing was counted
    after = (await gql(QUERY_MY_LOCATION, as_user=STOCK_MANAGER)).data["stockLocations"]["nodes"]
    assert after == [location]
