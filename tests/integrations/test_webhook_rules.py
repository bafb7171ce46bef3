"""Who may manage which webhooks, and what a webhook may be: every rule with a test that tries
to break it (other accounts, roles without MANAGE_WEBHOOKS, machine clients, bad queries and
URLs)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ClientFactory, StatementCounter
from tests.graphql import NOT_IN_SCHEMA, GraphQLClient
from tests.integrations.support import (
    CREATE_WEBHOOK,
    DELETE_WEBHOOK,
    QUERY_ACCOUNTS,
    QUERY_WEBHOOKS,
    REDELIVER,
    ROTATE_SECRET,
    TICKET_PAYLOAD,
    UPDATE_WEBHOOK,
)

ADMIN = "admin@acme.example"
ADMIN_FR = "admin.fr@acme.example"
AGENT = "agent@vendor.example"
GLOBEX = "admin@globex.example"
NOT_ADMINS = [
    "devices@acme.example",
    "stock@acme.example",
    "devstock@acme.example",
    "kb@acme.example",
]
URL = "https://hooks.example.com/portal"
QUERY_CLIENT_TOKEN = """
mutation($input: ClientTokenInput!) { clientToken(input: $input) { accessToken } }
"""


async def account_id(gql: GraphQLClient, user: str, name: str) -> str:
    result = await gql(QUERY_ACCOUNTS, as_user=user)
    return next(a["id"] for a in result.data["accounts"]["nodes"] if a["name"] == name)


async def create(gql: GraphQLClient, user: str, **input: Any) -> Any:
    values = {"url": URL, "events": ["TICKET_CREATED"], "query": TICKET_PAYLOAD, **input}
    return await gql(CREATE_WEBHOOK, {"input": values}, as_user=user)


async def acme_webhook(gql: GraphQLClient) -> str:
    result = await create(gql, ADMIN, accountId=await account_id(gql, ADMIN, "Acme Group"))
    payload = result.data["createWebhook"]
    assert payload["userErrors"] == [], payload
    return payload["webhook"]["id"]  # type: ignore[no-any-return]


def codes(result: Any, field: str) -> list[str]:
    return [e["code"] for e in result.data[field]["userErrors"]]


async def test_an_administrator_manages_its_accounts_webhooks(gql: GraphQLClient) -> None:
    webhook_id = await acme_webhook(gql)
    listed = await gql(QUERY_WEBHOOKS, as_user=ADMIN)
    assert [w["id"] for w in listed.data["webhooks"]["nodes"]] == [webhook_id]
    updated = await gql(
        UPDATE_WEBHOOK,
        {"input": {"id": webhook_id, "events": ["TICKET_COMMENTED", "TICKET_CREATED"]}},
        as_user=ADMIN,
    )
    assert updated.data["updateWebhook"]["webhook"]["events"] == [
        "TICKET_COMMENTED",
        "TICKET_CREATED",
    ]
    deleted = await gql(DELETE_WEBHOOK, {"input": {"id": webhook_id}}, as_user=ADMIN)
    assert deleted.data["deleteWebhook"] == {"deletedWebhookId": webhook_id, "userErrors": []}
    listed = await gql(QUERY_WEBHOOKS, as_user=ADMIN)
    assert listed.data["webhooks"]["nodes"] == []


@pytest.mark.parametrize("user", NOT_ADMINS)
async def test_roles_without_manage_webhooks_are_refused(gql: GraphQLClient, user: str) -> None:
    # given an account the user belongs to
    accounts = await gql(QUERY_ACCOUNTS, as_user=user)
    nodes = accounts.data["accounts"]["nodes"] if accounts.data else []
    account = nodes[0]["id"] if nodes else None
    webhook_id = await acme_webhook(gql)
    # when / then: no webhook mutation or list is in its schema, so every one is refused
    result = await create(gql, user, accountId=account)
    assert set(result.error_codes) == set(NOT_IN_SCHEMA)
    assert result.data is None
    for mutation, field in (
        (UPDATE_WEBHOOK, "updateWebhook"),
        (DELETE_WEBHOOK, "deleteWebhook"),
        (ROTATE_SECRET, "rotateWebhookSecret"),
    ):
        refused = await gql(mutation, {"input": {"id": webhook_id}}, as_user=user)
        assert set(refused.error_codes) == set(NOT_IN_SCHEMA), (field, refused.body)
    listed = await gql(QUERY_WEBHOOKS, as_user=user)
    assert listed.error_codes == NOT_IN_SCHEMA
    still = await gql(QUERY_WEBHOOKS, as_user=ADMIN)
    assert [w["id"] for w in still.data["webhooks"]["nodes"]] == [webhook_id]


async def test_another_accounts_administrator_cannot_touch_a_webhook(gql: GraphQLClient) -> None:
    webhook_id = await acme_webhook(gql)
    for mutation, field in (
        (UPDATE_WEBHOOK, "updateWebhook"),
        (DELETE_WEBHOOK, "deleteWebhook"),
        (ROTATE_SECRET, "rotateWebhookSecret"),
    ):
        result = await gql(mutation, {"input": {"id": webhook_id}}, as_user=GLOBEX)
        assert codes(result, field) == ["NOT_FOUND"], result.body
    listed = await gql(QUERY_WEBHOOKS, as_user=GLOBEX)
    assert listed.data["webhooks"]["nodes"] == []
    node = await gql("query($id: ID!) { node(id: $id) { id } }", {"id": webhook_id}, as_user=GLOBEX)
    assert node.data["node"] is None
    # nor create one on Acme's account
    result = await create(gql, GLOBEX, accountId=await account_id(gql, ADMIN, "Acme Group"))
    assert codes(result, "createWebhook") == ["NOT_FOUND"]


async def test_a_subsidiary_administrator_cannot_reach_the_groups_webhooks(
    gql: GraphQLClient,
) -> None:
    webhook_id = await acme_webhook(gql)  # on Acme Group, the parent
    result = await gql(DELETE_WEBHOOK, {"input": {"id": webhook_id}}, as_user=ADMIN_FR)
    assert codes(result, "deleteWebhook") == ["NOT_FOUND"]
    result = await create(gql, ADMIN_FR, accountId=await account_id(gql, ADMIN, "Acme Group"))
    assert codes(result, "createWebhook") == ["NOT_FOUND"]
    # while the group's administrator reaches the subsidiary's
    own = await create(gql, ADMIN_FR, accountId=await account_id(gql, ADMIN_FR, "Acme France"))
    own_id = own.data["createWebhook"]["webhook"]["id"]
    listed = await gql(QUERY_WEBHOOKS, as_user=ADMIN)
    assert {w["id"] for w in listed.data["webhooks"]["nodes"]} == {webhook_id, own_id}


async def test_an_administrator_must_name_an_account(gql: GraphQLClient) -> None:
    result = await create(gql, ADMIN)
    assert codes(result, "createWebhook") == ["VALUE_REQUIRED"]


async def test_an_agent_may_subscribe_to_every_account_and_sees_all(gql: GraphQLClient) -> None:
    acme = await acme_webhook(gql)
    result = await create(gql, AGENT)
    payload = result.data["createWebhook"]
    assert payload["userErrors"] == []
    assert payload["webhook"]["account"] is None
    listed = await gql(QUERY_WEBHOOKS, as_user=AGENT)
    assert {w["id"] for w in listed.data["webhooks"]["nodes"]} == {acme, payload["webhook"]["id"]}
    # and may change a customer's webhook, becoming its owner
    updated = await gql(UPDATE_WEBHOOK, {"input": {"id": acme, "url": URL + "/v2"}}, as_user=AGENT)
    assert updated.data["updateWebhook"]["userErrors"] == []


async def test_machine_clients_cannot_manage_webhooks(gql: GraphQLClient) -> None:
    token = (
        await gql(
            QUERY_CLIENT_TOKEN,
            {"input": {"clientId": "emaintenance-demo", "clientSecret": "demo-client-secret"}},
        )
    ).data["clientToken"]["accessToken"]
    webhook_id = await acme_webhook(gql)
    result = await gql(
        CREATE_WEBHOOK,
        {"input": {"url": URL, "events": ["TICKET_CREATED"], "query": TICKET_PAYLOAD}},
        token=token,
    )
    assert set(result.error_codes) == set(NOT_IN_SCHEMA)
    result = await gql(DELETE_WEBHOOK, {"input": {"id": webhook_id}}, token=token)
    assert set(result.error_codes) == set(NOT_IN_SCHEMA)
    listed = await gql(QUERY_WEBHOOKS, token=token)
    assert listed.error_codes == NOT_IN_SCHEMA


async def test_anonymous_callers_are_refused(gql: GraphQLClient) -> None:
    result = await gql(
        CREATE_WEBHOOK,
        {"input": {"url": URL, "events": ["TICKET_CREATED"], "query": TICKET_PAYLOAD}},
    )
    assert result.error_codes == ["UNAUTHENTICATED"]
    listed = await gql(QUERY_WEBHOOKS)
    assert listed.error_codes == ["UNAUTHENTICATED"]


async def test_a_delivery_of_another_account_cannot_be_redelivered(gql: GraphQLClient) -> None:
    result = await gql(
        REDELIVER, {"input": {"id": "V2ViaG9va0RlbGl2ZXJ5OjE="}}, as_user=GLOBEX
    )  # WebhookDelivery:1, whoever's it is
    assert codes(result, "redeliverWebhookDelivery") == ["NOT_FOUND"]


BAD_QUERIES = [
    ("query { node(id: $id) { id ", "WEBHOOK_QUERY_INVALID"),  # syntax
    ("query($id: ID!) { node(id: $id) { nope } }", "WEBHOOK_QUERY_INVALID"),  # schema
    ("mutation { logout { userErrors { code } } }", "WEBHOOK_QUERY_NOT_A_QUERY"),
    (
        "subscription($id: ID!) { ticketUpdated(ticketId: $id) { kind } }",
        "WEBHOOK_QUERY_NOT_A_QUERY",
    ),
    (
        "query A { viewer { authenticated } } query B { viewer { authenticated } }",
        "WEBHOOK_QUERY_NOT_A_QUERY",
    ),
    ("query($id: String!) { viewer { authenticated } }", "WEBHOOK_QUERY_VARIABLES"),
    ("query($other: ID!) { node(id: $other) { id } }", "WEBHOOK_QUERY_VARIABLES"),
    ("", "VALUE_REQUIRED"),
    (  # deeper than MAX_QUERY_DEPTH
        "query($id: ID!) { node(id: $id) { ... on Ticket { account { parent { parent { parent {"
        " parent { parent { parent { parent { parent { parent { parent { parent { parent { parent"
        " { parent { parent { parent { parent { name } } } } } } } } } } } } } } } } } } } } }",
        "WEBHOOK_QUERY_INVALID",
    ),
    (  # a connection inside a list without a page size
        "query { accounts(first: 5) { nodes { devices { nodes { id } } } } }",
        "WEBHOOK_QUERY_INVALID",
    ),
    (
        "query { accounts(first: 100) { nodes { devices(first: 100) { nodes {"
        " serialNumber site { name } } } } } }",
        "WEBHOOK_QUERY_TOO_COSTLY",
    ),
    ("#" + "x" * 10_001 + "\nquery { viewer { authenticated } }", "VALUE_TOO_LONG"),
]


@pytest.mark.parametrize(("query", "code"), BAD_QUERIES)
async def test_bad_payload_queries_are_refused(gql: GraphQLClient, query: str, code: str) -> None:
    acme = await account_id(gql, ADMIN, "Acme Group")
    result = await create(gql, ADMIN, accountId=acme, query=query)
    assert not result.errors, result.errors
    assert codes(result, "createWebhook") == [code]
    assert result.data["createWebhook"]["userErrors"][0]["field"] == ["query"]
    listed = await gql(QUERY_WEBHOOKS, as_user=ADMIN)
    assert listed.data["webhooks"]["nodes"] == []  # nothing stored


async def test_a_bad_query_is_refused_on_update_too(gql: GraphQLClient) -> None:
    webhook_id = await acme_webhook(gql)
    result = await gql(
        UPDATE_WEBHOOK, {"input": {"id": webhook_id, "query": "mutation { x }"}}, as_user=ADMIN
    )
    assert codes(result, "updateWebhook") == ["WEBHOOK_QUERY_NOT_A_QUERY"]


BAD_URLS = [
    ("ftp://hooks.example.com/", "WEBHOOK_URL_INVALID"),
    ("https://user:pw@hooks.example.com/", "WEBHOOK_URL_INVALID"),
    ("not a url", "WEBHOOK_URL_INVALID"),
    ("http://127.0.0.1:8080/hook", "WEBHOOK_URL_PRIVATE"),
    ("http://localhost/hook", "WEBHOOK_URL_PRIVATE"),
    ("http://10.1.2.3/hook", "WEBHOOK_URL_PRIVATE"),
    ("http://169.254.169.254/latest/meta-data", "WEBHOOK_URL_PRIVATE"),
    ("http://[::1]/hook", "WEBHOOK_URL_PRIVATE"),
    ("http://[::ffff:192.168.0.1]/hook", "WEBHOOK_URL_PRIVATE"),
    ("", "VALUE_REQUIRED"),
]


@pytest.mark.parametrize(("url", "code"), BAD_URLS)
async def test_bad_targets_are_refused_where_private_ones_are_not_allowed(
    client_with: ClientFactory, url: str, code: str
) -> None:
    async with client_with(webhook_allow_private_targets=False) as gql:
        acme = await account_id(gql, ADMIN, "Acme Group")
        result = await create(gql, ADMIN, accountId=acme, url=url)
        assert codes(result, "createWebhook") == [code]


async def test_production_requires_https(client_with: ClientFactory) -> None:
    async with client_with(environment="production", graphql_introspection="on") as gql:
        acme = await account_id(gql, ADMIN, "Acme Group")
        result = await create(gql, ADMIN, accountId=acme, url="http://hooks.example.com/")
        assert codes(result, "createWebhook") == ["WEBHOOK_URL_NOT_HTTPS"]
        result = await create(gql, ADMIN, accountId=acme, url="http://127.0.0.1/")
        assert codes(result, "createWebhook") == ["WEBHOOK_URL_NOT_HTTPS"]
        result = await create(gql, ADMIN, accountId=acme, url="https://127.0.0.1/")
        assert codes(result, "createWebhook") == ["WEBHOOK_URL_PRIVATE"]


async def test_the_secret_is_shown_once(gql: GraphQLClient) -> None:
    webhook_id = await acme_webhook(gql)
    result = await gql(
        "query($id: ID!) { node(id: $id) { ... on Webhook { secret } } }",
        {"id": webhook_id},
        as_user=ADMIN,
    )
    assert result.error_codes == ["GRAPHQL_VALIDATION_FAILED"]


async def test_the_webhooks_list_costs_the_same_statements_for_one_or_many(
    gql: GraphQLClient, statements: StatementCounter
) -> None:
    # given one webhook, then four
    await create(gql, AGENT)
    await gql(QUERY_WEBHOOKS, as_user=AGENT)  # signs in and warms up
    _, one = await statements.of(gql(QUERY_WEBHOOKS, as_user=AGENT))
    for _ in range(3):
        await create(gql, AGENT)
    # when
    result, four = await statements.of(gql(QUERY_WEBHOOKS, as_user=AGENT))
    # then: deliveries (first page and total) are batched across webhooks
    assert len(result.data["webhooks"]["nodes"]) == 4
    assert four == one
