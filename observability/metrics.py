"""Prometheus metrics, served at `/metrics` (app.py) when `METRICS_TOKEN` is set. With
`PROMETHEUS_MULTIPROC_DIR` set (one directory shared by the workers of a host, emptied before
they start) every worker writes its figures there and a scrape of any worker adds them up
(prometheus_client's multiprocess mode); otherwise the process's default registry. The outbox
figures are read from the database at scrape time; the connections checked out of the app's
pool are counted by pool events (`watch_pool`).

Operation names label the request metrics: only the document's own names count, and past
`MAX_OPERATION_NAMES` distinct names per process the rest are counted as `other`, so a client
inventing names cannot grow the series without bound."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import event, func, literal, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core import clock
from models import OutboxMessage, WebhookDelivery
from models.webhook import DeliveryStatus

if TYPE_CHECKING:
    from observability.requests import RequestRecord
    from settings import Settings

CONTENT_TYPE = CONTENT_TYPE_LATEST
MAX_OPERATION_NAMES = 200

REQUESTS = Counter(
    "portal_graphql_requests",
    "GraphQL HTTP requests by operation and outcome (ok, error, refused, throttled).",
    ["operation_name", "operation_type", "outcome"],
)
LATENCY = Histogram(
    "portal_graphql_request_duration_seconds",
    "Time from the request's arrival to its response sent.",
    ["operation_name", "operation_type"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
COST = Histogram(
    "portal_graphql_query_cost",
    "Query cost of operations that were costed (requested: before execution; actual: counted "
    "on the returned data).",
    ["operation_type", "kind"],
    buckets=(0, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000),
)
THROTTLED = Counter(
    "portal_graphql_throttled",
    "Operations refused THROTTLED (empty rate-limit bucket), by kind of caller.",
    ["caller"],
)
ERRORS = Counter(
    "portal_graphql_errors",
    "Errors in GraphQL responses by code (one per code per response).",
    ["code"],
)
STATEMENTS = Histogram(
    "portal_graphql_sql_statements",
    "SQL statements sent for one GraphQL request.",
    ["operation_type"],
    buckets=(0, 1, 2, 3, 5, 8, 13, 20, 30, 50, 100),
)
SUBSCRIPTIONS = Gauge(
    "portal_websocket_subscriptions",
    "GraphQL subscriptions open over WebSocket.",
    multiprocess_mode="livesum",
)

POOL_IN_USE = Gauge(
    "portal_db_pool_connections_in_use",
    "Database connections checked out of the pool (held by a request, a WebSocket operation "
    "or the mail sender).",
    multiprocess_mode="livesum",
)

_names: set[str] = set()


def _checked_out(*_: Any) -> None:
    POOL_IN_USE.inc()


def _checked_in(*_: Any) -> None:
    POOL_IN_USE.dec()


def watch_pool(engine: AsyncEngine) -> None:
    """Counts `engine`'s connections in use in `portal_db_pool_connections_in_use`."""
    event.listen(engine.sync_engine, "checkout", _checked_out)
    event.listen(engine.sync_engine, "checkin", _checked_in)


def _operation_label(name: str | None) -> str:
    if name is None:
        return ""
    if name in _names:
        return name
    if len(_names) >= MAX_OPERATION_NAMES:
        return "other"
    _names.add(name)
    return name


def observe_request(record: RequestRecord) -> None:
    name = _operation_label(record.operation_name)
    kind = record.operation_type or ""
    REQUESTS.labels(name, kind, record.outcome).inc()
    LATENCY.labels(name, kind).observe(record.duration_ms / 1000)
    if record.requested_cost is not None:
        COST.labels(kind, "requested").observe(record.requested_cost)
    if record.actual_cost is not None:
        COST.labels(kind, "actual").observe(record.actual_cost)
    if record.outcome == "throttled":
        THROTTLED.labels(record.caller_kind).inc()
    for code in record.error_codes:
        ERRORS.labels(code).inc()
    STATEMENTS.labels(kind).observe(record.statements)


def _registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return registry
    return REGISTRY


async def _outbox(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> bytes:
    """Messages waiting to be sent (mail: not sent, attempts left; webhook deliveries: pending,
    retries included) and the age of the oldest, by kind (a mail kind, or `webhook`)."""
    pending = GaugeMetricFamily(
        "portal_outbox_pending", "Outbox messages waiting to be sent.", labels=["kind"]
    )
    oldest = GaugeMetricFamily(
        "portal_outbox_oldest_age_seconds",
        "Age of the oldest outbox message waiting to be sent.",
        labels=["kind"],
    )
    async with sessionmaker() as session:
        rows = await session.execute(
            select(OutboxMessage.kind, func.count(), func.min(OutboxMessage.created_at))
            .where(
                OutboxMessage.sent_at.is_(None),
                OutboxMessage.attempts < settings.mail_max_attempts,
            )
            .group_by(OutboxMessage.kind)
        )
        hooks = await session.execute(
            select(literal("webhook"), func.count(), func.min(WebhookDelivery.created_at))
            .where(WebhookDelivery.status == DeliveryStatus.PENDING)
            .having(func.count() > 0)
        )
        now = clock.now()
        for kind, count, created_at in [*rows, *hooks]:
            label = str(getattr(kind, "value", kind))
            pending.add_metric([label], count)
            if created_at is not None:
                if created_at.tzinfo is None:
                    created_at = created_at.replace(tzinfo=now.tzinfo)
                oldest.add_metric([label], max(0.0, (now - created_at).total_seconds()))

    class Scraped:
        def collect(self) -> list[GaugeMetricFamily]:
            return [pending, oldest]

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Scraped())
    return generate_latest(registry)


async def exposition(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> bytes:
    """The text a scrape gets: the request metrics (of every worker in multiprocess mode) and
    the outbox read now."""
    return generate_latest(_registry()) + await _outbox(sessionmaker, settings)
