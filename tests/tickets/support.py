"""Helpers shared by the ticket tests: pick demo objects through the API like a client."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from models import AuditLogEntry, Device, OutboxMessage, Ticket, TicketNumberCounter
from tests.audiences import only_known
from tests.graphql import GraphQLClient

MY_DEVICE_FIELDS = """
id
serialNumber
status
account { id name }
site { id name timeZone }
contract { active }
"""

# (`devices_of` asks each user the fields its schema has)
QUERY_MY_DEVICES_WITH = """
query MyDevices {{
  devices(first: 100) {{
    nodes {{ {fields} }}
  }}
}}
"""

QUERY_MY_DEVICES = QUERY_MY_DEVICES_WITH.format(fields=MY_DEVICE_FIELDS)

CREATE_TICKET = """
mutation Create($input: CreateTicketInput!) {
  createTicket(input: $input) {
    ticket {
      id number type status summary version responseDueAt slaState createdAt
      contact { name email phone language }
      device { id } account { id }
    }
    userErrors { field code message }
  }
}
"""

UPDATE_STATUS = """
mutation Update($input: UpdateTicketStatusInput!) {
  updateTicketStatus(input: $input) {
    ticket { id status version responseDueAt slaState firstRespondedAt }
    userErrors { field code message }
  }
}
"""

ADD_COMMENT = """
mutation Comment($input: AddTicketCommentInput!) {
  addTicketComment(input: $input) {
    ticket { id }
    comment { id body internal byAgent authorName }
    userErrors { field code message }
  }
}
"""


async def devices_of(gql: GraphQLClient, user: str) -> list[dict[str, Any]]:
    fields = only_known(user, "Device", MY_DEVICE_FIELDS)
    result = await gql(QUERY_MY_DEVICES_WITH.format(fields=fields), as_user=user)
    # Roles holding VIEW_CONTRACTS nowhere (stock managers) have no `contract` in their schema:
    # their devices come without it. Roles holding it on some devices get `contract: null` on
    # the others (FORBIDDEN), such as those they see only because their stock location
    # supplies them.
    unexpected = [
        e
        for e in result.errors
        if not (e.get("path", [""])[-1] == "contract" and e["extensions"]["code"] == "FORBIDDEN")
    ]
    assert not unexpected, unexpected
    return result.data["devices"]["nodes"]  # type: ignore[no-any-return]


async def covered_device(
    gql: GraphQLClient, user: str, account: str | None = None
) -> dict[str, Any]:
    """An ACTIVE device with an active contract that `user` may see."""
    for device in await devices_of(gql, user):
        if (
            device["status"] == "ACTIVE"
            and device.get("contract") is not None
            and device["contract"]["active"]
            and (account is None or device["account"]["name"] == account)
        ):
            return device
    raise AssertionError("no covered device")


async def uncovered_device(gql: GraphQLClient, user: str) -> dict[str, Any]:
    for device in await devices_of(gql, user):
        if device.get("contract") is None or not device["contract"]["active"]:
            return device
    raise AssertionError("no uncovered device")


async def create_incident(
    gql: GraphQLClient, user: str, device_id: str, **extra: Any
) -> dict[str, Any]:
    payload = {
        "type": "INCIDENT",
        "deviceId": device_id,
        "summary": "Paper jam",
        "description": "Tray 2 jams.",
        "symptomCategory": "PAPER_JAM",
        **extra,
    }
    result = await gql(CREATE_TICKET, {"input": payload}, as_user=user)
    assert not result.errors, result.errors
    data = result.data["createTicket"]
    assert data["userErrors"] == [], data["userErrors"]
    return data["ticket"]  # type: ignore[no-any-return]


@contextlib.asynccontextmanager
async def committed_writes_removed(engine: AsyncEngine) -> AsyncIterator[None]:
    """For tests whose requests commit for real: afterwards, remove the tickets, mails and audit
    entries they wrote and put ticket counters and device statuses back."""
    async with engine.connect() as conn:
        marks = {
            model: await conn.scalar(select(func.coalesce(func.max(model.id), 0)))
            for model in (Ticket, OutboxMessage, AuditLogEntry)
        }
        counters = dict(
            (await conn.execute(select(TicketNumberCounter.year, TicketNumberCounter.last_number)))
            .tuples()
            .all()
        )
        statuses = dict((await conn.execute(select(Device.id, Device.status))).tuples().all())
    try:
        yield
    finally:
        async with engine.begin() as conn:
            for model, mark in marks.items():
                await conn.execute(delete(model).where(model.id > mark))
            await conn.execute(
                delete(TicketNumberCounter).where(TicketNumberCounter.year.not_in(list(counters)))
            )
            for year, last in counters.items():
                await conn.execute(
                    update(TicketNumberCounter)
                    .where(TicketNumberCounter.year == year)
                    .values(last_number=last)
                )
            for device_id, status in statuses.items():
                await conn.execute(
                    update(Device)
                    .where(Device.id == device_id, Device.status != status)
                    .values(status=status)
                )
