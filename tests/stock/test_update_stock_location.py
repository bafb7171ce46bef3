"""`updateStockLocation`: stock managers keep their location's data; STALE_VERSION; audit."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.ids import global_id, parse_global_id
from models import Account, AuditLogEntry, StockLocation
from tests.audiences import fields_of
from tests.graphql import NOT_IN_SCHEMA, GraphQLClient

STOCK_MANAGER = "stock@acme.example"
ADMIN_FR = "admin.fr@acme.example"
DEVICE_MANAGER = "devices@acme.example"

QUERY_MY_LOCATION = """
query { stockLocations(first: 1) { nodes { id name version } } }
"""

QUERY_UPDATE = """
mutation Update($input: UpdateStockLocationInput!) {
  updateStockLocation(input: $input) {
    stockLocation { id name shippingInstructions version contact { name phone email } }
    userErrors { field code message }
  }
}
"""


async def _my_location(gql: GraphQLClient, user: str = STOCK_MANAGER) -> dict[str, Any]:
    result = await gql(QUERY_MY_LOCATION, as_user=user)
    return result.data["stockLocations"]["nodes"][0]  # type: ignore[no-any-return]


async def test_stock_manager_updates_the_location(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given
    location = await _my_location(gql)
    # when
    result = await gql(
        QUERY_UPDATE,
        {
            "input": {
                "id": location["id"],
                "name": "  Magazzino piano terra ",
                "shippingInstructions": "Consegnare alla reception, 8-16.",
                "contact": {
                    "name": "Giulia",
                    "phone": "+39 02 000",
                    "email": "giulia@acme.example",
                },
                "version": location["version"],
            }
        },
        as_user=STOCK_MANAGER,
    )
    # then
    payload = result.data["updateStockLocation"]
    assert payload["userErrors"] == []
    stored = payload["stockLocation"]
    assert stored["name"] == "Magazzino piano terra"
    assert stored["contact"] == {
        "name": "Giulia",
        "phone": "+39 02 000",
        "email": "giulia@acme.example",
    }
    assert stored["version"] == location["version"] + 1
    parsed = parse_global_id(location["id"])
    assert parsed is not None
    actions = list(
        await connection.scalars(
            select(AuditLogEntry.action).where(
                AuditLogEntry.object_type == "StockLocation", AuditLogEntry.object_id == parsed[1]
            )
        )
    )
    assert "stock_location.update" in actions


async def test_stale_version_is_refused(gql: GraphQLClient) -> None:
    # given
    location = await _my_location(gql)
    first = await gql(
        QUERY_UPDATE,
        {"input": {"id": location["id"], "name": "First", "version": location["version"]}},
        as_user=STOCK_MANAGER,
    )
    assert first.data["updateStockLocation"]["userErrors"] == []
    # when
    second = await gql(
        QUERY_UPDATE,
        {"input": {"id": location["id"], "name": "Second", "version": location["version"]}},
        as_user=STOCK_MANAGER,
        headers={"Accept-Language": "fr"},
    )
    # then
    payload = second.data["updateStockLocation"]
    assert payload["stockLocation"] is None
    assert payload["userErrors"][0]["code"] == "STALE_VERSION"
    assert "entre-temps" in payload["userErrors"][0]["message"]
    assert (await _my_location(gql))["name"] == "First"


async def test_bad_input_is_refused_and_nothing_stored(gql: GraphQLClient) -> None:
    # given
    location = await _my_location(gql)
    cases = [
        ({"name": "   "}, "STOCK_LOCATION_NAME_REQUIRED", ["name"]),
        ({"name": "x" * 201}, "VALUE_TOO_LONG", ["name"]),
        ({"contact": {"email": "not-an-address"}}, "INVALID_CONTACT_EMAIL", ["contact", "email"]),
    ]
    for changes, code, field in cases:
        # when
        result = await gql(
            QUERY_UPDATE, {"input": {"id": location["id"], **changes}}, as_user=STOCK_MANAGER
        )
        # then
        payload = result.data["updateStockLocation"]
        assert payload["userErrors"][0]["code"] == code, changes
        assert payload["userErrors"][0]["field"] == field
    assert await _my_location(gql) == location


async def test_administrator_updates_locations_of_their_account(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given
    acme_fr = await connection.scalar(select(Account.id).where(Account.name == "Acme France"))
    location = await connection.scalar(
        select(StockLocation.id).where(StockLocation.account_id == acme_fr).limit(1)
    )
    # when
    result = await gql(
        QUERY_UPDATE,
        {"input": {"id": global_id("StockLocation", location), "name": "Réserve"}},
        as_user=ADMIN_FR,
    )
    # then
    assert result.data["updateStockLocation"]["stockLocation"]["name"] == "Réserve"


async def test_update_stock_location_requires_permission(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given: a location of Acme France, not assigned to the Italian stock manager
    acme_fr = await connection.scalar(select(Account.id).where(Account.name == "Acme France"))
    location = await connection.scalar(
        select(StockLocation.id).where(StockLocation.account_id == acme_fr).limit(1)
    )
    variables = {"input": {"id": global_id("StockLocation", location), "name": "Taken"}}
    for user in (STOCK_MANAGER, "admin@globex.example"):
        # when
        result = await gql(QUERY_UPDATE, variables, as_user=user)
        # then: out of scope answers like a missing location
        assert result.data["updateStockLocation"]["userErrors"][0]["code"] == "NOT_FOUND", user
    # when: a device manager, who manages stock locations nowhere
    result = await gql(QUERY_UPDATE, variables, as_user=DEVICE_MANAGER)
    # then: neither the mutation nor its input type is in its schema
    assert result.data is None
    assert set(result.error_codes) == set(NOT_IN_SCHEMA), result.errors
    assert "updateStockLocation" not in fields_of(DEVICE_MANAGER, "Mutation")
    anonymous = await gql(QUERY_UPDATE, variables)
    assert anonymous.error_codes == ["UNAUTHENTICATED"]
    assert "path" not in anonymous.errors[0]
    stored = await connection.scalar(select(StockLocation.name).where(StockLocation.id == location))
    assert stored != "Taken"
