"""Shared look-ups for the meter tests: a device the user may read, with its latest readings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core import clock
from models import Account, Device
from tests.graphql import GraphQLClient

QUERY_DEVICES_WITH_READINGS = """
query Devices($first: Int, $after: String, $filter: DeviceFilter) {
  devices(first: $first, after: $after, filter: $filter) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id serialNumber installedOn eMaintenance
      site { timeZone }
      model { maxPagesPerDay }
      latestReadings { meter reading { id readingDate value } }
    }
  }
}
"""

QUERY_LATEST = """
query Latest($id: ID!) {
  node(id: $id) { ... on Device { latestReadings { meter reading { id readingDate value source } } } }
}
"""


@dataclass
class DeviceInfo:
    id: str
    serial: str
    installed_on: date
    e_maintenance: bool
    max_pages_per_day: int
    time_zone: str
    latest: dict[str, tuple[date, int] | None]

    def next_values(self, step: int = 10) -> list[dict[str, Any]]:
        return [
            {"meter": meter, "value": (last[1] if last else 0) + step}
            for meter, last in self.latest.items()
        ]

    @property
    def today(self) -> date:
        return clock.today_in(self.time_zone)

    @property
    def last_date(self) -> date:
        return max(last[0] for last in self.latest.values() if last is not None)


def _device(node: dict[str, Any]) -> DeviceInfo:
    return DeviceInfo(
        id=node["id"],
        serial=node["serialNumber"],
        installed_on=date.fromisoformat(node["installedOn"]),
        e_maintenance=node["eMaintenance"],
        max_pages_per_day=node["model"]["maxPagesPerDay"],
        time_zone=node["site"]["timeZone"],
        latest={
            item["meter"]: (
                (date.fromisoformat(item["reading"]["readingDate"]), item["reading"]["value"])
                if item["reading"]
                else None
            )
            for item in node["latestReadings"]
        },
    )


async def devices_of(
    gql: GraphQLClient, user: str, *, first: int = 20, filter: dict[str, Any] | None = None
) -> list[DeviceInfo]:
    found: list[DeviceInfo] = []
    after = None
    while len(found) < first:
        result = await gql(
            QUERY_DEVICES_WITH_READINGS,
            {"first": min(20, first - len(found)), "after": after, "filter": filter},
            as_user=user,
        )
        assert not result.errors, result.errors
        page = result.data["devices"]
        found += [_device(node) for node in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    return found


async def latest_of(gql: GraphQLClient, device_id: str) -> dict[str, tuple[str, int, str] | None]:
    result = await gql(QUERY_LATEST, {"id": device_id}, as_user="agent@vendor.example")
    assert not result.errors, result.errors
    return {
        item["meter"]: (
            (item["reading"]["readingDate"], item["reading"]["value"], item["reading"]["source"])
            if item["reading"]
            else None
        )
        for item in result.data["node"]["latestReadings"]
    }


async def new_device(
    connection: AsyncConnection, serial: str, installed_on: date, *, e_maintenance: bool = False
) -> int:
    """A fresh Acme France device without readings, like another of that account (model, site):
    its history is the test's own."""
    account_id = await connection.scalar(select(Account.id).where(Account.name == "Acme France"))
    template = (
        await connection.execute(select(Device).where(Device.account_id == account_id).limit(1))
    ).one()
    pk = await connection.scalar(
        insert(Device)
        .values(
            serial_number=serial,
            product_model_id=template.product_model_id,
            account_id=account_id,
            site_id=template.site_id,
            installed_on=installed_on,
            e_maintenance=e_maintenance,
        )
        .returning(Device.id)
    )
    assert pk is not None
    return int(pk)
