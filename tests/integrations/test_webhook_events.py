"""The other events reach webhooks: meter readings refused, replenishment orders created,
shipped and delivered (each with the object its payload query receives as `$id`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.ids import global_id
from demo.fleet import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from models import ReplenishmentOrder
from resolvers.silent_replenishment import run_once as order_for_silent_devices
from tests.integrations.conftest import Hooks, Served
from tests.integrations.support import CREATE_WEBHOOK
from tests.meters.helpers import devices_of
from tests.stock.conftest import client_token, supplied_device
from tests.stock.test_silent_replenishment import silent_due_toner

AGENT = "agent@vendor.example"
ADMIN = "admin@acme.example"

SUBMIT = """
mutation Submit($input: SubmitMeterReadingsInput!) {
  submitMeterReadings(input: $input) { userErrors { code } }
}
"""
REPORT = """
mutation Report($input: ReportTonerLevelsInput!) {
  reportTonerLevels(input: $input) { replenishmentOrders { id } userErrors { code } }
}
"""
UPDATE_ORDER = """
mutation Update($input: UpdateReplenishmentOrderInput!) {
  updateReplenishmentOrder(input: $input) { replenishmentOrder { status } userErrors { code } }
}
"""
ANY_NODE = """
query Hook($id: ID!) {
  node(id: $id) {
    id __typename
    ... on ReplenishmentOrder { status }
    ... on Device { serialNumber }
  }
}
"""


async def agent_hook(hooks: Hooks, served: Served, events: list[str]) -> dict[str, Any]:
    result = await hooks.gql(
        CREATE_WEBHOOK,
        {"input": {"url": served.url, "events": events, "query": ANY_NODE}},
        as_user=AGENT,
    )
    payload = result.data["createWebhook"]
    assert payload["userErrors"] == [], payload
    served.receiver.secrets = [payload["secret"]]
    return payload  # type: ignore[no-any-return]


async def test_refused_readings_are_announced(hooks: Hooks, served: Served) -> None:
    # given
    await agent_hook(hooks, served, ["READING_REFUSED"])
    [device, *_] = await devices_of(hooks.gql, ADMIN, first=1)
    readings = device.next_values()
    readings[0]["value"] = device.latest[readings[0]["meter"]][1] - 1  # type: ignore[index]
    # when readings lower than the previous ones are refused
    result = await hooks.gql(
        SUBMIT, {"input": {"deviceId": device.id, "readings": readings}}, as_user=ADMIN
    )
    assert [e["code"] for e in result.data["submitMeterReadings"]["userErrors"]] == [
        "READING_BELOW_PREVIOUS"
    ]
    await hooks.deliver()
    # then
    [request] = served.receiver.received
    assert request.verified
    assert request.payload["type"] == "meter_reading.refused"
    assert request.payload["data"]["node"]["id"] == device.id


async def test_replenishment_orders_are_announced_as_they_move(
    hooks: Hooks, served: Served, connection: AsyncConnection
) -> None:
    # given
    await agent_hook(
        hooks,
        served,
        [
            "REPLENISHMENT_ORDER_CREATED",
            "REPLENISHMENT_ORDER_SHIPPED",
            "REPLENISHMENT_ORDER_DELIVERED",
        ],
    )
    device = await supplied_device(connection)
    token = await client_token(hooks.gql, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)
    # when a low level orders toner, and the order is shipped and delivered
    reported = await hooks.gql(
        REPORT,
        {
            "input": {
                "deviceId": global_id("Device", device.id),
                "levels": [{"colour": "BLACK", "percent": 3}],
            }
        },
        token=token,
    )
    [order] = reported.data["reportTonerLevels"]["replenishmentOrders"]
    for status in ("SHIPPED", "DELIVERED"):
        moved = await hooks.gql(
            UPDATE_ORDER, {"input": {"id": order["id"], "status": status}}, as_user=AGENT
        )
        assert moved.data["updateReplenishmentOrder"]["userErrors"] == []
    for _ in range(3):
        await hooks.deliver()
    # then the receiver saw the three events in order, each with the order as it is now
    assert [r.payload["type"] for r in served.receiver.received] == [
        "replenishment_order.created",
        "replenishment_order.shipped",
        "replenishment_order.delivered",
    ]
    assert {r.payload["data"]["node"]["id"] for r in served.receiver.received} == {order["id"]}
    assert all(r.verified for r in served.receiver.received)


async def test_orders_for_silent_devices_are_announced(
    hooks: Hooks, served: Served, connection: AsyncConnection
) -> None:
    # given: a device silent for 20 days whose toner is due (its location orders months ahead)
    await agent_hook(hooks, served, ["REPLENISHMENT_ORDER_CREATED"])
    device, toner = await silent_due_toner(connection)
    # when the periodic pass runs
    raised = await order_for_silent_devices(hooks.services.sessionmaker)
    while await hooks.deliver():
        pass
    # then the order is announced like one a report raises
    order_id = await connection.scalar(
        select(ReplenishmentOrder.id).where(
            ReplenishmentOrder.device_id == device.id,
            ReplenishmentOrder.consumable_id == toner.id,
        )
    )
    assert raised >= 1 and order_id is not None
    announced = {
        r.payload["data"]["node"]["id"]
        for r in served.receiver.received
        if r.payload["type"] == "replenishment_order.created" and r.verified
    }
    assert global_id("ReplenishmentOrder", order_id) in announced
    assert len(served.receiver.received) == raised
