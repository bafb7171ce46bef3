"""`updateDevice`: who may, what may change, stale versions, the audit log."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.ids import global_id
from models import (
    Account,
    AuditLogEntry,
    Device,
    Membership,
    MembershipDevice,
    MembershipStockLocation,
    Site,
    User,
)
from tests.audiences import fields_of
from tests.graphql import NOT_IN_SCHEMA, GraphQLClient, Response

ADMIN = "admin@acme.example"
DEVICE_MANAGER = "devices@acme.example"

MUTATION_UPDATE_DEVICE = """
mutation Update($input: UpdateDeviceInput!) {
  updateDevice(input: $input) {
    device { id version locationDescription assetTag costCenter site { id name } }
    userErrors { field code message }
  }
}
"""

QUERY_DEVICE = """
query Device($id: ID!) { node(id: $id) { ... on Device { id version locationDescription
  assetTag costCenter site { id } } } }
"""


async def _assigned_device(connection: AsyncConnection, email: str) -> int:
    return int(
        await connection.scalar(
            select(MembershipDevice.device_id)
            .join(Membership, Membership.id == MembershipDevice.membership_id)
            .join(User, User.id == Membership.user_id)
            .where(User.email == email)
            .order_by(MembershipDevice.device_id)
        )
    )


async def _device(connection: AsyncConnection, device_id: int) -> Any:
    return (
        (await connection.execute(select(Device.__table__).where(Device.id == device_id)))
        .mappings()
        .one()
    )


async def _audit(connection: AsyncConnection, device_id: int) -> list[Any]:
    return list(
        (
            await connection.scalars(
                select(AuditLogEntry.details).where(
                    AuditLogEntry.object_type == "Device", AuditLogEntry.object_id == device_id
                )
            )
        ).all()
    )


async def _update(
    gql: GraphQLClient,
    device_id: int,
    version: int,
    *,
    as_user: str,
    headers: dict[str, str] | None = None,
    **fields: Any,
) -> Response:
    """updateDevice for one device with the given input fields."""
    return await gql(
        MUTATION_UPDATE_DEVICE,
        {"input": {"id": global_id("Device", device_id), "version": version, **fields}},
        as_user=as_user,
        headers=headers,
    )


async def test_administrator_updates_a_device_and_the_change_is_audited(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given: a device and another site of its account
    device_id = await _assigned_device(connection, DEVICE_MANAGER)
    device = await _device(connection, device_id)
    other_site = await connection.scalar(
        select(Site.id).where(Site.account_id == device["account_id"], Site.id != device["site_id"])
    )
    # when
    result = await _update(
        gql,
        device_id,
        device["version"],
        as_user=ADMIN,
        locationDescription="  Floor 3, copy room ",
        assetTag="AT-NEW",
        costCenter=None,
        siteId=global_id("Site", other_site),
    )
    # then
    payload = result.data["updateDevice"]
    assert payload["userErrors"] == []
    assert payload["device"]["locationDescription"] == "Floor 3, copy room"
    assert payload["device"]["assetTag"] == "AT-NEW"
    assert payload["device"]["costCenter"] is None
    assert payload["device"]["site"]["id"] == global_id("Site", other_site)
    assert payload["device"]["version"] == device["version"] + 1
    [details] = await _audit(connection, device_id)
    assert details["assetTag"]["to"] == "AT-NEW"
    assert details["siteId"] == {"from": device["site_id"], "to": other_site}


async def test_device_manager_updates_an_assigned_device(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given
    device_id = await _assigned_device(connection, DEVICE_MANAGER)
    device = await _device(connection, device_id)
    # when
    result = await _update(
        gql, device_id, device["version"], as_user=DEVICE_MANAGER, locationDescription="Reception"
    )
    # then
    payload = result.data["updateDevice"]
    assert payload["userErrors"] == []
    assert payload["device"]["locationDescription"] == "Reception"
    assert payload["device"]["assetTag"] == device["asset_tag"]


async def test_update_device_requires_permission(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given: a knowledge user holds UPDATE_DEVICE nowhere
    device_id = await _assigned_device(connection, DEVICE_MANAGER)
    device = await _device(connection, device_id)
    variables = {
        "input": {
            "id": global_id("Device", device_id),
            "version": device["version"],
            "locationDescription": "Hacked",
        }
    }
    # when
    result = await gql(MUTATION_UPDATE_DEVICE, variables, as_user="kb@acme.example")
    anonymous = await gql(MUTATION_UPDATE_DEVICE, variables)
    # then: not in the knowledge user's schema; anonymous callers are told to sign in
    assert result.data is None
    assert set(result.error_codes) == set(NOT_IN_SCHEMA), result.errors
    assert "updateDevice" not in fields_of("kb@acme.example", "Mutation")
    assert anonymous.error_codes == ["UNAUTHENTICATED"]
    assert "path" not in anonymous.errors[0]
    assert (await _device(connection, device_id))["location_description"] == device[
        "location_description"
    ]
    assert await _audit(connection, device_id) == []


async def test_update_device_requires_permission_on_that_device(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given: a device the device-and-stock manager sees only because its stock location
    # supplies it (toner levels only), not one assigned to them
    email = "devstock@acme.example"
    assigned = set(
        (
            await connection.scalars(
                select(MembershipDevice.device_id)
                .join(Membership, Membership.id == MembershipDevice.membership_id)
                .join(User, User.id == Membership.user_id)
                .where(User.email == email)
            )
        ).all()
    )
    location = await connection.scalar(
        select(MembershipStockLocation.stock_location_id)
        .join(Membership, Membership.id == MembershipStockLocation.membership_id)
        .join(User, User.id == Membership.user_id)
        .where(User.email == email)
    )
    supplied = await connection.scalar(
        select(Device.id).where(
            Device.stock_location_id == location,
            Device.e_maintenance.is_(True),
            Device.id.not_in(assigned),
        )
    )
    assert supplied is not None
    device = await _device(connection, supplied)
    # when
    result = await _update(gql, supplied, device["version"], as_user=email, assetTag="X")
    # then
    assert result.error_codes == ["FORBIDDEN"]
    assert (await _device(connection, supplied))["asset_tag"] == device["asset_tag"]


async def test_a_device_the_viewer_cannot_see_answers_like_a_missing_one(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given: an Acme France device not assigned to the device manager, and a missing one
    assigned = (
        select(MembershipDevice.device_id)
        .join(Membership, Membership.id == MembershipDevice.membership_id)
        .join(User, User.id == Membership.user_id)
        .where(User.email == DEVICE_MANAGER)
    )
    france = await connection.scalar(select(Account.id).where(Account.name == "Acme France"))
    unassigned = await connection.scalar(
        select(Device.id).where(Device.account_id == france, Device.id.not_in(assigned))
    )
    # when
    hidden = await gql(
        MUTATION_UPDATE_DEVICE,
        {"input": {"id": global_id("Device", unassigned), "version": 1, "assetTag": "X"}},
        as_user=DEVICE_MANAGER,
    )
    missing = await gql(
        MUTATION_UPDATE_DEVICE,
        {"input": {"id": global_id("Device", 10**9), "version": 1, "assetTag": "X"}},
        as_user=DEVICE_MANAGER,
    )
    # then
    assert hidden.data["updateDevice"] == missing.data["updateDevice"]
    assert hidden.data["updateDevice"]["userErrors"][0]["code"] == "NOT_FOUND"


async def test_stale_version_is_refused_and_nothing_is_stored(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given: someone updated the device since it was read
    device_id = await _assigned_device(connection, DEVICE_MANAGER)
    device = await _device(connection, device_id)
    first = await _update(gql, device_id, device["version"], as_user=ADMIN, assetTag="A")
    assert first.data["updateDevice"]["userErrors"] == []
    # when
    second = await _update(gql, device_id, device["version"], as_user=ADMIN, assetTag="B")
    # then
    assert second.data["updateDevice"]["device"] is None
    assert second.data["updateDevice"]["userErrors"][0]["code"] == "STALE_VERSION"
    assert second.data["updateDevice"]["userErrors"][0]["field"] == ["version"]
    assert (await _device(connection, device_id))["asset_tag"] == "A"


async def test_target_site_must_belong_to_the_devices_account(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given: a site of a sister account (Acme Italia), which the group admin may see
    device_id = await _assigned_device(connection, DEVICE_MANAGER)
    device = await _device(connection, device_id)
    italia_site = await connection.scalar(
        select(Site.id)
        .join(Account, Account.id == Site.account_id)
        .where(Account.name == "Acme Italia")
    )
    # when
    result = await _update(
        gql,
        device_id,
        device["version"],
        as_user=ADMIN,
        headers={"Accept-Language": "fr"},
        siteId=global_id("Site", italia_site),
        assetTag="MOVED",
    )
    # then
    [error] = result.data["updateDevice"]["userErrors"]
    assert error["code"] == "SITE_NOT_IN_ACCOUNT" and error["field"] == ["siteId"]
    assert "compte" in error["message"]
    after = await _device(connection, device_id)
    assert after["site_id"] == device["site_id"] and after["asset_tag"] == device["asset_tag"]


async def test_too_long_values_are_refused(gql: GraphQLClient, connection: AsyncConnection) -> None:
    # given
    device_id = await _assigned_device(connection, DEVICE_MANAGER)
    device = await _device(connection, device_id)
    # when
    result = await _update(gql, device_id, device["version"], as_user=ADMIN, costCenter="x" * 65)
    # then
    [error] = result.data["updateDevice"]["userErrors"]
    assert error["code"] == "VALUE_TOO_LONG" and error["field"] == ["costCenter"]
