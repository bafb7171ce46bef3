"""The `stockLocations` list and `StockLocation` nodes: who sees which location, stock levels,
the low-stock filter, the devices a location supplies, and `Device.stockLocation`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from auth.policy import Permission, role_permissions
from auth.requirements import Audience
from core.ids import global_id
from models import (
    Account,
    Device,
    Membership,
    MembershipDevice,
    MembershipStockLocation,
    StockLevel,
    StockLocation,
    User,
)
from models.enums import Role
from schema.root import schema
from tests.audiences import fields_of, only_known
from tests.conftest import StatementCounter
from tests.graphql import NOT_IN_SCHEMA, GraphQLClient
from tests.stock.conftest import supplied_device

ADMIN = "admin@acme.example"
ADMIN_FR = "admin.fr@acme.example"
AGENT = "agent@vendor.example"
STOCK_MANAGER = "stock@acme.example"
DEVICE_STOCK_MANAGER = "devstock@acme.example"
DEVICE_MANAGER = "devices@acme.example"
KNOWLEDGE_USER = "kb@acme.example"
GLOBEX = "admin@globex.example"

QUERY_STOCK_LOCATIONS = """
query StockLocations($first: Int, $after: String, $filter: StockLocationFilter) {
  stockLocations(first: $first, after: $after, filter: $filter) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes {
      id name shippingInstructions version
      contact { name phone email }
      site { name city }
      account { name }
      stockLevels { consumable { sku name kind colour } quantity reorderPoint low updatedAt }
      devices { serialNumber eMaintenance }
      replenishmentOrders(first: 5) { nodes { status } }
    }
  }
}
"""

QUERY_LOCATION_NAMES = """
query StockLocations($first: Int, $filter: StockLocationFilter) {
  stockLocations(first: $first, filter: $filter) { totalCount nodes { id name } }
}
"""

QUERY_STOCK_LEVELS = """
query StockLocations {
  stockLocations(first: 5) { nodes { id name stockLevels { quantity } } }
}
"""

QUERY_STOCK_LOCATION_NAMES = """
query StockLocations {
  stockLocations(first: 5) { nodes { id name } }
}
"""

QUERY_NODE = """
query Node($id: ID!) {
  node(id: $id) { ... on StockLocation { id name stockLevels { quantity } } }
}
"""

DEVICE_STOCK = """
serialNumber
stockLocation { id name }
tonerLevels { consumable { sku colour } percent low reportedAt }
"""

QUERY_DEVICE = """
query Device($id: ID!) {
  node(id: $id) { ... on Device { %s } }
}
"""

QUERY_DEVICE_STOCK = QUERY_DEVICE % DEVICE_STOCK


def _analytics_schema() -> Any:
    """The schema of the analytics client (`analytics_token`)."""
    return schema.for_audience(Audience.of_client(["analytics:read"]))._schema


async def _all_names(gql: GraphQLClient, user: str, **filter_: Any) -> list[str]:
    result = await gql(QUERY_LOCATION_NAMES, {"first": 100, "filter": filter_}, as_user=user)
    assert not result.errors, result.errors
    return [n["id"] for n in result.data["stockLocations"]["nodes"]]


async def test_stock_manager_sees_only_the_assigned_location(
    gql: GraphQLClient, statements: StatementCounter
) -> None:
    # given
    await gql.token_for(STOCK_MANAGER)
    statements.reset()
    # when
    result = await gql(QUERY_STOCK_LOCATIONS, {"first": 10}, as_user=STOCK_MANAGER)
    # then
    assert not result.errors, result.errors
    connection = result.data["stockLocations"]
    assert connection["totalCount"] == 1
    [location] = connection["nodes"]
    assert location["account"]["name"] == "Acme Italia"
    assert location["stockLevels"], location
    assert all(
        level["low"] == (level["quantity"] <= level["reorderPoint"])
        for level in location["stockLevels"]
    )
    assert all(device["eMaintenance"] for device in location["devices"])
    # scope (3) + page + count + site + account + levels + devices + orders, whatever the size
    assert statements.count <= 11, statements.statements


async def test_statement_count_does_not_grow_with_the_page(
    gql: GraphQLClient, statements: StatementCounter
) -> None:
    # given
    await gql.token_for(AGENT)
    await gql(QUERY_STOCK_LOCATIONS, {"first": 1}, as_user=AGENT)
    small = statements.count
    statements.reset()
    # when
    result = await gql(QUERY_STOCK_LOCATIONS, {"first": 20}, as_user=AGENT)
    # then
    assert not result.errors, result.errors
    assert len(result.data["stockLocations"]["nodes"]) > 1
    assert statements.count <= small, statements.statements


async def test_administrator_sees_the_locations_of_their_accounts(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given
    acme_fr = await connection.scalar(select(Account.id).where(Account.name == "Acme France"))
    # when
    group = await _all_names(gql, ADMIN)
    france = await _all_names(gql, ADMIN_FR)
    everything = await _all_names(gql, AGENT)
    globex = await _all_names(gql, GLOBEX)
    # then
    assert set(france) < set(group) < set(everything)
    assert not set(globex) & set(group)
    france_ids = set(
        await connection.scalars(
            select(StockLocation.id).where(StockLocation.account_id == acme_fr)
        )
    )
    assert {global_id("StockLocation", i) for i in france_ids} <= set(france)


async def test_roles_without_stock_reach_see_no_location(gql: GraphQLClient) -> None:
    for user in (DEVICE_MANAGER, KNOWLEDGE_USER):
        # when
        result = await gql(QUERY_LOCATION_NAMES, {"first": 100, "filter": {}}, as_user=user)
        # then: not even the list (nor its filter type) is in their schema
        assert result.data is None, user
        assert set(result.error_codes) == set(NOT_IN_SCHEMA), (user, result.errors)
        assert "stockLocations" not in fields_of(user, "Query"), user
        assert fields_of(user, "StockLocation") == set(), user


async def test_a_location_out_of_scope_does_not_exist(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given: a location of Acme France, which the Italian stock manager is not assigned to
    acme_fr = await connection.scalar(select(Account.id).where(Account.name == "Acme France"))
    location = await connection.scalar(
        select(StockLocation.id).where(StockLocation.account_id == acme_fr).limit(1)
    )
    for user in (STOCK_MANAGER, GLOBEX):
        # when
        result = await gql(QUERY_NODE, {"id": global_id("StockLocation", location)}, as_user=user)
        # then
        assert not result.errors, result.errors
        assert result.data["node"] is None, user
    for user in (DEVICE_MANAGER, KNOWLEDGE_USER):
        # when
        result = await gql(QUERY_NODE, {"id": global_id("StockLocation", location)}, as_user=user)
        # then: without any stock-location reach, the type is not in their schema at all
        assert result.data is None, user
        assert result.error_codes == NOT_IN_SCHEMA, (user, result.errors)
        assert fields_of(user, "StockLocation") == set(), user


async def test_low_stock_filter_splits_the_list(gql: GraphQLClient) -> None:
    # when
    everything = await _all_names(gql, AGENT)
    low = await _all_names(gql, AGENT, lowStock=True)
    fine = await _all_names(gql, AGENT, lowStock=False)
    # then
    assert low and fine
    assert sorted(low + fine) == sorted(everything)
    result = await gql(
        QUERY_STOCK_LOCATIONS, {"first": 10, "filter": {"lowStock": True}}, as_user=AGENT
    )
    for location in result.data["stockLocations"]["nodes"]:
        assert any(level["low"] for level in location["stockLevels"]), location


async def test_account_filter_includes_sub_accounts(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given
    group = await connection.scalar(select(Account.id).where(Account.name == "Acme Group"))
    # when
    filtered = await _all_names(gql, AGENT, accountIds=[global_id("Account", group)])
    # then
    assert set(filtered) == set(await _all_names(gql, ADMIN))


async def test_stock_levels_require_permission(gql: GraphQLClient, analytics_token: str) -> None:
    # given: an analytics client sees every account, but holds no stock permission
    # when
    result = await gql(QUERY_STOCK_LEVELS, token=analytics_token)
    names = await gql(QUERY_STOCK_LOCATION_NAMES, token=analytics_token)
    # then: it sees the locations, but their levels are not in its schema
    assert result.data is None
    assert result.error_codes == NOT_IN_SCHEMA, result.errors
    assert "stockLevels" not in _analytics_schema().get_type("StockLocation").fields
    assert not names.errors, names.errors
    assert names.data["stockLocations"]["nodes"]


def test_device_managers_could_never_read_stock_levels() -> None:
    # The policy table: a device manager holds VIEW_STOCK_LEVELS nowhere, so stock levels are
    # not even in its schema (nor are locations, which it cannot reach either).
    assert Permission.VIEW_STOCK_LEVELS not in role_permissions(Role.DEVICE_MANAGER)
    assert Permission.VIEW_STOCK_LEVELS in role_permissions(Role.DEVICE_STOCK_MANAGER)
    assert "stockLevels" not in fields_of(DEVICE_MANAGER, "StockLocation")
    assert "stockLevels" in fields_of(DEVICE_STOCK_MANAGER, "StockLocation")


async def test_device_shows_its_stock_location_and_toner_levels(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given
    device = await supplied_device(connection)
    # when
    result = await gql(QUERY_DEVICE_STOCK, {"id": global_id("Device", device.id)}, as_user=AGENT)
    # then
    assert not result.errors, result.errors
    node = result.data["node"]
    assert node["stockLocation"]["id"] == global_id("StockLocation", device.stock_location_id)
    assert node["tonerLevels"]
    assert all(0 <= level["percent"] <= 100 for level in node["tonerLevels"])


async def test_device_stock_location_is_null_when_the_viewer_cannot_see_it(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given: one of the device manager's devices, made e-Maintenance with a stock location
    device_id = await connection.scalar(
        select(MembershipDevice.device_id)
        .join(Membership, Membership.id == MembershipDevice.membership_id)
        .join(User, User.id == Membership.user_id)
        .where(User.email == DEVICE_MANAGER)
        .order_by(MembershipDevice.device_id)
        .limit(1)
    )
    device = (await connection.execute(select(Device).where(Device.id == device_id))).one()
    location_id = await connection.scalar(
        select(StockLocation.id).where(StockLocation.site_id == device.site_id).limit(1)
    )
    await connection.execute(
        update(Device)
        .where(Device.id == device_id)
        .values(e_maintenance=True, stock_location_id=location_id)
    )
    variables = {"id": global_id("Device", device_id)}
    # given: one of the device-and-stock manager's devices, supplied by a location of its
    # account that is not its own
    devstock_device, devstock_location = await _devstock_device_supplied_elsewhere(connection)
    devstock_variables = {"id": global_id("Device", devstock_device)}
    # when: each asks what its schema has of the device
    as_manager = await gql(
        QUERY_DEVICE % only_known(DEVICE_MANAGER, "Device", DEVICE_STOCK),
        variables,
        as_user=DEVICE_MANAGER,
    )
    as_admin = await gql(QUERY_DEVICE_STOCK, variables, as_user=ADMIN_FR)
    as_devstock = await gql(QUERY_DEVICE_STOCK, devstock_variables, as_user=DEVICE_STOCK_MANAGER)
    as_group_admin = await gql(QUERY_DEVICE_STOCK, devstock_variables, as_user=ADMIN)
    # then: a device manager, without any stock-location reach, has no `stockLocation` at all
    assert not as_manager.errors, as_manager.errors
    assert as_manager.data["node"]["serialNumber"] == device.serial_number
    assert "stockLocation" not in as_manager.data["node"]
    assert "stockLocation" not in fields_of(DEVICE_MANAGER, "Device")
    assert as_admin.data["node"]["stockLocation"]["id"] == global_id("StockLocation", location_id)
    # then: the device-and-stock manager has it, null where the location is not its own
    assert not as_devstock.errors, as_devstock.errors
    assert as_devstock.data["node"]["serialNumber"]
    assert as_devstock.data["node"]["stockLocation"] is None
    assert as_group_admin.data["node"]["stockLocation"]["id"] == global_id(
        "StockLocation", devstock_location
    )


async def _devstock_device_supplied_elsewhere(connection: AsyncConnection) -> tuple[int, int]:
    """One of the device-and-stock manager's assigned devices, made e-Maintenance and supplied
    by another stock location of its account than the one assigned to it."""
    membership = await connection.scalar(
        select(Membership.id)
        .join(User, User.id == Membership.user_id)
        .where(User.email == DEVICE_STOCK_MANAGER)
    )
    device_id = await connection.scalar(
        select(MembershipDevice.device_id)
        .where(MembershipDevice.membership_id == membership)
        .order_by(MembershipDevice.device_id)
        .limit(1)
    )
    account_id = await connection.scalar(select(Device.account_id).where(Device.id == device_id))
    own = select(MembershipStockLocation.stock_location_id).where(
        MembershipStockLocation.membership_id == membership
    )
    other = await connection.scalar(
        select(StockLocation.id)
        .where(StockLocation.account_id == account_id, StockLocation.id.not_in(own))
        .order_by(StockLocation.id)
        .limit(1)
    )
    assert device_id is not None and other is not None, "the demo gives its account two locations"
    await connection.execute(
        update(Device)
        .where(Device.id == device_id)
        .values(e_maintenance=True, stock_location_id=other)
    )
    return device_id, other


async def test_toner_levels_require_permission(
    gql: GraphQLClient, connection: AsyncConnection, analytics_token: str
) -> None:
    # given
    device = await supplied_device(connection)
    variables = {"id": global_id("Device", device.id)}
    # when: an analytics client, which sees every device but holds no stock permission
    result = await gql(QUERY_DEVICE_STOCK, variables, token=analytics_token)
    known = await gql(
        QUERY_DEVICE % "serialNumber stockLocation { id }", variables, token=analytics_token
    )
    # then: the device and its location are in its schema, the toner levels are not
    assert result.data is None
    assert result.error_codes == NOT_IN_SCHEMA, result.errors
    assert "tonerLevels" not in _analytics_schema().get_type("Device").fields
    assert not known.errors, known.errors
    assert known.data["node"]["stockLocation"]["id"] == global_id(
        "StockLocation", device.stock_location_id
    )


async def test_stock_levels_match_the_database(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # when
    result = await gql(QUERY_STOCK_LOCATIONS, {"first": 10}, as_user=STOCK_MANAGER)
    # then
    [location] = result.data["stockLocations"]["nodes"]
    from core.ids import parse_global_id

    parsed = parse_global_id(location["id"])
    assert parsed is not None
    stored = await connection.scalar(
        select(func.count())
        .select_from(StockLevel)
        .where(StockLevel.stock_location_id == parsed[1])
    )
    assert len(location["stockLevels"]) == stored


async def test_device_stock_manager_sees_the_assigned_location_and_its_devices(
    gql: GraphQLClient,
) -> None:
    # when
    result = await gql(QUERY_STOCK_LOCATIONS, {"first": 10}, as_user=DEVICE_STOCK_MANAGER)
    # then
    assert not result.errors, result.errors
    [location] = result.data["stockLocations"]["nodes"]
    assert location["account"]["name"] == "Acme Deutschland"
    assert location["stockLevels"] is not None
    assert all(device["eMaintenance"] for device in location["devices"])
