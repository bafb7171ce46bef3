"""create_app(): Starlette + lifespan (engine, outbox sender), /graphql over HTTP and WebSocket,
health and readiness probes, and the public signing keys."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hmac
import json
import logging
import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from typing import Any

import orjson
from cross_web import HTTPException
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET

import i18n
import lifecycle
from api.ratelimit import bucket_key, connection_counter
from auth.backend import authenticate, bearer_token
from auth.tokens import TokenService
from core.redis_guard import close_shared_redis, redis_guard
from mail.sender import MailSender
from models.session import HeldConnection, create_engine, create_sessionmaker
from observability import logs as log_lines
from observability import metrics, tracing
from observability import requests as observed
from resolvers.bulk_exports import downloadable
from resolvers.context import AppServices, Context
from resolvers.reading_reminders import ReadingReminderTask
from resolvers.silent_replenishment import SilentReplenishmentTask
from schema import unavailable
from schema.export_runner import ExportRunner
from schema.extensions import label_request_errors, mask_unexpected
from schema.root import schema
from schema.webhook_payloads import SchemaRenderer
from settings import Settings, get_settings
from web import ide
from webhooks.sender import WebhookSender

log = logging.getLogger("portal")


GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"


# WebSocket close code "Try Again Later" (RFC 6455 registry): the connection was refused
# because the database could not be reached, not because of the caller.
TRY_AGAIN_LATER = 1013


class TextWebSocketAdapter(ASGIWebSocketAdapter):
    """graphql-transport-ws messages are JSON in TEXT frames: strawberry sends whatever
    `encode_json` returns, and ours returns bytes (orjson, for HTTP bodies), which would go out
    as binary frames that standard clients (graphql-ws, gql) refuse. A connection refused
    during a database outage closes with 1013 (try again later) instead of strawberry's 4403."""

    async def send_json(self, message: Mapping[str, object]) -> None:
        try:
            await self.ws.send_text(orjson.dumps(message).decode())
        except WebSocketDisconnect as error:
            raise WebSocketDisconnected from error

    async def close(self, code: int, reason: str) -> None:
        if getattr(self.ws.state, "try_again_later", False):
            code, reason = TRY_AGAIN_LATER, "Service unavailable; try again later"
        await super().close(code, reason)


class PortalGraphQL(GraphQL[Context, None]):
    """Strawberry's ASGI view with our context, token checks and orjson encoding, and the
    GraphQL-over-HTTP rules: JSON POST bodies only (415), a body size limit (413), mutations
    never over GET (405), `application/graphql-response+json` with 4xx for request errors when
    the client accepts it (`application/json` and 200 otherwise), errors as JSON bodies; a
    WebSocket origin allow-list and caps on subscriptions and connections."""

    websocket_adapter_class = TextWebSocketAdapter

    def __init__(self, services: AppServices) -> None:
        settings = services.settings
        super().__init__(
            schema,
            graphql_ide="graphiql" if settings.introspection_policy != "off" else None,
            allow_queries_via_get=True,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=timedelta(seconds=10),
            max_subscriptions_per_connection=settings.max_subscriptions_per_connection,
            allowed_origins=settings.cors_origins,
        )
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope=scope, receive=receive)
        request.state.media_type = negotiate_media_type(request.headers.get("accept"))
        record = observed.start(self.services.settings, request.method)
        response: Response | None = None
        try:
            response = await self._respond(request)
            await response(scope, receive, send)
        finally:
            if record is not None:
                context = getattr(request.state, "context", None)
                observed.finish(
                    record,
                    response.status_code if response is not None else 500,
                    response.headers.get("x-request-id") if response is not None else None,
                    getattr(context, "principal", None),
                )

    async def _respond(self, request: Request) -> Response:
        try:
            await self._check_http_request(request)
            response: Response = await self.run(request)
        except HTTPException as error:
            response = self._error_response(request, error.status_code, error.reason)
        except Exception as error:  # outside any operation (reading the token): no trace out
            request_id = request.headers.get("x-request-id", "")[:64] or uuid.uuid4().hex
            if unavailable.database_unavailable(error):
                unavailable.log_outage(error, request_id, "outside an operation")
                language = i18n.negotiate(request.headers.get("accept-language")) or i18n.DEFAULT
                message = i18n.translate(unavailable.CODE, language)
                response = self._error_response(request, 503, message, request_id)
            else:
                log.exception("unexpected error (request %s) outside an operation", request_id)
                response = self._error_response(request, 500, "Unexpected error.", request_id)
        return response

    async def _check_http_request(self, request: Request) -> None:
        if request.method != "POST":
            return
        # Media types and charset names are case-insensitive; JSON is UTF-8.
        content_type = request.headers.get("content-type", "")
        if content_type != "application/json":  # (the commonest, nothing to normalise)
            media_type, *params = content_type.lower().split(";")
            charsets = {
                v.strip(' "')
                for k, _, v in (p.partition("=") for p in params)
                if k.strip() == "charset"
            }
            if media_type.strip() != "application/json" or charsets - {"utf-8", "utf8"}:
                raise HTTPException(415, "Send the operation as an application/json POST body.")
            MutableHeaders(scope=request.scope)["content-type"] = "application/json"
            del request._headers  # Starlette's cache: strawberry reads the normalised header
        limit = self.services.settings.max_body_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise HTTPException(413, f"The request body exceeds {limit} bytes.")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise HTTPException(413, f"The request body exceeds {limit} bytes.")
        request._body = bytes(body)  # Starlette's cache: strawberry reads the body from there

    def _error_response(
        self, request: Request, status: int, reason: str, request_id: str | None = None
    ) -> Response:
        extensions: dict[str, Any] = {"code": HTTP_ERROR_CODES.get(status, "BAD_REQUEST")}
        reason = localised_reason(status, reason, request, self.services.settings.max_body_bytes)
        headers = {"Allow": "POST"} if status == 405 else {}
        if status == 503:
            headers["Retry-After"] = str(unavailable.RETRY_AFTER_SECONDS)
            extensions["retryAfter"] = unavailable.RETRY_AFTER_SECONDS
        if request_id is not None:
            extensions["requestId"] = headers["X-Request-Id"] = request_id
        return Response(
            self.encode_json({"errors": [{"message": reason, "extensions": extensions}]}),
            status_code=status,
            media_type=request.state.media_type,
            headers=headers,
        )

    async def render_graphql_ide(self, request: Request) -> Response:
        """Our GraphiQL page (web/ide.py): its scripts come from this server, not a CDN."""
        return ide.page()

    def should_render_graphql_ide(self, request: Any) -> bool:
        # A GET with only `extensions` is a persisted query (APQ), not a visit to GraphiQL.
        return super().should_render_graphql_ide(request) and "extensions" not in (
            request.query_params
        )

    async def execute_single(
        self, request: Request, request_adapter: Any, *args: Any, **kwargs: Any
    ) -> Any:
        try:
            return await super().execute_single(request, request_adapter, *args, **kwargs)
        except HTTPException as error:
            if isinstance(error.__cause__, InvalidOperationTypeError) and request.method == "GET":
                raise HTTPException(405, "Mutations are only accepted over POST.") from error
            raise

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        if result.errors:
            context = getattr(request.state, "context", None)
            result.errors = label_request_errors(
                mask_unexpected(
                    result.errors,
                    getattr(context, "request_id", None),
                    getattr(context, "language", "en"),
                )
            )
        response = await super().process_result(request, result)
        errors = result.errors or []
        observed.note_result(errors, result.extensions)
        sub_response = getattr(request.state, "sub_response", None)
        media_type = request.state.media_type
        if sub_response is not None:
            sub_response.media_type = media_type
        # A request error (parse, validation, variables, cost, throttling): nothing executed.
        request_error = result.data is None and errors and all(not e.path for e in errors)
        if media_type == GRAPHQL_RESPONSE_JSON and request_error:
            response.pop("data", None)
            codes = {(e.extensions or {}).get("code") for e in errors}
            if sub_response is not None:
                sub_response.status_code = 429 if "THROTTLED" in codes else 400
        retry_after = [
            (e.extensions or {}).get("retryAfter", unavailable.RETRY_AFTER_SECONDS)
            for e in errors
            if (e.extensions or {}).get("code") == unavailable.CODE
        ]
        if sub_response is not None and retry_after:  # nothing done: retry later, any media type
            sub_response.status_code = 503
            sub_response.headers["Retry-After"] = str(max(retry_after))
        return response

    def create_response(self, response_data: Any, sub_response: Response) -> Response:
        response = super().create_response(response_data, sub_response)
        if sub_response.media_type:
            response.headers["content-type"] = sub_response.media_type
        return response

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket | None = None
    ) -> Context:
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        context = Context(
            services=self.services,
            request=request,
            response=response if isinstance(response, Response) else None,
            request_id=request_id[:64],
            accept_language=request.headers.get("accept-language"),
        )
        if isinstance(response, Response):
            response.headers["X-Request-Id"] = context.request_id
            request.state.sub_response = response
            request.state.context = context
        if isinstance(request, Request):
            token = bearer_token(request.headers.get("authorization"))
            context.principal = await self._authenticate(token)
        return context

    async def on_ws_connect(self, context: Context) -> Any:
        """The token travels in the connection_init payload (browsers cannot set headers on
        the upgrade request) or as `Authorization: Bearer` on the upgrade request (servers);
        both may be given only when they are the same token. A token given must be valid."""
        params = context.connection_params or {}
        raw = params.get("authorization") or params.get("Authorization") or params.get("token")
        token = bearer_token(raw) if isinstance(raw, str) and " " in raw else raw
        if token is not None and not isinstance(token, str):
            raise ConnectionRejectionError({"code": "UNAUTHENTICATED"})
        header = bearer_token(context.request.headers.get("authorization"))
        if header is not None and token is not None and header != token:
            raise ConnectionRejectionError({"code": "UNAUTHENTICATED"})
        token = header if token is None else token
        try:
            context.principal = await self._authenticate(token)
        except Exception as error:
            if not unavailable.database_unavailable(error):
                raise
            unavailable.log_outage(error, context.request_id, "opening a WebSocket")
            context.request.state.try_again_later = True
            raise ConnectionRejectionError({"code": unavailable.CODE}) from error
        if token is not None and context.principal.is_anonymous:
            raise ConnectionRejectionError({"code": "UNAUTHENTICATED"})
        if not context.principal.is_anonymous:
            key = bucket_key(context.principal, None)
            maximum = self.services.settings.max_ws_connections_per_user
            if not await connection_counter(self.services).acquire(key, maximum):
                raise ConnectionRejectionError({"code": "TOO_MANY_CONNECTIONS"})
            context.request.state.ws_connection_key = key
        return None

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        try:
            return await super().run(request, context, root_value)
        finally:
            if self.is_websocket_request(request):
                key = getattr(request.state, "ws_connection_key", None)
                if key is not None:
                    await connection_counter(self.services).release(key)

    async def _authenticate(self, token: str | None) -> Any:
        return await authenticate(token, self.services.tokens, self.services.sessionmaker)

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    def decode_json(self, data: str | bytes) -> object:
        """A request is a JSON object (or a list: a batch, refused unless enabled); anything
        else is as malformed as broken JSON (400), never an exception further on."""
        decoded = orjson.loads(data)
        if not isinstance(decoded, dict | list):
            raise json.JSONDecodeError("expected a JSON object", "", 0)
        return decoded


HTTP_ERROR_CODES = {
    400: "BAD_REQUEST",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    500: "INTERNAL",
    503: "SERVICE_UNAVAILABLE",
}


# Refusals worded by strawberry or by this module -> message codes (i18n.py).
HTTP_MESSAGES = {
    "Unable to parse request body as JSON": "HTTP_BAD_JSON",
    "No GraphQL query found in the request": "HTTP_NO_QUERY",
    "Batching is not enabled": "HTTP_NO_BATCH",
    "Mutations are only accepted over POST.": "HTTP_METHOD_NOT_ALLOWED",
    "Send the operation as an application/json POST body.": "HTTP_UNSUPPORTED_MEDIA_TYPE",
    "Unexpected error.": "INTERNAL",
}


def localised_reason(status: int, reason: str, request: Request, limit: int) -> str:
    """An HTTP refusal in the caller's language (Accept-Language; English otherwise)."""
    code = "HTTP_PAYLOAD_TOO_LARGE" if status == 413 else HTTP_MESSAGES.get(reason)
    if code is None:
        return reason
    language = i18n.negotiate(request.headers.get("accept-language")) or i18n.DEFAULT
    return i18n.translate(code, language, limit=limit)


def negotiate_media_type(accept: str | None) -> str:
    """`application/graphql-response+json` when the client accepts it at least as much as
    `application/json`; `application/json` otherwise (also for no or an unusable header)."""
    qualities: dict[str, float] = {}
    for part in (accept or "").split(","):
        media, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        qualities[media.strip().lower()] = quality
    graphql_response = qualities.get(GRAPHQL_RESPONSE_JSON, 0.0)
    json = max(qualities.get("application/json", 0.0), qualities.get("*/*", 0.0))
    if graphql_response > 0 and graphql_response >= json:
        return GRAPHQL_RESPONSE_JSON
    return "application/json"


def settle_heap() -> None:
    """What is alive once the app is up (modules, the schema, table metadata, compiled
    statements) lives as long as the process: frozen out of the collector's generations, it is
    not walked again by every full collection a request's garbage triggers (about a quarter of
    a dashboard request's CPU time, `bench/README.md`)."""
    gc.collect()
    gc.freeze()


def create_app(
    settings: Settings | None = None,
    *,
    sessionmaker: async_sessionmaker[AsyncSession] | None = None,
) -> Starlette:
    settings = settings or get_settings()
    tracing.configure_from_env()  # OTEL_EXPORTER_OTLP_ENDPOINT; nothing installed otherwise
    engine = None
    if sessionmaker is None:
        engine = create_engine(settings)
        sessionmaker = create_sessionmaker(engine)
        tracing.instrument_engine(engine)
        if settings.metrics_token:
            metrics.watch_pool(engine)
    services = AppServices(
        settings=settings, sessionmaker=sessionmaker, tokens=TokenService(settings)
    )
    graphql_app = PortalGraphQL(services)
    drain = lifecycle.Drain(settings.shutdown_delay_seconds)

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(_: Request) -> Response:
        """503 "draining" once the worker is shutting down, and while the database is
        unreachable; 200 otherwise, with `status` "ready", or "degraded" while Redis is
        configured but unavailable (in-process fallbacks serve)."""
        if drain.draining:
            return JSONResponse({"status": "draining"}, status_code=503)
        try:
            async with services.sessionmaker() as session:
                await session.execute(text("SELECT 1"))
        except Exception as error:
            log.warning("readiness check failed: %s: %s", type(error).__name__, error)
            return JSONResponse(
                {"status": "unavailable", "database": "unavailable"},
                status_code=503,
                headers={"Retry-After": str(unavailable.RETRY_AFTER_SECONDS)},
            )
        body = {"status": "ready", "database": "ok"}
        if settings.redis_url:
            if await redis_guard(services).check():
                body["redis"] = "ok"
            else:
                body.update(status="degraded", redis="unavailable")
        return JSONResponse(body)

    async def metrics_endpoint(request: Request) -> Response:
        """Prometheus text; 404 unless METRICS_TOKEN is set, 401 without that bearer token."""
        if not settings.metrics_token:
            return PlainTextResponse("Not Found", status_code=404)
        given = bearer_token(request.headers.get("authorization")) or ""
        if not hmac.compare_digest(given.encode(), settings.metrics_token.encode()):
            return PlainTextResponse(
                "Unauthorized", status_code=401, headers={"WWW-Authenticate": "Bearer"}
            )
        body = await metrics.exposition(services.sessionmaker, settings)
        return Response(body, media_type=metrics.CONTENT_TYPE)

    async def download_export(request: Request) -> Response:
        """A bulk export's file, for a URL signed by `bulkExport.url` and not yet expired."""
        async with services.sessionmaker() as session:
            path = await downloadable(
                session,
                settings,
                request.path_params["export_id"],
                request.query_params.get("expires", ""),
                request.query_params.get("signature", ""),
            )
        if path is None:
            return PlainTextResponse("Not Found", status_code=404)
        name = f"export-{request.path_params['export_id']}.jsonl.gz"
        return FileResponse(path, media_type="application/gzip", filename=name)

    async def jwks(_: Request) -> Response:
        return JSONResponse(services.tokens.public_jwks())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        sender = (
            MailSender(services.sessionmaker, settings) if settings.mail_sender_enabled else None
        )
        if sender is not None:
            sender.start()
        reminders = (
            ReadingReminderTask(services.sessionmaker, settings)
            if settings.reading_reminders_enabled
            else None
        )
        if reminders is not None:
            reminders.start()
        silent = (
            SilentReplenishmentTask(services.sessionmaker, settings)
            if settings.silent_replenishment_enabled
            else None
        )
        if silent is not None:
            silent.start()
        hooks = (
            WebhookSender(services.sessionmaker, settings, SchemaRenderer(services))
            if settings.webhook_sender_enabled
            else None
        )
        if hooks is not None:
            hooks.start()
        exports = ExportRunner(services) if settings.bulk_export_worker_enabled else None
        if exports is not None:
            exports.start()
        if settings.log_format == "json":
            log_lines.configure_json_logging()
        drain.install()  # SIGTERM: /readyz 503 "draining", then uvicorn's graceful shutdown
        if services.engine is not None and services.engine.dialect.name != "sqlite":
            services.held = HeldConnection(services.engine)  # known viewers' scope versions
        settle_heap()
        try:
            yield
        finally:
            drain.uninstall()
            held, services.held = services.held, None
            if held is not None:
                await held.close()
            await close_shared_redis(services)  # rate limits, persisted queries
            broker = services.extras.pop("ticket_broker", None)  # live ticket updates
            if broker is not None:
                await broker.stop()
            if reminders is not None:
                await reminders.stop()
            if silent is not None:
                await silent.stop()
            if sender is not None:
                await sender.stop()
            if hooks is not None:
                await hooks.stop()
            if exports is not None:
                await exports.stop()
            if engine is not None:
                await engine.dispose()
            await asyncio.to_thread(tracing.flush)  # spans still batched, before the exit

    cors = Middleware(
        CORSMiddleware,
        allow_origins=list(settings.cors_origins),
        allow_methods=["GET", "POST"],
        allow_headers=[
            "Authorization",
            "Content-Type",
            "Accept",
            "Accept-Language",
            "X-Request-Id",
        ],
        expose_headers=[
            "Retry-After",
            "X-Request-Id",
            "X-RateLimit-Limit",
            "X-RateLimit-Remaining",
            "X-RateLimit-Reset",
            "X-Query-Cost",
        ],
        max_age=600,
    )
    traced = [Middleware(tracing.TracingMiddleware)] if tracing.enabled() else []
    app = Starlette(
        middleware=[*traced, cors],
        routes=[
            Route("/graphql", graphql_app, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql_app),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_endpoint),
            Route("/.well-known/jwks.json", jwks),
            # GraphiQL's scripts and styles (web/ide.py), served with the IDE only
            *([Route("/graphiql/{name}", ide.asset)] if graphql_app.graphql_ide else []),
            Route("/exports/{export_id}", download_export),
        ],
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.drain = drain
    return app
