"""createTicket: types, permissions, contract check, numbers, idempotency, mail."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core import clock
from core.ids import parse_global_id
from models import Contract, Device, OutboxMessage, Ticket
from models.enums import DeviceStatus
from tests.audiences import fields_of
from tests.graphql import NOT_IN_SCHEMA, GraphQLClient
from tests.tickets.support import CREATE_TICKET, covered_device, create_incident, uncovered_device

ADMIN = "admin@acme.example"
ADMIN_FR = "admin.fr@acme.example"
DEVICE_MANAGER = "devices@acme.example"
STOCK_MANAGER = "stock@acme.example"
AGENT = "agent@vendor.example"
GLOBEX = "admin@globex.example"

QUERY_ACCOUNTS = """
query { accounts(first: 50) { nodes { id name } } }
"""


async def account_id(gql: GraphQLClient, name: str, user: str = AGENT) -> str:
    result = await gql(QUERY_ACCOUNTS, as_user=user)
    return next(a["id"] for a in result.data["accounts"]["nodes"] if a["name"] == name)


@pytest.mark.dates
async def test_customer_creates_an_incident_with_a_number_and_due_time(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given
    device = await covered_device(gql, ADMIN_FR)
    # when
    ticket = await create_incident(
        gql, ADMIN_FR, device["id"], contact={"name": "Jeanne", "email": "jeanne@acme.example"}
    )
    # then
    created = datetime.fromisoformat(ticket["createdAt"]).astimezone(UTC)
    assert re.fullmatch(rf"T-{created.year}-\d{{6}}", ticket["number"])  # the year in UTC
    assert ticket["status"] == "NEW"
    assert ticket["type"] == "INCIDENT"
    assert ticket["version"] == 1
    assert ticket["device"]["id"] == device["id"]
    assert ticket["responseDueAt"] is not None
    assert datetime.fromisoformat(ticket["responseDueAt"]) > datetime.fromisoformat(
        ticket["createdAt"]
    )
    assert ticket["slaState"] in ("ON_TRACK", "AT_RISK")
    # the contact's language defaults to the creating user's (François: fr)
    assert ticket["contact"] == {
        "name": "Jeanne",
        "email": "jeanne@acme.example",
        "phone": None,
        "language": "fr",
    }
    mails = (
        await connection.scalars(
            select(OutboxMessage.payload).where(OutboxMessage.topic == "mail.ticket_created")
        )
    ).all()
    mail = next(m for m in mails if m["params"]["number"] == ticket["number"])
    assert mail["to"] == "jeanne@acme.example"
    assert mail["language"] == "fr"


@pytest.mark.dates
async def test_numbers_are_consecutive(gql: GraphQLClient) -> None:
    # given
    device = await covered_device(gql, ADMIN)
    # when
    first = await create_incident(gql, ADMIN, device["id"])
    second = await create_incident(gql, ADMIN, device["id"])
    # then (unless the year turned in between: numbers start again each year)
    if second["number"][:6] == first["number"][:6]:
        assert int(second["number"][-6:]) == int(first["number"][-6:]) + 1
    else:
        assert second["number"][:6] > first["number"][:6]


@pytest.mark.dates
async def test_device_without_active_contract_is_refused(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given
    device = await uncovered_device(gql, ADMIN)
    before = len((await connection.scalars(select(OutboxMessage.id))).all())
    # when
    result = await gql(
        CREATE_TICKET,
        {
            "input": {
                "type": "SUPPLIES",
                "deviceId": device["id"],
                "summary": "Toner please",
            }
        },
        as_user=ADMIN,
    )
    # then
    payload = result.data["createTicket"]
    assert payload["ticket"] is None
    assert [e["code"] for e in payload["userErrors"]] == ["CONTRACT_INACTIVE"]
    assert len((await connection.scalars(select(OutboxMessage.id))).all()) == before


async def test_removed_device_takes_no_service_work(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given: a covered device the vendor has since taken away
    device = await covered_device(gql, ADMIN)
    pk = parse_global_id(device["id"])[1]  # type: ignore[index]
    await connection.execute(
        update(Device).where(Device.id == pk).values(status=DeviceStatus.REMOVED)
    )
    before = len((await connection.scalars(select(Ticket.id))).all())
    # when
    result = await gql(
        CREATE_TICKET,
        {"input": {"type": "SUPPLIES", "deviceId": device["id"], "summary": "Toner please"}},
        as_user=ADMIN,
        headers={"Accept-Language": "it"},
    )
    # then
    payload = result.data["createTicket"]
    assert payload["ticket"] is None
    assert [e["code"] for e in payload["userErrors"]] == ["DEVICE_REMOVED"]
    assert "rimosso" in payload["userErrors"][0]["message"]
    assert len((await connection.scalars(select(Ticket.id))).all()) == before


async def test_incident_needs_a_symptom_category(gql: GraphQLClient) -> None:
    # given
    device = await covered_device(gql, ADMIN)
    # when
    result = await gql(
        CREATE_TICKET,
        {"input": {"type": "INCIDENT", "deviceId": device["id"], "summary": "Broken"}},
        as_user=ADMIN,
    )
    # then
    errors = result.data["createTicket"]["userErrors"]
    assert [(e["code"], e["field"]) for e in errors] == [
        ("TICKET_FIELD_REQUIRED", ["input", "symptomCategory"])
    ]


async def test_move_and_removal_go_through_their_own_mutations(gql: GraphQLClient) -> None:
    # given
    device = await covered_device(gql, ADMIN)
    # when
    result = await gql(
        CREATE_TICKET,
        {"input": {"type": "MOVE", "deviceId": device["id"], "summary": "Move it"}},
        as_user=ADMIN,
    )
    # then
    assert [e["code"] for e in result.data["createTicket"]["userErrors"]] == [
        "TICKET_TYPE_NOT_ALLOWED"
    ]


async def test_device_manager_creates_tickets_on_assigned_devices(gql: GraphQLClient) -> None:
    # given
    device = await covered_device(gql, DEVICE_MANAGER)
    # when
    ticket = await create_incident(gql, DEVICE_MANAGER, device["id"])
    # then
    assert ticket["status"] == "NEW"


async def test_create_ticket_requires_permission(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given: the stock manager sees e-Maintenance devices its stock location supplies,
    # but may not raise tickets on them (holds CREATE_TICKETS nowhere)
    from tests.tickets.support import devices_of

    devices = await devices_of(gql, STOCK_MANAGER)
    assert devices
    parsed = parse_global_id(devices[0]["id"])
    assert parsed is not None
    tickets_of_device = (
        select(func.count()).select_from(Ticket).where(Ticket.device_id == parsed[1])
    )
    before = await connection.scalar(tickets_of_device)
    # when
    result = await gql(
        CREATE_TICKET,
        {
            "input": {
                "type": "SUPPLIES",
                "deviceId": devices[0]["id"],
                "summary": "Toner",
            }
        },
        as_user=STOCK_MANAGER,
    )
    # then: neither the mutation nor its input type is in its schema: refused before it runs
    assert result.data is None
    assert set(result.error_codes) == set(NOT_IN_SCHEMA), result.errors
    assert "createTicket" not in fields_of(STOCK_MANAGER, "Mutation")
    assert await connection.scalar(tickets_of_device) == before


async def test_ticket_on_an_invisible_device_is_not_found(gql: GraphQLClient) -> None:
    # given: a Globex device
    device = await covered_device(gql, GLOBEX)
    # when
    result = await gql(
        CREATE_TICKET,
        {
            "input": {
                "type": "INCIDENT",
                "deviceId": device["id"],
                "summary": "x",
                "symptomCategory": "OTHER",
            }
        },
        as_user=ADMIN,
    )
    # then
    assert result.error_codes == ["NOT_FOUND"]


@pytest.mark.dates
async def test_administrator_asks_an_account_question(gql: GraphQLClient) -> None:
    # given
    account = await account_id(gql, "Acme France", ADMIN_FR)
    # when
    result = await gql(
        CREATE_TICKET,
        {
            "input": {
                "type": "ACCOUNT_QUERY",
                "accountId": account,
                "summary": "Invoice question",
                "description": "Why two invoices?",
            }
        },
        as_user=ADMIN_FR,
    )
    # then
    payload = result.data["createTicket"]
    assert payload["userErrors"] == []
    assert payload["ticket"]["device"] is None
    assert payload["ticket"]["account"]["id"] == account
    assert payload["ticket"]["responseDueAt"] is not None


async def test_account_question_requires_permission(gql: GraphQLClient) -> None:
    # given: a device manager sees its account but may not ask account questions
    account = await account_id(gql, "Acme France")
    # when
    result = await gql(
        CREATE_TICKET,
        {"input": {"type": "ACCOUNT_QUERY", "accountId": account, "summary": "Question"}},
        as_user=DEVICE_MANAGER,
    )
    # then
    assert result.error_codes == ["FORBIDDEN"]


async def test_retry_with_the_same_idempotency_key_returns_the_same_ticket(
    gql: GraphQLClient,
) -> None:
    # given
    device = await covered_device(gql, ADMIN)
    first = await create_incident(gql, ADMIN, device["id"], idempotencyKey="mobile-retry-1")
    # when
    again = await create_incident(gql, ADMIN, device["id"], idempotencyKey="mobile-retry-1")
    other_user = await create_incident(
        gql, ADMIN_FR, (await covered_device(gql, ADMIN_FR))["id"], idempotencyKey="mobile-retry-1"
    )
    # then
    assert again["id"] == first["id"]
    assert again["number"] == first["number"]
    assert other_user["id"] != first["id"]


async def test_anonymous_caller_cannot_create_tickets(gql: GraphQLClient) -> None:
    # when
    result = await gql(
        CREATE_TICKET,
        {"input": {"type": "SUPPLIES", "deviceId": "RGV2aWNlOjE=", "summary": "x"}},
    )
    # then: told to sign in, before anything runs
    assert result.data is None
    assert result.error_codes == ["UNAUTHENTICATED"]
    assert "path" not in result.errors[0]


async def test_bad_contact_email_is_a_user_error(gql: GraphQLClient) -> None:
    # given
    device = await covered_device(gql, ADMIN)
    # when
    result = await gql(
        CREATE_TICKET,
        {
            "input": {
                "type": "SUPPLIES",
                "deviceId": device["id"],
                "summary": "Toner",
                "contact": {"email": "not-an-address"},
            }
        },
        as_user=ADMIN,
    )
    # then
    assert [e["code"] for e in result.data["createTicket"]["userErrors"]] == [
        "CONTACT_EMAIL_INVALID"
    ]


QUERY_DEVICE_CONTRACT = """
query Device($id: ID!) { node(id: $id) { ... on Device { site { timeZone } contract { active } } } }
"""


@pytest.mark.dates
async def test_contract_active_is_decided_at_the_sites_date_like_ticket_creation(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given: a Paris device whose contract ends today in UTC, at 23:30 UTC (tomorrow in Paris)
    device = await covered_device(gql, ADMIN_FR, account="Acme France")
    node = (await gql(QUERY_DEVICE_CONTRACT, {"id": device["id"]}, as_user=ADMIN_FR)).data["node"]
    assert node["site"]["timeZone"] == "Europe/Paris"
    now = clock.now()  # the next 23:30 UTC (forward: tokens issued so far stay valid)
    late = datetime.combine(now.date(), time(23, 30), UTC)
    late += timedelta(days=1) if late < now else timedelta(0)
    utc_day = late.date()
    device_pk = parse_global_id(device["id"])[1]
    contract_id = await connection.scalar(select(Device.contract_id).where(Device.id == device_pk))
    await connection.execute(
        update(Contract).where(Contract.id == contract_id).values(ends_on=utc_day)
    )
    with time_machine.travel(late, tick=True):
        # when
        node = await gql(QUERY_DEVICE_CONTRACT, {"id": device["id"]}, as_user=ADMIN_FR)
        created = await gql(
            CREATE_TICKET,
            {"input": {"type": "SUPPLIES", "deviceId": device["id"], "summary": "Toner"}},
            as_user=ADMIN_FR,
        )
    # then: the contract ended yesterday in Paris, for the field as for ticket creation
    assert [e["code"] for e in created.data["createTicket"]["userErrors"]] == ["CONTRACT_INACTIVE"]
    assert node.data["node"]["contract"]["active"] is False
