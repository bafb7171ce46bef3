"""/metrics: Prometheus text, served only with METRICS_TOKEN as bearer token; after a scripted
sequence (sign-in, a devices query, a throttled request, a refused mutation) the counters moved
with the right labels."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from core import clock
from core.ids import global_id
from models import OutboxMessage, Webhook, WebhookDelivery
from models.enums import OutboxKind
from tests.conftest import ClientFactory
from tests.graphql import GraphQLClient

TOKEN = "scrape-secret-0123456789"
QUERY_LOGIN = """
mutation SignIn($input: LoginInput!) {
  login(input: $input) { accessToken userErrors { code } }
}
"""
QUERY_DEVICES = "query Fleet { devices(first: 5) { nodes { serialNumber } } }"
QUERY_RENAME = """
mutation Rename($input: UpdateAccountInput!) { updateAccount(input: $input) { account { name } } }
"""

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def _scrape(gql: GraphQLClient) -> Samples:
    response = await gql.http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def _moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


async def test_a_scrape_after_a_scripted_sequence(
    client_with: ClientFactory, demo_password: str, connection: AsyncConnection
) -> None:
    # given: a mail waiting for an hour, and a webhook delivery for two
    an_hour_ago = clock.now() - timedelta(hours=1)
    await connection.execute(
        insert(OutboxMessage).values(
            kind=OutboxKind.EMAIL, topic="test", payload={}, created_at=an_hour_ago
        )
    )
    webhook = await connection.scalar(
        insert(Webhook)
        .values(
            url="https://receiver.example/hook",
            events="ticket.created",
            query="{ __typename }",
            secret="whsec_x",
        )
        .returning(Webhook.id)
    )
    await connection.execute(
        insert(WebhookDelivery).values(
            webhook_id=webhook,
            event="ticket.created",
            subject_type="Ticket",
            subject_id=1,
            created_at=an_hour_ago - timedelta(hours=1),
        )
    )
    async with client_with(metrics_token=TOKEN) as gql:
        kb = await gql.token_for("kb@acme.example")  # updateAccount is not in its schema
        before = await _scrape(gql)
        # when
        login = await gql(
            QUERY_LOGIN, {"input": {"email": "admin@acme.example", "password": demo_password}}
        )
        devices = await gql(QUERY_DEVICES, token=login.data["login"]["accessToken"])
        refused = await gql(
            QUERY_RENAME,
            {"input": {"id": global_id("Account", 1), "version": 1, "name": "Renamed"}},
            token=kb,
        )
        after = await _scrape(gql)
    async with client_with(
        metrics_token=TOKEN, rate_limit_capacity=1, rate_limit_restore_rate=1
    ) as limited:
        # (signed in: an anonymous caller has no devices in its schema)
        throttled = await limited(QUERY_DEVICES, token=login.data["login"]["accessToken"])
        after_throttle = await _scrape(limited)
    # then
    assert not devices.errors and set(refused.error_codes) == {"GRAPHQL_VALIDATION_FAILED"}
    assert throttled.error_codes == ["THROTTLED"]
    requests = "portal_graphql_requests_total"
    assert (
        _moved(
            before,
            after,
            requests,
            operation_name="SignIn",
            operation_type="mutation",
            outcome="ok",
        )
        == 1
    )
    assert (
        _moved(
            before, after, requests, operation_name="Fleet", operation_type="query", outcome="ok"
        )
        == 1
    )
    assert (
        _moved(
            before,
            after,
            requests,
            operation_name="Rename",
            operation_type="mutation",
            outcome="refused",
        )
        == 1
    )
    assert (
        _moved(
            after,
            after_throttle,
            requests,
            operation_name="Fleet",
            operation_type="query",
            outcome="throttled",
        )
        == 1
    )
    assert _moved(after, after_throttle, "portal_graphql_throttled_total", caller="user") == 1
    assert (
        _moved(before, after, "portal_graphql_errors_total", code="GRAPHQL_VALIDATION_FAILED") == 1
    )
    assert _moved(after, after_throttle, "portal_graphql_errors_total", code="THROTTLED") == 1
    latency = "portal_graphql_request_duration_seconds_count"
    assert _moved(before, after, latency, operation_name="Fleet", operation_type="query") == 1
    cost = devices.body["extensions"]["cost"]["requestedQueryCost"]
    assert (
        _moved(
            before, after, "portal_graphql_query_cost_sum", operation_type="query", kind="requested"
        )
        == cost
    )
    statements = "portal_graphql_sql_statements"
    assert _moved(before, after, f"{statements}_count", operation_type="query") == 1
    assert _moved(before, after, f"{statements}_sum", operation_type="query") >= 1
    assert ("portal_websocket_subscriptions", frozenset()) in after
    assert after[("portal_outbox_pending", frozenset({("kind", "EMAIL")}))] >= 1
    assert after[("portal_outbox_oldest_age_seconds", frozenset({("kind", "EMAIL")}))] >= 3600
    assert after[("portal_outbox_pending", frozenset({("kind", "webhook")}))] >= 1
    assert after[("portal_outbox_oldest_age_seconds", frozenset({("kind", "webhook")}))] >= 7200


async def test_metrics_refused_without_the_token(client_with: ClientFactory) -> None:
    # given
    async with client_with(metrics_token=TOKEN) as gql:
        # when
        missing = await gql.http.get("/metrics")
        wrong = await gql.http.get("/metrics", headers={"Authorization": "Bearer nope"})
    async with client_with(metrics_token=None) as unset:
        off = await unset.http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    # then
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert wrong.status_code == 401
    assert "portal_graphql" not in missing.text + wrong.text
    assert off.status_code == 404
