"""One record per GraphQL HTTP request, kept in a context variable while the request runs:
the view fills in the status, the caller and the result (error codes, cost), `RequestObserver`
the operation, and a SQLAlchemy listener counts the statements sent on its behalf. When the
request ends the record becomes a JSON log line (`LOG_FORMAT=json`) and metrics
(`METRICS_TOKEN`); with both off nothing is recorded. Never holds variables or tokens."""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from graphql import GraphQLError, OperationType, get_operation_ast
from sqlalchemy import event
from sqlalchemy.engine import Engine
from strawberry.extensions import SchemaExtension

from observability import logs, metrics

if TYPE_CHECKING:
    from auth.principal import Principal
    from settings import Settings


@dataclass
class RequestRecord:
    log_json: bool
    metrics: bool
    method: str
    started: float = field(default_factory=time.perf_counter)
    request_id: str | None = None
    caller: str = "anonymous"  # "anonymous", "user:<id>" or "client:<id>"
    operation_name: str | None = None
    operation_type: str | None = None
    status: int = 0
    requested_cost: int | None = None
    actual_cost: int | None = None
    error_codes: list[str] = field(default_factory=list)
    executed: bool = False  # some field ran (an error with a path)
    statements: int = 0
    duration_ms: float = 0.0

    @property
    def caller_kind(self) -> str:
        return self.caller.partition(":")[0]

    @property
    def outcome(self) -> str:
        """ok | error (executed, some fields failed) | refused (nothing executed: parse,
        validation, cost, HTTP rules) | throttled."""
        if "THROTTLED" in self.error_codes:
            return "throttled"
        if self.status >= 400 and not self.error_codes:
            return "refused"
        if not self.error_codes:
            return "ok"
        return "error" if self.executed else "refused"

    def fields(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "caller": self.caller,
            "method": self.method,
            "operation_name": self.operation_name,
            "operation_type": self.operation_type,
            "status": self.status,
            "outcome": self.outcome,
            "requested_cost": self.requested_cost,
            "actual_cost": self.actual_cost,
            "error_codes": self.error_codes,
            "sql_statements": self.statements,
            "duration_ms": round(self.duration_ms, 2),
        }


CURRENT: contextvars.ContextVar[RequestRecord | None] = contextvars.ContextVar(
    "portal_request_record", default=None
)


def start(settings: Settings, method: str) -> contextvars.Token[RequestRecord | None] | None:
    """Begins the record of an HTTP request (None when logs and metrics are both off)."""
    log_json = settings.log_format == "json"
    with_metrics = bool(settings.metrics_token)
    if not (log_json or with_metrics):
        return None
    return CURRENT.set(RequestRecord(log_json=log_json, metrics=with_metrics, method=method))


def note_result(errors: list[GraphQLError] | None, extensions: dict[str, Any] | None) -> None:
    """The final errors (masked, labelled) and the cost the API protection computed."""
    record = CURRENT.get()
    if record is None:
        return
    record.error_codes = sorted(
        {str((e.extensions or {}).get("code") or "UNKNOWN") for e in errors or ()}
    )
    record.executed = any(e.path for e in errors or ())
    cost = (extensions or {}).get("cost") or {}
    record.requested_cost = cost.get("requestedQueryCost")
    record.actual_cost = cost.get("actualQueryCost")


def finish(
    token: contextvars.Token[RequestRecord | None] | None,
    status: int,
    request_id: str | None,
    principal: Principal | None,
) -> None:
    if token is None:
        return
    record = CURRENT.get()
    CURRENT.reset(token)
    if record is None:
        return
    record.duration_ms = (time.perf_counter() - record.started) * 1000
    record.status = status
    record.request_id = request_id
    if principal is not None and principal.user_id is not None:
        record.caller = f"user:{principal.user_id}"
    elif principal is not None and principal.api_client_id is not None:
        record.caller = f"client:{principal.api_client_id}"
    if record.log_json:
        logs.log_request(record.fields())
    if record.metrics:
        metrics.observe_request(record)


class RequestObserver(SchemaExtension):
    """Names the operation of the current request's record (the document's own name, never the
    client's free text) and, over WebSocket, keeps the open-subscriptions gauge."""

    subscription = False

    def on_operation(self) -> Iterator[None]:
        try:
            yield  # a subscription's operation lasts as long as its stream
        finally:
            if self.subscription:
                metrics.SUBSCRIPTIONS.dec()
            record = CURRENT.get()
            ctx = self.execution_context
            if record is not None and ctx.graphql_document is not None:
                operation = get_operation_ast(ctx.graphql_document, ctx.operation_name)
                if operation is not None:
                    record.operation_type = operation.operation.value
                    record.operation_name = operation.name.value if operation.name else None

    def on_execute(self) -> Iterator[None]:
        ctx = self.execution_context
        settings = getattr(ctx.context, "settings", None)
        if (
            settings is not None
            and settings.metrics_token
            and CURRENT.get() is None  # not an HTTP request
            and ctx.graphql_document is not None
        ):
            operation = get_operation_ast(ctx.graphql_document, ctx.operation_name)
            if operation is not None and operation.operation == OperationType.SUBSCRIPTION:
                self.subscription = True
                metrics.SUBSCRIPTIONS.inc()
        yield


@event.listens_for(Engine, "before_cursor_execute")
def _count_statement(*_: Any) -> None:
    record = CURRENT.get()
    if record is not None:
        record.statements += 1
