"""create_app(): Starlette + lifespan (engine, outbox sender), /graphql over HTTP and WebSocket,
health and readiness probes, and the public signing keys."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from auth.backend import authenticate, bearer_token
from auth.tokens import TokenService
from mail.sender import MailSender
from models.session import create_engine, create_sessionmaker
from schema import schema
from schema.context import AppServices, Context
from settings import Settings, get_settings

log = logging.getLogger("portal")


class PortalGraphQL(GraphQL[Context, None]):
    """Strawberry's ASGI view with our context, token checks and orjson encoding."""

    def __init__(self, services: AppServices) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql",
            allow_queries_via_get=True,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=timedelta(seconds=10),
        )
        self.services = services

    async def get_context(  # type: ignore[override]
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
        if isinstance(request, Request):
            token = bearer_token(request.headers.get("authorization"))
            context.principal = await self._authenticate(token)
        return context

    async def on_ws_connect(self, context: Context) -> Any:
        """The token travels in the connection_init payload (browsers cannot set headers)."""
        params = context.connection_params or {}
        raw = params.get("authorization") or params.get("Authorization") or params.get("token")
        token = bearer_token(raw) if isinstance(raw, str) and " " in raw else raw
        if token is not None and not isinstance(token, str):
            raise ConnectionRejectionError({"code": "UNAUTHENTICATED"})
        context.principal = await self._authenticate(token)
        if token is not None and context.principal.is_anonymous:
            raise ConnectionRejectionError({"code": "UNAUTHENTICATED"})
        return None

    async def _authenticate(self, token: str | None) -> Any:
        if token is None:
            return await authenticate(None, self.services.tokens, None)  # type: ignore[arg-type]
        async with self.services.sessionmaker() as session:
            return await authenticate(token, self.services.tokens, session)

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)


def create_app(
    settings: Settings | None = None,
    *,
    sessionmaker: async_sessionmaker[AsyncSession] | None = None,
) -> Starlette:
    settings = settings or get_settings()
    engine = None
    if sessionmaker is None:
        engine = create_engine(settings)
        sessionmaker = create_sessionmaker(engine)
    services = AppServices(
        settings=settings, sessionmaker=sessionmaker, tokens=TokenService(settings)
    )
    graphql_app = PortalGraphQL(services)

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(_: Request) -> Response:
        try:
            async with services.sessionmaker() as session:
                await session.execute(text("SELECT 1"))
        except Exception:
            log.warning("readiness check failed", exc_info=True)
            return PlainTextResponse("database unavailable", status_code=503)
        return PlainTextResponse("ready")

    async def jwks(_: Request) -> Response:
        return JSONResponse(services.tokens.public_jwks())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        sender = MailSender(services.sessionmaker, settings) if settings.mail_sender_enabled else None
        if sender is not None:
            sender.start()
        try:
            yield
        finally:
            broker = services.extras.pop("ticket_broker", None)  # live ticket updates
            if broker is not None:
                await broker.stop()
            if sender is not None:
                await sender.stop()
            if engine is not None:
                await engine.dispose()

    app = Starlette(
        routes=[
            Route("/graphql", graphql_app, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql_app),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/.well-known/jwks.json", jwks),
        ],
        lifespan=lifespan,
    )
    app.state.services = services
    return app
