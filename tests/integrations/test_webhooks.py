"""Webhooks end to end: created through the API, emitted by real changes, delivered by the
sender to a real receiver that checks the Standard Webhooks signatures."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core import clock
from core.ids import decode_id
from models import Account, Device, Membership, OutboxMessage, User, WebhookDelivery
from models.enums import Role
from schema.export_runner import ExportRunner
from schema.webhook_payloads import SchemaRenderer
from tests.graphql import GraphQLClient
from tests.integrations.conftest import Hooks, Served
from tests.integrations.support import (
    CREATE_WEBHOOK,
    NODE_PAYLOAD,
    QUERY_ACCOUNTS,
    QUERY_WEBHOOKS,
    REDELIVER,
    ROTATE_SECRET,
    TICKET_PAYLOAD,
    UPDATE_WEBHOOK,
)
from tests.tickets.support import (
    ADD_COMMENT,
    UPDATE_STATUS,
    covered_device,
    create_incident,
    devices_of,
)
from tests.tickets.test_device_requests import REQUEST_REMOVAL, days_ahead
from webhooks import signing
from webhooks.sender import WebhookSender

ADMIN = "admin@acme.example"
AGENT = "agent@vendor.example"
GLOBEX = "admin@globex.example"


async def account_id(gql: GraphQLClient, user: str, name: str) -> str:
    result = await gql(QUERY_ACCOUNTS, as_user=user)
    return next(a["id"] for a in result.data["accounts"]["nodes"] if a["name"] == name)


async def create_webhook(
    gql: GraphQLClient, user: str, url: str, events: list[str], **extra: Any
) -> dict[str, Any]:
    result = await gql(
        CREATE_WEBHOOK,
        {"input": {"url": url, "events": events, "query": TICKET_PAYLOAD, **extra}},
        as_user=user,
    )
    assert not result.errors, result.errors
    payload = result.data["createWebhook"]
    assert payload["userErrors"] == [], payload["userErrors"]
    return payload  # type: ignore[no-any-return]


async def deliveries(gql: GraphQLClient, user: str, webhook_id: str) -> list[dict[str, Any]]:
    result = await gql(QUERY_WEBHOOKS, as_user=user)
    assert not result.errors, result.errors
    hook = next(w for w in result.data["webhooks"]["nodes"] if w["id"] == webhook_id)
    return hook["deliveries"]["nodes"]  # type: ignore[no-any-return]


async def acme_hook(hooks: Hooks, served: Served, events: list[str]) -> dict[str, Any]:
    acme = await account_id(hooks.gql, ADMIN, "Acme Group")
    made = await create_webhook(hooks.gql, ADMIN, served.url, events, accountId=acme)
    served.receiver.secrets = [made["secret"]]
    return made


async def test_a_ticket_created_is_delivered_signed_with_the_owners_view(
    hooks: Hooks, served: Served
) -> None:
    # given an administrator's webhook on the group's ticket creations
    made = await acme_hook(hooks, served, ["TICKET_CREATED"])
    assert made["secret"].startswith("whsec_")
    assert made["webhook"]["account"]["name"] == "Acme Group"
    device = await covered_device(hooks.gql, ADMIN)

    # when a ticket is raised and the sender runs
    ticket = await create_incident(hooks.gql, ADMIN, device["id"])
    assert await hooks.deliver() == 1

    # then the receiver got one request, signed with the secret, carrying the query's result
    [request] = served.receiver.received
    assert request.verified
    assert request.headers["webhook-id"].startswith("msg_")
    assert request.headers["content-type"] == "application/json"
    body = request.payload
    assert body["type"] == "ticket.created"
    assert body["subject"] == ticket["id"]
    assert body["data"]["node"]["number"] == ticket["number"]
    assert "errors" not in body
    [delivery] = await deliveries(hooks.gql, ADMIN, made["webhook"]["id"])
    assert delivery["status"] == "SUCCEEDED"
    assert delivery["attempts"] == 1
    assert delivery["responseStatus"] == 200
    assert delivery["responseExcerpt"] == "answer 200"
    assert delivery["subjectId"] == ticket["id"]


async def test_a_failed_delivery_is_retried_with_the_same_id(hooks: Hooks, served: Served) -> None:
    # given a receiver that fails once with a 500
    made = await acme_hook(hooks, served, ["TICKET_CREATED"])
    served.receiver.script = [500]
    device = await covered_device(hooks.gql, ADMIN)
    await create_incident(hooks.gql, ADMIN, device["id"])

    # when the sender runs once
    await hooks.deliver()

    # then the delivery waits for a retry
    [delivery] = await deliveries(hooks.gql, ADMIN, made["webhook"]["id"])
    assert delivery["status"] == "PENDING"
    assert delivery["lastError"] == "HTTP_500"
    assert delivery["responseStatus"] == 500
    assert delivery["nextAttemptAt"] is not None

    # when it runs again
    await hooks.deliver()

    # then the retry succeeded, with the same webhook-id (receivers deduplicate on it)
    [delivery] = await deliveries(hooks.gql, ADMIN, made["webhook"]["id"])
    assert delivery["status"] == "SUCCEEDED"
    assert delivery["attempts"] == 2
    first, second = served.receiver.received
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.verified and second.verified


async def test_a_receiver_that_times_out_is_retried(hooks: Hooks, served: Served) -> None:
    # given a receiver slower than the timeout (0.5 s here), then a quick one
    made = await acme_hook(hooks, served, ["TICKET_CREATED"])
    served.receiver.script = ["timeout"]
    device = await covered_device(hooks.gql, ADMIN)
    await create_incident(hooks.gql, ADMIN, device["id"])

    # when
    await hooks.deliver()

    # then
    [delivery] = await deliveries(hooks.gql, ADMIN, made["webhook"]["id"])
    assert delivery["status"] == "PENDING"
    assert delivery["lastError"] == "TIMEOUT"
    await hooks.deliver()
    [delivery] = await deliveries(hooks.gql, ADMIN, made["webhook"]["id"])
    assert delivery["status"] == "SUCCEEDED"


async def test_redirects_are_not_followed_and_only_an_excerpt_is_kept(
    hooks: Hooks, served: Served
) -> None:
    made = await acme_hook(hooks, served, ["TICKET_CREATED"])
    served.receiver.script = [302]
    served.receiver.big_body = True
    device = await covered_device(hooks.gql, ADMIN)
    await create_incident(hooks.gql, ADMIN, device["id"])

    await hooks.deliver()

    [delivery] = await deliveries(hooks.gql, ADMIN, made["webhook"]["id"])
    assert delivery["lastError"] == "HTTP_302"
    assert len(served.receiver.received) == 1  # the Location was not followed
    assert len(delivery["responseExcerpt"]) == 1024


async def test_events_of_one_object_arrive_in_order(hooks: Hooks, served: Served) -> None:
    # given two events about one ticket, the first failing once
    await acme_hook(hooks, served, ["TICKET_CREATED", "TICKET_COMMENTED"])
    served.receiver.script = [500]
    device = await covered_device(hooks.gql, ADMIN)
    ticket = await create_incident(hooks.gql, ADMIN, device["id"])
    result = await hooks.gql(
        ADD_COMMENT, {"input": {"ticketId": ticket["id"], "body": "More jams."}}, as_user=ADMIN
    )
    assert result.data["addTicketComment"]["userErrors"] == []

    # when the sender runs: the first fails, the second must wait for it
    await hooks.deliver()
    assert [r.payload["type"] for r in served.receiver.received] == ["ticket.created"]
    await hooks.deliver()
    await hooks.deliver()

    # then the receiver saw created (failed), created, commented: in order
    assert [r.payload["type"] for r in served.receiver.received] == [
        "ticket.created",
        "ticket.created",
        "ticket.commented",
    ]


async def test_customers_never_receive_internal_notes(hooks: Hooks, served: Served) -> None:
    # given the customer's webhook and an agent's, both on comments
    customer = await acme_hook(hooks, served, ["TICKET_COMMENTED"])
    agent = await create_webhook(hooks.gql, AGENT, served.url, ["TICKET_COMMENTED"])
    served.receiver.secrets = []  # two secrets in play: checked per request below
    device = await covered_device(hooks.gql, ADMIN)
    ticket = await create_incident(hooks.gql, ADMIN, device["id"])

    # when an agent writes an internal note, then a public answer
    for internal, body in ((True, "Customer is difficult."), (False, "Technician booked.")):
        result = await hooks.gql(
            ADD_COMMENT,
            {"input": {"ticketId": ticket["id"], "body": body, "internal": internal}},
            as_user=AGENT,
        )
        assert result.data["addTicketComment"]["userErrors"] == [], result.data
    for _ in range(3):
        await hooks.deliver()

    # then the customer's webhook got the public comment only, and no internal note in any
    # payload it received; the agent's got both
    customer_rows = await deliveries(hooks.gql, ADMIN, customer["webhook"]["id"])
    agent_rows = await deliveries(hooks.gql, AGENT, agent["webhook"]["id"])
    assert len(customer_rows) == 1
    assert len(agent_rows) == 2
    by_secret = {customer["secret"]: [], agent["secret"]: []}  # type: dict[str, list[Any]]
    for request in served.receiver.received:
        for secret in by_secret:
            if signing.verify(secret, request.headers, request.body, now=_now()):
                by_secret[secret].append(request.payload)
    [seen] = by_secret[customer["secret"]]
    bodies = [c["body"] for c in seen["data"]["node"]["comments"]]
    assert "Customer is difficult." not in bodies
    assert "Technician booked." in bodies
    assert all(not c["internal"] for c in seen["data"]["node"]["comments"])
    assert len(by_secret[agent["secret"]]) == 2


def _now() -> int:
    return int(time.time())


async def test_another_accounts_events_never_reach_a_webhook(hooks: Hooks, served: Served) -> None:
    # given Globex's administrator's webhook on every ticket event
    globex = await account_id(hooks.gql, GLOBEX, "Globex Corporation")
    made = await create_webhook(
        hooks.gql,
        GLOBEX,
        served.url,
        ["TICKET_CREATED", "TICKET_STATUS_CHANGED", "TICKET_COMMENTED"],
        accountId=globex,
    )

    # when Acme raises and comments a ticket
    device = await covered_device(hooks.gql, ADMIN)
    ticket = await create_incident(hooks.gql, ADMIN, device["id"])
    await hooks.gql(
        ADD_COMMENT, {"input": {"ticketId": ticket["id"], "body": "Hello"}}, as_user=ADMIN
    )
    await hooks.deliver()

    # then nothing was delivered to Globex's receiver
    assert await deliveries(hooks.gql, GLOBEX, made["webhook"]["id"]) == []
    assert served.receiver.received == []


async def test_a_subsidiary_admin_receives_its_own_accounts_events_only(
    hooks: Hooks, served: Served
) -> None:
    # given Acme France's administrator's webhook
    france = await account_id(hooks.gql, "admin.fr@acme.example", "Acme France")
    made = await create_webhook(
        hooks.gql, "admin.fr@acme.example", served.url, ["TICKET_CREATED"], accountId=france
    )
    # when a ticket is raised on a device of another Acme subsidiary
    device = next(
        d
        for d in await _devices(hooks.gql)
        if d["account"]["name"] not in {"Acme France", "Acme France Sud"}
    )
    await create_incident(hooks.gql, ADMIN, device["id"])
    # then Acme France's webhook has no delivery
    assert await deliveries(hooks.gql, "admin.fr@acme.example", made["webhook"]["id"]) == []


async def _devices(gql: GraphQLClient) -> list[dict[str, Any]]:
    return [
        d
        for d in await devices_of(gql, ADMIN)
        if d["status"] == "ACTIVE" and d["contract"] and d["contract"]["active"]
    ]


async def test_a_deactivated_owners_webhook_stops(
    hooks: Hooks, served: Served, connection: AsyncConnection
) -> None:
    # given a pending delivery of an administrator's webhook
    made = await acme_hook(hooks, served, ["TICKET_CREATED"])
    device = await covered_device(hooks.gql, ADMIN)
    await create_incident(hooks.gql, ADMIN, device["id"])

    # when the administrator is deactivated before the sender runs
    await connection.execute(update(User).where(User.email == ADMIN).values(is_active=False))
    await hooks.deliver()

    # then nothing was sent and the delivery failed with the reason
    assert served.receiver.received == []
    await connection.execute(update(User).where(User.email == ADMIN).values(is_active=True))
    [delivery] = await deliveries(hooks.gql, ADMIN, made["webhook"]["id"])
    assert delivery["status"] == "FAILED"
    assert delivery["lastError"] == "WEBHOOK_OWNER_INACTIVE"


async def test_an_object_the_owner_cannot_see_is_not_delivered(
    hooks: Hooks, served: Served, connection: AsyncConnection
) -> None:
    # given an Acme administrator's webhook and a delivery naming a Globex device (as an
    # event would if the device had moved out of the owner's sight since)
    made = await acme_hook(hooks, served, ["DEVICE_STATUS_CHANGED"])
    globex_device = await connection.scalar(
        select(Device.id)
        .join(Account, Account.id == Device.account_id)
        .where(Account.name == "Globex Corporation")
        .limit(1)
    )
    webhook_pk = decode_id(made["webhook"]["id"], "Webhook")
    await connection.execute(
        insert(WebhookDelivery).values(
            webhook_id=webhook_pk,
            event="device.status_changed",
            subject_type="Device",
            subject_id=globex_device,
            internal=False,
            status="PENDING",
            available_at=clock.now(),
            attempts=0,
            created_at=clock.now(),
        )
    )

    # when the sender runs
    await hooks.deliver()

    # then nothing was sent
    assert served.receiver.received == []
    [delivery] = await deliveries(hooks.gql, ADMIN, made["webhook"]["id"])
    assert delivery["status"] == "SKIPPED"
    assert delivery["lastError"] == "NOT_VISIBLE"
    assert delivery["attempts"] == 0


async def test_rotation_signs_with_both_secrets_during_the_overlap(
    hooks: Hooks, served: Served
) -> None:
    # given a webhook whose secret was rotated
    made = await acme_hook(hooks, served, ["TICKET_CREATED"])
    rotated = await hooks.gql(
        ROTATE_SECRET, {"input": {"id": made["webhook"]["id"]}}, as_user=ADMIN
    )
    payload = rotated.data["rotateWebhookSecret"]
    assert payload["userErrors"] == []
    assert payload["secret"] != made["secret"]
    assert payload["webhook"]["previousSecretExpiresAt"] is not None
    served.receiver.secrets = [made["secret"], payload["secret"]]

    # when an event is delivered
    device = await covered_device(hooks.gql, ADMIN)
    await create_incident(hooks.gql, ADMIN, device["id"])
    await hooks.deliver()

    # then both the old and the new secret verify it
    [request] = served.receiver.received
    assert len(request.signatures) == 2
    assert request.verified


async def test_a_receiver_failing_repeatedly_is_disabled_and_its_owner_mailed(
    hooks: Hooks, served: Served, connection: AsyncConnection
) -> None:
    # given a receiver that always fails (the limit is 3 failed attempts here)
    made = await acme_hook(hooks, served, ["TICKET_CREATED"])
    served.receiver.script = [500] * 10
    device = await covered_device(hooks.gql, ADMIN)
    await create_incident(hooks.gql, ADMIN, device["id"])

    # when the sender tries until the limit
    for _ in range(4):
        await hooks.deliver()

    # then the webhook is disabled, its delivery failed, and its owner has a mail
    result = await hooks.gql(QUERY_WEBHOOKS, as_user=ADMIN)
    hook = next(w for w in result.data["webhooks"]["nodes"] if w["id"] == made["webhook"]["id"])
    assert hook["active"] is False
    assert hook["disabledReason"] == "TOO_MANY_FAILURES"
    [delivery] = hook["deliveries"]["nodes"]
    assert delivery["status"] == "FAILED"
    assert delivery["attempts"] == 3
    assert len(served.receiver.received) == 3
    mails = (
        await connection.execute(
            select(OutboxMessage.payload).where(OutboxMessage.topic == "mail.webhooks.disabled")
        )
    ).scalars()
    [mail] = list(mails)
    assert mail["to"] == ADMIN

    # when the owner re-activates it and asks for the event again
    updated = await hooks.gql(
        UPDATE_WEBHOOK, {"input": {"id": made["webhook"]["id"], "active": True}}, as_user=ADMIN
    )
    assert updated.data["updateWebhook"]["webhook"]["consecutiveFailures"] == 0
    again = await hooks.gql(REDELIVER, {"input": {"id": delivery["id"]}}, as_user=ADMIN)
    assert again.data["redeliverWebhookDelivery"]["userErrors"] == []
    served.receiver.script = []
    await hooks.deliver()

    # then it is delivered
    assert served.receiver.received[-1].payload["type"] == "ticket.created"
    assert len(await deliveries(hooks.gql, ADMIN, made["webhook"]["id"])) == 2


async def test_a_device_status_change_is_delivered(hooks: Hooks, served: Served) -> None:
    # given an agent's webhook on device status changes (a removal request changes it)
    made = await create_webhook(
        hooks.gql,
        AGENT,
        served.url,
        ["DEVICE_STATUS_CHANGED"],
        query=NODE_PAYLOAD,
    )
    device = await covered_device(hooks.gql, ADMIN)
    result = await hooks.gql(
        REQUEST_REMOVAL,
        {"input": {"deviceId": device["id"], "wantedDate": days_ahead(2), "reason": "Closing."}},
        as_user=ADMIN,
    )
    assert result.data["requestDeviceRemoval"]["userErrors"] == [], result.data
    await hooks.deliver()
    [delivery] = await deliveries(hooks.gql, AGENT, made["webhook"]["id"])
    assert delivery["status"] == "SUCCEEDED"
    assert served.receiver.received[0].payload["data"]["node"] == {
        "id": device["id"],
        "__typename": "Device",
    }
    assert served.receiver.received[0].payload["type"] == "device.status_changed"


async def test_status_changes_are_delivered(hooks: Hooks, served: Served) -> None:
    made = await create_webhook(hooks.gql, AGENT, served.url, ["TICKET_STATUS_CHANGED"])
    device = await covered_device(hooks.gql, ADMIN)
    ticket = await create_incident(hooks.gql, ADMIN, device["id"])
    result = await hooks.gql(
        UPDATE_STATUS,
        {"input": {"ticketId": ticket["id"], "status": "CANCELLED", "version": ticket["version"]}},
        as_user=ADMIN,
    )
    assert result.data["updateTicketStatus"]["userErrors"] == [], result.data
    await hooks.deliver()
    [delivery] = await deliveries(hooks.gql, AGENT, made["webhook"]["id"])
    assert delivery["event"] == "TICKET_STATUS_CHANGED"
    assert delivery["status"] == "SUCCEEDED"
    assert served.receiver.received[0].payload["data"]["node"]["status"] == "CANCELLED"


async def test_an_owner_who_lost_manage_webhooks_gets_nothing(
    hooks: Hooks, served: Served, connection: AsyncConnection
) -> None:
    # given a pending delivery of the group administrator's webhook
    made = await acme_hook(hooks, served, ["TICKET_CREATED"])
    device = await covered_device(hooks.gql, ADMIN)
    await create_incident(hooks.gql, ADMIN, device["id"])
    # when the administrator becomes a device manager before the sender runs
    owner = select(User.id).where(User.email == ADMIN).scalar_subquery()
    await connection.execute(
        update(Membership).where(Membership.user_id == owner).values(role=Role.DEVICE_MANAGER)
    )
    await hooks.deliver()
    await connection.execute(
        update(Membership).where(Membership.user_id == owner).values(role=Role.ADMINISTRATOR)
    )
    # then nothing was sent
    assert served.receiver.received == []
    [delivery] = await deliveries(hooks.gql, ADMIN, made["webhook"]["id"])
    assert delivery["status"] == "FAILED"
    assert delivery["lastError"] == "WEBHOOK_OWNER_NOT_PERMITTED"


EXPORT_PAYLOAD = (
    "query($id: ID!) { node(id: $id) { ... on BulkExport { status rowsWritten url } } }"
)


async def test_a_finished_export_is_announced_to_its_owners_webhooks_only(
    hooks: Hooks, served: Served
) -> None:
    # given the administrator's and an agent's webhooks on finished exports
    mine = await acme_hook(hooks, served, ["BULK_EXPORT_FINISHED"])
    await hooks.gql(
        UPDATE_WEBHOOK,
        {"input": {"id": mine["webhook"]["id"], "query": EXPORT_PAYLOAD}},
        as_user=ADMIN,
    )
    other = await create_webhook(
        hooks.gql, AGENT, served.url, ["BULK_EXPORT_FINISHED"], query=EXPORT_PAYLOAD
    )
    # when the administrator's export completes
    started = await hooks.gql(
        "mutation($q: String!) { startBulkExport(input: {query: $q}) { userErrors { code } } }",
        {"q": "{ devices { nodes { serialNumber } } }"},
        as_user=ADMIN,
    )
    assert started.data["startBulkExport"]["userErrors"] == []
    assert await ExportRunner(hooks.services).run_pending() == 1
    await hooks.deliver()
    # then only the administrator's webhook is told, with the export as the administrator sees it
    [request] = served.receiver.received
    assert request.verified
    node = request.payload["data"]["node"]
    assert node["status"] == "COMPLETED" and node["rowsWritten"] > 0 and node["url"]
    assert await deliveries(hooks.gql, AGENT, other["webhook"]["id"]) == []


async def test_a_host_name_is_delivered_to_the_address_it_was_checked_at(
    hooks: Hooks, served: Served
) -> None:
    # given a webhook naming its receiver by host name
    port = served.url.split(":")[2].split("/")[0]
    acme = await account_id(hooks.gql, ADMIN, "Acme Group")
    made = await create_webhook(
        hooks.gql, ADMIN, f"http://localhost:{port}/hook", ["TICKET_CREATED"], accountId=acme
    )
    served.receiver.secrets = [made["secret"]]
    device = await covered_device(hooks.gql, ADMIN)
    await create_incident(hooks.gql, ADMIN, device["id"])

    # when it is delivered
    await hooks.deliver()

    # then the request reached the checked address with the name in its Host header
    [request] = served.receiver.received
    assert request.verified
    assert request.headers["host"] == f"localhost:{port}"


async def test_the_target_is_checked_again_before_each_delivery(
    hooks: Hooks, served: Served
) -> None:
    # given a webhook saved while private targets were allowed
    made = await acme_hook(hooks, served, ["TICKET_CREATED"])
    device = await covered_device(hooks.gql, ADMIN)
    await create_incident(hooks.gql, ADMIN, device["id"])

    # when a sender that refuses them delivers
    strict = replace(hooks.services.settings, webhook_allow_private_targets=False)
    sender = WebhookSender(
        hooks.services.sessionmaker, strict, SchemaRenderer(hooks.services), concurrency=1
    )
    await sender.deliver_pending()
    await sender.stop()

    # then nothing was sent
    assert served.receiver.received == []
    [delivery] = await deliveries(hooks.gql, ADMIN, made["webhook"]["id"])
    assert delivery["status"] == "FAILED"
    assert delivery["lastError"] == "WEBHOOK_URL_PRIVATE"


async def test_an_agent_editing_a_customers_webhook_leaks_no_internal_note(
    hooks: Hooks, served: Served
) -> None:
    # given the customer's webhook on comments, which an agent edits (even its URL)
    customer = await acme_hook(hooks, served, ["TICKET_COMMENTED"])
    edited = await hooks.gql(
        UPDATE_WEBHOOK,
        {"input": {"id": customer["webhook"]["id"], "url": served.url + "?v=2"}},
        as_user=AGENT,
    )
    assert edited.data["updateWebhook"]["userErrors"] == []
    device = await covered_device(hooks.gql, ADMIN)
    ticket = await create_incident(hooks.gql, ADMIN, device["id"])

    # when an agent writes an internal note
    result = await hooks.gql(
        ADD_COMMENT,
        {"input": {"ticketId": ticket["id"], "body": "Internal only.", "internal": True}},
        as_user=AGENT,
    )
    assert result.data["addTicketComment"]["userErrors"] == []
    await hooks.deliver()

    # then the customer's webhook has no delivery of it
    assert await deliveries(hooks.gql, ADMIN, customer["webhook"]["id"]) == []
    assert served.receiver.received == []
