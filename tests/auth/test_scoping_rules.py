"""Scoping rules beyond the demo data's shape: an assignment that names another account's
object (a bad write, an import gone wrong) grants nothing."""

from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry import relay

from models import (
    Account,
    Device,
    Membership,
    MembershipDevice,
    MembershipStockLocation,
    StockLocation,
    Ticket,
    User,
)
from tests.audiences import fields_of
from tests.graphql import GraphQLClient

# (a stock manager has no tickets in its schema: it asks the rest)
QUERY_SEEN = """
query($device: ID!, $location: ID!, $ticket: ID!) {
  devices(first: 100) { nodes { id } }
  stockLocations(first: 100) { nodes { id } }
  %s
  device: node(id: $device) { id }
  location: node(id: $location) { id }
  ticket: node(id: $ticket) { id }
}
"""


async def _membership_of(connection: AsyncConnection, email: str) -> int:
    return int(
        await connection.scalar(
            select(Membership.id)
            .join(User, User.id == Membership.user_id)
            .where(User.email == email)
        )
    )


async def test_assignment_of_another_accounts_objects_grants_nothing(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given: Globex objects assigned to an Acme device-and-stock manager's membership
    globex = await connection.scalar(select(Account.id).where(Account.name == "Globex Corporation"))
    device = await connection.scalar(
        select(Device.id)
        .where(Device.account_id == globex, Device.e_maintenance.is_(True))
        .limit(1)
    )
    location = await connection.scalar(
        select(StockLocation.id).where(StockLocation.account_id == globex).limit(1)
    )
    ticket = await connection.scalar(
        select(Ticket.id).where(Ticket.account_id == globex, Ticket.device_id.is_not(None)).limit(1)
    )
    assert device and location and ticket
    devstock = await _membership_of(connection, "devstock@acme.example")
    await connection.execute(
        insert(MembershipDevice), [{"membership_id": devstock, "device_id": device}]
    )
    for email in ("devstock@acme.example", "stock@acme.example"):
        await connection.execute(
            insert(MembershipStockLocation),
            [
                {
                    "membership_id": await _membership_of(connection, email),
                    "stock_location_id": location,
                }
            ],
        )
    variables = {
        "device": str(relay.GlobalID("Device", str(device))),
        "location": str(relay.GlobalID("StockLocation", str(location))),
        "ticket": str(relay.GlobalID("Ticket", str(ticket))),
    }
    for email in ("devstock@acme.example", "stock@acme.example"):
        # when
        tickets = "tickets(first: 100) { nodes { id } }"
        has_tickets = "tickets" in fields_of(email, "Query")
        result = await gql(QUERY_SEEN % (tickets if has_tickets else ""), variables, as_user=email)
        # then
        assert not result.errors, result.errors
        data = result.data
        assert variables["device"] not in {d["id"] for d in data["devices"]["nodes"]}
        assert variables["location"] not in {s["id"] for s in data["stockLocations"]["nodes"]}
        tickets_seen = data["tickets"]["nodes"] if has_tickets else []
        assert variables["ticket"] not in {t["id"] for t in tickets_seen}
        assert (data["device"], data["location"], data["ticket"]) == (None, None, None)
