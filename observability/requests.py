"""One record per GraphQL HTTP request, kept in a context variable while the request runs:
the view fills in the status, the caller and the result (error codes, cost), `RequestObserver`
the operation, and a SQLAlchemy listener counts the statements sent on its behalf. When the
request ends the record becomes a JSON log line (`LOG_FORMAT=json`), metrics (`METRICS_TOKEN`)
and the attributes of the operation's span (tracing.py, `OTEL_EXPORTER_OTLP_ENDPOINT`); with all
three off nothing is recorded. Never holds variables or tokens."""

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

from observability import logs, metrics, tracing

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
    trace_id: str | None = None
    operation_span: tracing.OperationSpan | None = None

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
        } | ({"trace_id": self.trace_id} if self.trace_id else {})


CURRENT: contextvars.ContextVar[RequestRecord | None] = contextvars.ContextVar(
    "portal_request_record", default=None
)


def start(settings: Settings, method: str) -> contextvars.Token[RequestRecord | None] | None:
    """Begins the record of an HTTP request (None when logs, metrics and traces are all off)."""
    log_json = settings.log_format == "json"
    with_metrics = bool(settings.metrics_token)
    traced = tracing.enabled()
    if not (log_json or with_metrics or traced):
        return None
    record = RequestRecord(log_json=log_json, metrics=with_metrics, method=method)
    if traced:
        record.trace_id = tracing.current_trace_id()
    return CURRENT.set(record)


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
    span = record.operation_span
    if span is not None:
        span.result(record.error_codes, record.outcome, record.requested_cost, record.actual_cost)
        span.end()


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
    if record.operation_span is not None:
        record.operation_span.end()  # no result noted (the request failed on the way out)
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
    client's free text), opens the operation's span while tracing (ended with the HTTP result
    in `note_result`, or here over WebSocket) and, over WebSocket, keeps the
    open-subscriptions gauge."""

    subscription = False

    def on_operation(self) -> Iterator[None]:
        span = tracing.OperationSpan() if tracing.enabled() else None
        try:
            yield  # a subscription's operation lasts as long as its stream
        finally:
            if self.subscription:
                metrics.SUBSCRIPTIONS.dec()
            record = CURRENT.get()
            ctx = self.execution_context
            operation_type = operation_name = None
            if (record is not None or span is not None) and ctx.graphql_document is not None:
                operation = get_operation_ast(ctx.graphql_document, ctx.operation_name)
                if operation is not None:
                    operation_type = operation.operation.value
                    operation_name = operation.name.value if operation.name else None
            if record is not None:
                record.operation_type = operation_type
                record.operation_name = operation_name
            if span is not None:
                span.name(operation_type, operation_name)
                span.caller(ctx.context)
                if record is not None:  # HTTP: the result is known once the response is built
                    record.operation_span = span
                    span.leave()
                else:
                    self._end_websocket_operation(span)

    def _end_websocket_operation(self, span: tracing.OperationSpan) -> None:
        result = self.execution_context.result
        errors = getattr(result, "errors", None) or []
        codes = sorted({str((e.extensions or {}).get("code") or "UNKNOWN") for e in errors})
        span.result(codes, None, None, None)
        span.end()

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
