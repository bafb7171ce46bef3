"""The `devices` root list: the dashboard query, filters, orders, keyset paging, caps, scope."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core import clock
from core.ids import global_id
from models import Account, Contract, Device, MeterReading, ProductModel, Site
from resolvers.devices import NEVER
from tests.conftest import StatementCounter
from tests.graphql import GraphQLClient
from tests.queries import QUERY_DASHBOARD

ADMIN = "admin@acme.example"
AGENT = "agent@vendor.example"
DEVICE_MANAGER = "devices@acme.example"

QUERY_DEVICES = """
query Devices($first: Int, $after: String, $last: Int, $before: String,
              $filter: DeviceFilter, $orderBy: DeviceOrder) {
  devices(first: $first, after: $after, last: $last, before: $before,
          filter: $filter, orderBy: $orderBy) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    nodes { id serialNumber assetTag locationDescription status eMaintenance installedOn
            site { id name } account { id name } model { id name } contract { endsOn } }
  }
}
"""


async def _ids(connection: AsyncConnection, model: Any, column: Any, value: Any) -> list[int]:
    return list((await connection.scalars(select(model.id).where(column == value))).all())


async def _all(gql: GraphQLClient, user: str, **variables: Any) -> list[dict[str, Any]]:
    """Every page of a list, checked against its totalCount."""
    nodes: list[dict[str, Any]] = []
    after = None
    while True:
        result = await gql(QUERY_DEVICES, {"first": 100, **variables, "after": after}, as_user=user)
        assert not result.errors, result.errors
        page = result.data["devices"]
        nodes += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert page["totalCount"] == len(nodes)
    return nodes


async def test_dashboard_costs_the_same_statements_for_10_and_100_devices(
    gql: GraphQLClient, statements: StatementCounter
) -> None:
    # given
    await gql.token_for(ADMIN)
    # when
    small, small_count = await statements.of(gql(QUERY_DASHBOARD, {"first": 10}, as_user=ADMIN))
    large, large_count = await statements.of(gql(QUERY_DASHBOARD, {"first": 100}, as_user=ADMIN))
    # then
    assert not small.errors and not large.errors, (small.errors, large.errors)
    assert len(small.data["devices"]["edges"]) == 10
    assert len(large.data["devices"]["edges"]) == 100
    assert small_count == large_count, statements.statements
    # scope (2, and SQLite's BEGIN) + the page, which carries model, site, account, contract,
    # stock location and open-ticket count (resolvers/joined.py) + totalCount + latest readings
    assert large_count <= 6, statements.statements


async def test_dashboard_is_ordered_by_site_then_serial_and_pages_without_gaps(
    gql: GraphQLClient,
) -> None:
    # given
    seen: list[tuple[str, str]] = []
    after = None
    # when
    while True:
        result = await gql(QUERY_DASHBOARD, {"first": 37, "after": after}, as_user=ADMIN)
        assert not result.errors, result.errors
        page = result.data["devices"]
        seen += [(e["node"]["site"]["name"], e["node"]["serialNumber"]) for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    # then
    assert len(seen) == page["totalCount"] == len(set(seen))
    assert seen == sorted(seen)


async def test_orders_by_each_field_in_both_directions(gql: GraphQLClient) -> None:
    # given
    fields = {
        "SERIAL": lambda n: (n["serialNumber"],),
        "SITE": lambda n: (n["site"]["name"], n["serialNumber"]),
        "MODEL": lambda n: (n["model"]["name"], n["serialNumber"]),
        "INSTALL_DATE": lambda n: (n["installedOn"],),
    }
    for field, key in fields.items():
        for direction in ("ASC", "DESC"):
            # when
            nodes = await _all(
                gql,
                ADMIN,
                filter={"siteIds": [await _site_gid(gql, "Paris Opéra")]},
                orderBy={"field": field, "direction": direction},
            )
            # then
            keys = [key(n) for n in nodes]
            assert keys == sorted(keys, reverse=direction == "DESC"), (field, direction)


async def _site_gid(gql: GraphQLClient, name: str) -> str:
    result = await gql(
        "query($s: String) { sites(first: 100, filter: {search: $s}) { nodes { id name } } }",
        {"s": name},
        as_user=AGENT,
    )
    [site] = [s for s in result.data["sites"]["nodes"] if s["name"] == name]
    return site["id"]  # type: ignore[no-any-return]


@pytest.mark.dates
async def test_orders_by_last_reading_date_with_never_read_devices_last_when_descending(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given: a device of Paris Opéra read later than any other, another never read
    [paris] = await _ids(connection, Site, Site.name, "Paris Opéra")
    device_ids = list(
        (
            await connection.scalars(
                select(Device.id).where(Device.site_id == paris).order_by(Device.id)
            )
        ).all()
    )
    await connection.execute(
        update(Device)
        .where(Device.id == device_ids[0])
        .values(last_reading_date=clock.utc_today() + timedelta(days=1))
    )
    await connection.execute(
        update(Device).where(Device.id == device_ids[1]).values(last_reading_date=None)
    )
    # when
    descending = await _all(
        gql,
        ADMIN,
        filter={"siteIds": [global_id("Site", paris)]},
        orderBy={"field": "LAST_READING_DATE", "direction": "DESC"},
    )
    ascending = await _all(
        gql,
        ADMIN,
        filter={"siteIds": [global_id("Site", paris)]},
        orderBy={"field": "LAST_READING_DATE", "direction": "ASC"},
    )
    # then
    assert descending[0]["id"] == global_id("Device", device_ids[0])
    assert descending[-1]["id"] == global_id("Device", device_ids[1])
    assert [n["id"] for n in ascending] == [n["id"] for n in reversed(descending)]


@pytest.mark.dates
async def test_the_demo_fleet_carries_each_devices_newest_reading_day(
    connection: AsyncConnection,
) -> None:
    # given
    newest = (
        select(func.max(MeterReading.reading_date))
        .where(MeterReading.device_id == Device.id)
        .scalar_subquery()
    )
    # when
    stale = await connection.scalar(
        select(func.count())
        .select_from(Device)
        .where(func.coalesce(Device.last_reading_date, NEVER) != func.coalesce(newest, NEVER))
    )
    # then
    assert stale == 0


async def test_keyset_pages_stay_stable_when_a_row_is_inserted_between_pages(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given: the first page of Paris Opéra devices
    [paris] = await _ids(connection, Site, Site.name, "Paris Opéra")
    site_filter = {"siteIds": [global_id("Site", paris)]}
    first = await gql(QUERY_DEVICES, {"first": 5, "filter": site_filter}, as_user=ADMIN)
    page1 = first.data["devices"]
    expected = await _all(gql, ADMIN, filter=site_filter)
    # when: a device sorting before the cursor and one after it are added
    row = (
        (await connection.execute(select(Device.__table__).where(Device.site_id == paris)))
        .mappings()
        .first()
    )
    assert row is not None
    for serial in ("AAA-BEFORE-ALL", "ZZZ-AFTER-ALL"):
        await connection.execute(
            insert(Device).values(
                serial_number=serial,
                product_model_id=row["product_model_id"],
                account_id=row["account_id"],
                site_id=row["site_id"],
                installed_on=row["installed_on"],
            )
        )
    second = await gql(
        QUERY_DEVICES,
        {"first": 100, "after": page1["pageInfo"]["endCursor"], "filter": site_filter},
        as_user=ADMIN,
    )
    # then: no duplicate, no skip; the new row after the cursor shows up, the one before not
    serials = [n["serialNumber"] for n in page1["nodes"] + second.data["devices"]["nodes"]]
    assert serials == [n["serialNumber"] for n in expected] + ["ZZZ-AFTER-ALL"]
    assert second.data["devices"]["totalCount"] == len(expected) + 2


async def test_last_and_before_page_backwards(gql: GraphQLClient) -> None:
    # given
    everything = await _all(gql, ADMIN, orderBy={"field": "SITE"})
    forward = await gql(QUERY_DEVICES, {"first": 30, "orderBy": {"field": "SITE"}}, as_user=ADMIN)
    cursor = forward.data["devices"]["pageInfo"]["endCursor"]
    # when
    back = await gql(
        QUERY_DEVICES, {"last": 10, "before": cursor, "orderBy": {"field": "SITE"}}, as_user=ADMIN
    )
    tail = await gql(QUERY_DEVICES, {"last": 3, "orderBy": {"field": "SITE"}}, as_user=ADMIN)
    # then
    page = back.data["devices"]
    assert [n["id"] for n in page["nodes"]] == [n["id"] for n in everything[19:29]]
    assert page["pageInfo"]["hasPreviousPage"] and page["pageInfo"]["hasNextPage"]
    assert [n["id"] for n in tail.data["devices"]["nodes"]] == [n["id"] for n in everything[-3:]]


async def test_page_size_is_capped_at_100(gql: GraphQLClient) -> None:
    # when
    too_many = await gql(QUERY_DEVICES, {"first": 101}, as_user=ADMIN)
    too_many_back = await gql(QUERY_DEVICES, {"last": 101}, as_user=ADMIN)
    bad_cursor = await gql(QUERY_DEVICES, {"first": 5, "after": "not-a-cursor"}, as_user=ADMIN)
    # then
    assert too_many.error_codes == ["BAD_USER_INPUT"]
    assert too_many_back.error_codes == ["BAD_USER_INPUT"]
    assert bad_cursor.error_codes == ["BAD_USER_INPUT"]


async def test_filters_by_account_including_sub_accounts(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given
    [france] = await _ids(connection, Account, Account.name, "Acme France")
    [sud] = await _ids(connection, Account, Account.name, "Acme France Sud")
    # when
    nodes = await _all(gql, ADMIN, filter={"accountIds": [global_id("Account", france)]})
    # then
    accounts = {n["account"]["id"] for n in nodes}
    assert accounts == {global_id("Account", france), global_id("Account", sud)}


async def test_filters_by_model_status_e_maintenance_and_search(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given
    [model] = await _ids(connection, ProductModel, ProductModel.name, "Lumen C450")
    # when
    by_model = await _all(gql, AGENT, filter={"modelIds": [global_id("ProductModel", model)]})
    pending = await _all(gql, AGENT, filter={"statuses": ["MOVE_PENDING"]})
    reporting = await _all(gql, AGENT, filter={"eMaintenance": True, "statuses": ["ACTIVE"]})
    by_serial = await _all(gql, AGENT, filter={"search": "lc4"})
    by_location = await _all(gql, AGENT, filter={"search": "room 139"})
    by_tag = await _all(gql, AGENT, filter={"search": "at-globex-0001"})
    # then
    assert by_model and {n["model"]["name"] for n in by_model} == {"Lumen C450"}
    assert pending and {n["status"] for n in pending} == {"MOVE_PENDING"}
    assert reporting and all(n["eMaintenance"] and n["status"] == "ACTIVE" for n in reporting)
    assert {n["serialNumber"][:3] for n in by_serial} == {"LC4"}
    assert by_location and all("room 139" in n["locationDescription"] for n in by_location)
    assert by_tag and all(n["assetTag"].startswith("AT-GLOBEX-0001") for n in by_tag)


@pytest.mark.dates
async def test_filters_by_contract_state(gql: GraphQLClient, connection: AsyncConnection) -> None:
    # given: one Acme Italia contract ends in 10 days
    today = clock.utc_today()
    [italia] = await _ids(connection, Account, Account.name, "Acme Italia")
    italia_filter = {"accountIds": [global_id("Account", italia)]}
    active_contract = await connection.scalar(
        select(Contract.id).where(Contract.account_id == italia, Contract.ends_on >= today)
    )
    await connection.execute(
        Contract.__table__.update()
        .where(Contract.id == active_contract)
        .values(ends_on=today + timedelta(days=10))
    )
    # when
    active = await _all(gql, ADMIN, filter={**italia_filter, "contract": {"state": "ACTIVE"}})
    expired = await _all(gql, ADMIN, filter={**italia_filter, "contract": {"state": "EXPIRED"}})
    soon = await _all(
        gql, ADMIN, filter={**italia_filter, "contract": {"state": "EXPIRING", "withinDays": 15}}
    )
    not_yet = await _all(
        gql, ADMIN, filter={**italia_filter, "contract": {"state": "EXPIRING", "withinDays": 5}}
    )
    # then
    assert active and all(date.fromisoformat(n["contract"]["endsOn"]) >= today for n in active)
    assert expired and all(date.fromisoformat(n["contract"]["endsOn"]) < today for n in expired)
    assert {n["id"] for n in soon} == {n["id"] for n in active}
    assert not_yet == []


async def test_device_manager_filtering_on_another_account_sees_nothing(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given: the device manager has five Acme France devices; Globex is someone else's
    [globex] = await _ids(connection, Account, Account.name, "Globex Corporation")
    globex_sites = await _ids(connection, Site, Site.account_id, globex)
    [italia] = await _ids(connection, Account, Account.name, "Acme Italia")
    # when
    mine = await _all(gql, DEVICE_MANAGER)
    by_account = await _all(
        gql, DEVICE_MANAGER, filter={"accountIds": [global_id("Account", globex)]}
    )
    by_sister = await _all(
        gql, DEVICE_MANAGER, filter={"accountIds": [global_id("Account", italia)]}
    )
    by_site = await _all(
        gql, DEVICE_MANAGER, filter={"siteIds": [global_id("Site", s) for s in globex_sites]}
    )
    by_search = await _all(gql, DEVICE_MANAGER, filter={"search": "AT-GLOBEX"})
    by_contract = await _all(gql, DEVICE_MANAGER, filter={"contract": {"state": "EXPIRED"}})
    # then
    assert len(mine) == 5
    assert by_account == by_sister == by_site == by_search == []
    assert {n["id"] for n in by_contract} <= {n["id"] for n in mine}


async def test_group_admin_never_sees_another_customers_devices_whatever_the_filter(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given
    [globex] = await _ids(connection, Account, Account.name, "Globex Corporation")
    # when
    nodes = await _all(gql, ADMIN, filter={"accountIds": [global_id("Account", globex)]})
    searched = await _all(gql, ADMIN, filter={"search": "globex"})
    # then
    assert nodes == [] and searched == []
