"""What a trace shows below the operation: Redis commands (arguments never recorded), the mail
sender's SMTP exchange; and the gauge of database connections in use."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client import REGISTRY
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncConnection

from mail import enqueue_mail
from mail.sender import deliver_pending
from mail.templates import ACCESS_REJECTED
from models.session import create_engine, create_sessionmaker
from observability import metrics
from settings import Settings
from tests.conftest import ClientFactory
from tests.identity.conftest import SmtpServer, smtp_server  # noqa: F401 (a fixture)

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
QUERY = "query Peek { devices(first: 1) { totalCount } }"


def _statement(span: ReadableSpan) -> str:
    return str((span.attributes or {}).get("db.statement", ""))


def _below(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    return [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]


async def test_redis_commands_are_spans_of_the_operation(
    client_with: ClientFactory, spans: InMemorySpanExporter
) -> None:
    # given
    probe = Redis.from_url(REDIS_URL)
    try:
        await probe.ping()
    except Exception:  # pragma: no cover - depends on the machine
        pytest.skip("no Redis on 127.0.0.1:6379")
    finally:
        await probe.aclose()
    async with client_with(redis_url=REDIS_URL) as gql:
        # The first use of the bucket script in a Redis server loads it (EVALSHA, refused, then
        # SCRIPT LOAD and EVALSHA again): done here, whether or not an earlier test (or this
        # one's sign-in, skipped when the token is cached) already did.
        warm_up = await gql(QUERY, as_user="admin@acme.example")
        assert not warm_up.errors
        spans.clear()
        # when: the rate-limit bucket lives in Redis
        response = await gql(QUERY, as_user="admin@acme.example")
    # then: below the operation, the bucket's one command, its arguments not recorded
    assert not response.errors
    finished = list(spans.get_finished_spans())
    operation = next(s for s in finished if s.name == "query Peek")
    redis_spans = [
        s for s in _below(finished, operation) if (s.attributes or {}).get("db.system") == "redis"
    ]
    assert [s.name for s in redis_spans] == ["EVALSHA"], [s.name for s in finished]
    statement = _statement(redis_spans[0])
    command, *arguments = statement.split(" ")
    assert command == "EVALSHA" and arguments, statement
    assert all(argument == "?" for argument in arguments), statement


async def test_a_mail_delivery_is_a_trace_with_its_smtp_exchange(
    settings: Settings,
    connection: AsyncConnection,
    smtp_server: SmtpServer,  # noqa: F811
    spans: InMemorySpanExporter,
) -> None:
    # given
    sessionmaker = create_sessionmaker(connection, join_transaction_mode="create_savepoint")
    async with sessionmaker() as session, session.begin():
        enqueue_mail(
            session,
            to="traced@example.com",
            language="en",
            template=ACCESS_REJECTED,
            params={"name": "Zoé", "account_name": "Acme Italia"},
        )
    spans.clear()
    # when
    delivered = await deliver_pending(sessionmaker, replace(settings, smtp_url=smtp_server.url))
    # then
    assert delivered == 1
    finished = list(spans.get_finished_spans())
    deliver = next(s for s in finished if s.name == "mail deliver")
    assert deliver.parent is None  # a trace of its own
    below = _below(finished, deliver)
    smtp = [s for s in below if s.name == "smtp send"]
    assert len(smtp) == 1 and smtp[0].kind == SpanKind.CLIENT
    assert smtp[0].attributes["server.port"] == smtp_server.port
    assert any(s.name.startswith("UPDATE") for s in below)  # the row marked sent
    # the poll (the claim) is not traced: no statement on the outbox outside the delivery's
    # trace (spans of other traces, such as one a task of an earlier test ends late, are not
    # this delivery's business)
    outside = [s for s in finished if s.context.trace_id != deliver.context.trace_id]
    assert [s.name for s in outside if "outbox_messages" in _statement(s)] == []


async def test_pool_connections_in_use_gauge(settings: Settings) -> None:
    # given
    engine = create_engine(settings)
    metrics.watch_pool(engine)

    def in_use() -> float:
        return REGISTRY.get_sample_value("portal_db_pool_connections_in_use") or 0.0

    before = in_use()
    try:
        # when
        async with engine.connect() as first, engine.connect() as second:
            assert first is not second
            during = in_use()
        after = in_use()
    finally:
        await engine.dispose()
    # then
    assert (during - before, after - before) == (2, 0)
