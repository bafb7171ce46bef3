"""OpenTelemetry traces after a scripted sequence (sign-in, a dashboard query continuing the
client's trace, a refused mutation, a throttled request): a server span per HTTP request, an
operation span under it with the operation's name, type, caller, cost and error codes, the SQL
statements under the operation; no attribute holds a token or a password."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from sqlalchemy.ext.asyncio import AsyncEngine
from websockets.asyncio.client import connect

from app import create_app
from core.ids import global_id
from models.session import create_sessionmaker
from observability import tracing
from observability.logs import JsonFormatter
from settings import Settings
from tests.conftest import ClientFactory
from tests.graphql import GraphQLClient
from tests.servers import serving

QUERY_LOGIN = """
mutation SignIn($input: LoginInput!) {
  login(input: $input) { accessToken refreshToken userErrors { code } }
}
"""
QUERY_DASHBOARD = """
query Dashboard {
  viewer { user { email } }
  devices(first: 5) { totalCount nodes { serialNumber site { name } } }
}
"""
QUERY_AGENT = "query Accounts { accounts(first: 3) { nodes { name } } }"
QUERY_RENAME = """
mutation Rename($input: UpdateAccountInput!) { updateAccount(input: $input) { account { name } } }
"""
CLIENT_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN_ID = "00f067aa0ba902b7"


def _operation(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    found = [s for s in spans if (s.attributes or {}).get("graphql.operation.name") == name]
    assert len(found) == 1, [s.name for s in spans]
    return found[0]


def _children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    return [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]


def _parent(spans: list[ReadableSpan], child: ReadableSpan) -> ReadableSpan:
    assert child.parent is not None
    return next(s for s in spans if s.context.span_id == child.parent.span_id)


def _everything_said(span: ReadableSpan) -> str:
    parts: list[Any] = [span.name, *(span.attributes or {}).values()]
    for event in span.events:
        parts += [event.name, *(event.attributes or {}).values()]
    return " ".join(str(p) for p in parts)


async def test_a_traced_scripted_sequence(
    client_with: ClientFactory,
    spans: InMemorySpanExporter,
    demo_password: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # given
    async with client_with() as gql:
        kb = await gql.token_for("kb@acme.example")  # updateAccount is not in its schema
        agent = await gql.token_for("agent@vendor.example")
        # when
        login = await gql(
            QUERY_LOGIN, {"input": {"email": "admin@acme.example", "password": demo_password}}
        )
        token = login.data["login"]["accessToken"]
        dashboard = await gql(
            QUERY_DASHBOARD,
            token=token,
            headers={"traceparent": f"00-{CLIENT_TRACE_ID}-{CLIENT_SPAN_ID}-01"},
        )
        accounts = await gql(QUERY_AGENT, token=agent)
        refused = await gql(
            QUERY_RENAME,
            {"input": {"id": global_id("Account", 1), "version": 1, "name": "Renamed"}},
            token=kb,
        )
    async with client_with(rate_limit_capacity=1, rate_limit_restore_rate=1) as limited:
        again = QUERY_DASHBOARD.replace("Dashboard", "Again")
        throttled = await limited(again, token=token)  # an anonymous caller has no devices
    # then
    assert not dashboard.errors and not accounts.errors
    assert set(refused.error_codes) == {"GRAPHQL_VALIDATION_FAILED"} and throttled.error_codes == [
        "THROTTLED"
    ]
    finished = list(spans.get_finished_spans())

    sign_in = _operation(finished, "SignIn")
    assert sign_in.name == "mutation SignIn"
    assert sign_in.attributes["graphql.operation.type"] == "mutation"
    assert sign_in.attributes["portal.graphql.outcome"] == "ok"
    http = _parent(finished, sign_in)
    assert http.kind == SpanKind.SERVER and http.name == "POST /graphql"
    assert http.attributes["http.response.status_code"] == 200
    assert http.attributes["portal.request_id"] == login.headers["x-request-id"]

    board = _operation(finished, "Dashboard")
    attributes = board.attributes
    assert board.name == "query Dashboard"
    assert attributes["graphql.operation.type"] == "query"
    assert attributes["portal.caller.kind"] == "customer"
    assert attributes["portal.caller.roles"] == ("ADMINISTRATOR",)
    assert str(attributes["enduser.id"]).startswith("user:")
    cost = dashboard.body["extensions"]["cost"]
    assert attributes["portal.graphql.cost.requested"] == cost["requestedQueryCost"]
    assert attributes["portal.graphql.cost.actual"] == cost["actualQueryCost"]
    assert attributes["portal.graphql.error_codes"] == ()
    # the client's trace is continued: its span is the parent of our server span
    server = _parent(finished, board)
    assert server.kind == SpanKind.SERVER
    assert format(server.context.trace_id, "032x") == CLIENT_TRACE_ID
    assert format(server.parent.span_id, "016x") == CLIENT_SPAN_ID
    assert board.context.trace_id == server.context.trace_id
    # the SQL statements of the operation are its children, in the same trace
    statements = [s for s in _children(finished, board) if s.kind == SpanKind.CLIENT]
    assert statements, [s.name for s in _children(finished, board)]
    assert all(
        s.attributes.get("db.system") or s.attributes.get("db.system.name") for s in statements
    )
    assert any("SELECT" in s.name for s in statements)

    assert _operation(finished, "Accounts").attributes["portal.caller.kind"] == "agent"

    rename = _operation(finished, "Rename").attributes
    assert rename["portal.caller.kind"] == "customer"
    assert rename["portal.caller.roles"] == ("KNOWLEDGE_USER",)
    assert rename["portal.graphql.error_codes"] == ("GRAPHQL_VALIDATION_FAILED",)
    assert rename["portal.graphql.outcome"] == "refused"

    again = _operation(finished, "Again")
    assert again.attributes["portal.graphql.error_codes"] == ("THROTTLED",)
    assert again.attributes["portal.graphql.outcome"] == "throttled"
    assert again.attributes["portal.caller.kind"] == "customer"
    assert again.status.status_code != StatusCode.ERROR  # the caller's doing, not a fault

    assert "Failed to detach context" not in caplog.text  # the operation span left cleanly
    secrets = [demo_password, token, kb, agent, login.data["login"]["refreshToken"]]

    for span in finished:
        said = _everything_said(span)
        assert not [s for s in secrets if s in said], span.name


async def test_a_get_query_string_is_not_recorded(
    client_with: ClientFactory, spans: InMemorySpanExporter
) -> None:
    # given
    async with client_with() as gql:
        # when
        response = await gql.http.get(
            "/graphql",
            params={
                "query": "query Q($s: String) { devices(first: 1, search: $s) { totalCount } }",
                "variables": '{"s": "secret-search-term"}',
            },
            headers={"Accept": "application/json"},
        )
    # then
    assert response.status_code == 200
    finished = spans.get_finished_spans()
    assert any(s.kind == SpanKind.SERVER for s in finished)
    assert not [s.name for s in finished if "secret-search-term" in _everything_said(s)]


async def test_probes_are_not_traced(
    client_with: ClientFactory, spans: InMemorySpanExporter
) -> None:
    # given
    async with client_with() as gql:
        # when
        await gql.http.get("/healthz")
    # then
    assert not [s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER]


async def test_inject_continues_the_current_trace(spans: InMemorySpanExporter) -> None:
    # given
    tracer = tracing.trace.get_tracer("test")
    # when
    with tracer.start_as_current_span("outgoing") as span:
        headers = tracing.inject({"Content-Type": "application/json"})
    tracing.uninstall()
    untraced = tracing.inject({})
    # then
    trace_id = format(span.get_span_context().trace_id, "032x")
    span_id = format(span.get_span_context().span_id, "016x")
    assert headers["traceparent"].startswith(f"00-{trace_id}-{span_id}-")
    assert headers["Content-Type"] == "application/json"
    assert untraced == {}


async def test_untraced_apps_install_nothing(client_with: ClientFactory) -> None:
    # given: OTEL_EXPORTER_OTLP_ENDPOINT unset (the test session's environment)
    async with client_with() as gql:
        # when
        stack = gql.app.user_middleware  # type: ignore[attr-defined]
    # then
    assert not tracing.enabled()
    assert not [m for m in stack if m.cls is tracing.TracingMiddleware]


async def test_a_subscription_is_a_trace_of_its_own(
    settings: Settings,
    engine: AsyncEngine,
    gql: GraphQLClient,
    spans: InMemorySpanExporter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # given
    token = await gql.token_for("admin@acme.example")
    app = create_app(settings, sessionmaker=create_sessionmaker(engine))
    async with (
        serving(app) as address,
        connect(f"ws://{address}/graphql", subprotocols=["graphql-transport-ws"]) as ws,  # type: ignore[list-item]
    ):
        await ws.send(json.dumps({"type": "connection_init", "payload": {"token": token}}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "connection_ack"
        # when
        subscribe = {"query": "subscription Live { ticketUpdated { kind } }"}
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": subscribe}))
        await asyncio.sleep(0.3)
        await ws.send(json.dumps({"id": "1", "type": "complete"}))
        for _ in range(50):
            if any(s.name == "subscription Live" for s in spans.get_finished_spans()):
                break
            await asyncio.sleep(0.05)
    # then
    live = next(s for s in spans.get_finished_spans() if s.name == "subscription Live")
    assert live.parent is None
    assert live.attributes["portal.caller.kind"] in ("customer", "user")
    assert token not in _everything_said(live)
    assert "Failed to detach context" not in caplog.text


async def test_the_request_log_line_names_the_trace(
    client_with: ClientFactory, spans: InMemorySpanExporter, caplog: pytest.LogCaptureFixture
) -> None:
    # given
    caplog.set_level(logging.INFO, logger="portal.request")
    async with client_with(log_format="json") as gql:
        # when
        await gql("query Named { __typename }")
    # then
    line = json.loads(
        JsonFormatter().format(next(r for r in caplog.records if r.name == "portal.request"))
    )
    operation = _operation(list(spans.get_finished_spans()), "Named")
    assert line["trace_id"] == format(operation.context.trace_id, "032x")
