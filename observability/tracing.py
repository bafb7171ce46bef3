"""OpenTelemetry traces, exported over OTLP (http/protobuf) when `OTEL_EXPORTER_OTLP_ENDPOINT`
is set; otherwise nothing is installed and nothing is traced.

A trace of a GraphQL HTTP request: a server span per request (`TracingMiddleware`, continuing
the client's W3C `traceparent`), under it a span per GraphQL operation (`RequestObserver` in
requests.py opens it; name, type, the caller's kind and roles, cost, error codes and outcome are
set on it), under that a span per SQL statement (the SQLAlchemy instrumentation on the app's
engine), per Redis command (the Redis instrumentation, arguments replaced by `?`) and per SMTP
delivery (mail/sender.py). What goes on a span is chosen attribute by attribute: never variables,
the query text, the URL's query string, tokens or passwords.

`inject` writes the current trace context into a headers dict, for outgoing calls (webhook
deliveries) that should continue the trace of the request that caused them.

The spans of this module and of the instrumentations come from the global tracer provider; the
tests install one with an in-memory exporter (`install`)."""

from __future__ import annotations

import os
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

TRACER_NAME = "portal"
SERVICE_NAME = "selfservice-portal-api"
# Probes and scrapes arrive every few seconds and say nothing about a request: not traced.
UNTRACED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
# Codes of faults on our side: the operation span's status is ERROR (a client's mistake, a
# refusal or a throttle is not an error of the service).
SERVER_FAULTS = frozenset({"INTERNAL", "SERVICE_UNAVAILABLE"})

_PROPAGATOR = TraceContextTextMapPropagator()  # W3C traceparent / tracestate, no baggage
_enabled = False
_instrumented_engines: list[Any] = []


def enabled() -> bool:
    return _enabled


def _tracer() -> trace.Tracer:
    return trace.get_tracer(TRACER_NAME)


def configure_from_env() -> bool:
    """Installs the OTLP exporter when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (once per process;
    the exporter reads the standard `OTEL_EXPORTER_OTLP_*` variables, `OTEL_SERVICE_NAME` and
    `OTEL_RESOURCE_ATTRIBUTES`). Returns whether tracing is on."""
    if _enabled:
        return True
    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create(
        {"service.name": os.environ.get("OTEL_SERVICE_NAME") or SERVICE_NAME}
    )
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    install(provider)
    return True


def install(provider: Any) -> None:
    """Makes `provider` the global tracer provider (OpenTelemetry allows this once per process;
    later calls keep the first) and turns tracing on: the Redis client is instrumented, apps
    created from now on trace their requests and their engine's statements."""
    global _enabled
    if not isinstance(trace.get_tracer_provider(), type(provider)):
        trace.set_tracer_provider(provider)
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    RedisInstrumentor().instrument()
    _enabled = True


def flush(timeout_seconds: float = 5.0) -> None:
    """Sends the spans still batched (the app's shutdown: a worker ended by SIGTERM runs no
    exit hooks, and the spans of its last seconds would be lost)."""
    if not _enabled:
        return
    force_flush = getattr(trace.get_tracer_provider(), "force_flush", None)
    if force_flush is not None:
        force_flush(int(timeout_seconds * 1000))


def uninstall() -> None:
    """Turns tracing off again (tests): instrumentations removed, new apps untraced."""
    global _enabled
    if not _enabled:
        return
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    RedisInstrumentor().uninstrument()
    if _instrumented_engines:
        SQLAlchemyInstrumentor().uninstrument()
        _instrumented_engines.clear()
    _enabled = False


def instrument_engine(engine: AsyncEngine | Any) -> None:
    """A span per SQL statement sent through `engine` (statement text with its placeholders,
    never the parameters)."""
    if not _enabled:
        return
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    sync_engine = getattr(engine, "sync_engine", engine)
    if any(known is sync_engine for known in _instrumented_engines):
        return
    instrumentor = SQLAlchemyInstrumentor()
    if _instrumented_engines:  # one instrumentor per process, instrumented once: redo it
        instrumentor.uninstrument()
    _instrumented_engines.append(sync_engine)
    # skip_dep_check: the instrumentation declares SQLAlchemy < 2.1; the engine events it uses
    # are the same in 2.1 (tests/observability/test_traces.py asserts the statement spans)
    instrumentor.instrument(engines=list(_instrumented_engines), skip_dep_check=True)


def inject(headers: dict[str, str]) -> dict[str, str]:
    """Adds the current trace context (`traceparent`, `tracestate`) to `headers` and returns it;
    unchanged when no span is being recorded. For an outgoing call made now, or stored with a
    delivery made later (a webhook) so that it continues this request's trace."""
    if _enabled:
        _PROPAGATOR.inject(headers)
    return headers


# --- the HTTP request's span ----------------------------------------------------------------


class TracingMiddleware:
    """One SERVER span per HTTP request (not the probes nor the scrape), continuing a client's
    W3C `traceparent`. Attributes: method, route, status code, the request id; never the query
    string (a GET operation carries its variables there) nor any other header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _enabled or scope.get("path") in UNTRACED_PATHS:
            await self.app(scope, receive, send)
            return
        carrier = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in scope.get("headers") or ()
            if name in (b"traceparent", b"tracestate")
        }
        parent = _PROPAGATOR.extract(carrier) if carrier else None
        method = scope.get("method", "GET")
        path = scope.get("path", "")
        span = _tracer().start_span(
            f"{method} {path}",
            context=parent,
            kind=SpanKind.SERVER,
            attributes={
                "http.request.method": method,
                "http.route": path,
                "url.path": path,
                "url.scheme": scope.get("scheme", "http"),
            },
        )
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                span.set_attribute("http.response.status_code", status)
                for name, value in message.get("headers") or ():
                    if name.lower() == b"x-request-id":
                        span.set_attribute("portal.request_id", value.decode("latin-1"))
            await send(message)

        try:
            with trace.use_span(span, end_on_exit=False, record_exception=False):
                await self.app(scope, receive, sending)
        except BaseException as error:
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
            raise
        else:
            if status >= 500:
                span.set_status(Status(StatusCode.ERROR))
        finally:
            span.end()


# --- the GraphQL operation's span -----------------------------------------------------------


class OperationSpan:
    """The span of one GraphQL operation, current while the operation runs (so its SQL, Redis
    and mail spans are its children); ended by `end` once its result is known."""

    def __init__(self) -> None:
        self.span: Span = _tracer().start_span("GraphQL operation", kind=SpanKind.INTERNAL)
        self._token: object | None = otel_context.attach(trace.set_span_in_context(self.span))
        self.ended = False

    def leave(self) -> None:
        """The operation is over: the span stops being the current one (still open)."""
        if self._token is not None:
            otel_context.detach(self._token)  # type: ignore[arg-type]
            self._token = None

    def name(self, operation_type: str | None, operation_name: str | None) -> None:
        attributes: dict[str, Any] = {}
        if operation_type:
            attributes["graphql.operation.type"] = operation_type
        if operation_name:
            attributes["graphql.operation.name"] = operation_name
        self.span.set_attributes(attributes)
        if operation_type:
            self.span.update_name(f"{operation_type} {operation_name or ''}".strip())

    def caller(self, context: Any) -> None:
        self.span.set_attributes(caller_attributes(context))

    def result(
        self,
        error_codes: list[str],
        outcome: str | None,
        requested_cost: int | None,
        actual_cost: int | None,
    ) -> None:
        attributes: dict[str, Any] = {"portal.graphql.error_codes": list(error_codes)}
        if outcome is not None:
            attributes["portal.graphql.outcome"] = outcome
        if requested_cost is not None:
            attributes["portal.graphql.cost.requested"] = requested_cost
        if actual_cost is not None:
            attributes["portal.graphql.cost.actual"] = actual_cost
        self.span.set_attributes(attributes)
        faults = sorted(SERVER_FAULTS.intersection(error_codes))
        if faults:
            self.span.set_status(Status(StatusCode.ERROR, ",".join(faults)))

    def end(self) -> None:
        self.leave()
        if not self.ended:
            self.ended = True
            self.span.end()


def caller_attributes(context: Any) -> dict[str, Any]:
    """Who called, from the operation's context: `portal.caller.kind` is `agent`, `customer`
    (a user of a customer account, with `portal.caller.roles`), `client` (a machine client),
    `anonymous`, or `user` when the operation never needed to look the user up; `enduser.id`
    the user's or client's id (`user:<id>`, `client:<id>`). Read duck-typed, below the layer
    that defines the context."""
    principal = getattr(context, "principal", None)
    if principal is None:
        return {}
    attributes: dict[str, Any] = {}
    if principal.user_id is not None:
        attributes["enduser.id"] = f"user:{principal.user_id}"
    elif principal.api_client_id is not None:
        attributes["enduser.id"] = f"client:{principal.api_client_id}"
    scope = getattr(context, "settled_scope", None)
    if scope is not None and getattr(scope, "user", None) is not None:
        # Read from the scope, never from the user row: after a refused mutation's rollback
        # the row is expired, and loading it again is I/O this synchronous hook cannot do.
        if scope.global_permissions:  # only an agent holds permissions globally
            attributes["portal.caller.kind"] = "agent"
        else:
            attributes["portal.caller.kind"] = "customer"
            roles = sorted({str(getattr(g.role, "value", g.role)) for g in scope.grants})
            attributes["portal.caller.roles"] = roles
    elif principal.api_client_id is not None:
        attributes["portal.caller.kind"] = "client"
    elif principal.user_id is not None:
        attributes["portal.caller.kind"] = "user"
    else:
        attributes["portal.caller.kind"] = "anonymous"
    return attributes


def current_trace_id() -> str | None:
    """The current trace's id in hex (for correlating a log line), None when not tracing."""
    span_context = trace.get_current_span().get_span_context()
    return format(span_context.trace_id, "032x") if span_context.is_valid else None
