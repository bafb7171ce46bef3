"""The typed per-request context (`info.context` in the schema, the first argument of the
resolvers): one database session per operation, per-request loaders,
the caller, and the viewer's scope (computed once, on first use)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import cached_property, partial
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

import i18n
from auth.principal import ANONYMOUS, Principal
from auth.requirements import Audience
from auth.tokens import CLOCK_LEEWAY_SECONDS
from core import clock
from core.errors import Unauthenticated
from models.session import HeldConnection, read_outside_transaction
from resolvers.loaders import Loaders
from resolvers.scoping import Scope, ScopeCache
from settings import Settings

if TYPE_CHECKING:
    from auth.tokens import TokenService


@dataclass
class AppServices:
    """Process-wide services shared by requests (no request state lives here)."""

    settings: Settings
    sessionmaker: async_sessionmaker[AsyncSession]
    tokens: TokenService
    extras: dict[str, Any] = field(default_factory=dict)
    # People's scopes, used again while their versions hold (see resolvers.scoping).
    scopes: ScopeCache = field(default_factory=ScopeCache)

    # While the app runs on PostgreSQL (its lifespan): the connection the per-request reads
    # outside any transaction are made on.
    held: HeldConnection | None = None

    @property
    def engine(self) -> AsyncEngine | None:
        """The engine sessions are made from; None when they are bound to one connection (the
        tests' rolled-back transaction: what is written is only seen on that connection)."""
        bind = self.sessionmaker.kw.get("bind")
        return bind if isinstance(bind, AsyncEngine) else None

    @property
    def read_outside(self) -> Callable[[Any, dict[str, Any]], Awaitable[Any]] | None:
        """How a small read outside any transaction is made (its first row): on the held
        connection while there is one, else on a connection from the pool; None when sessions
        are bound to one connection (read in the session)."""
        if self.held is not None:
            return self.held.first
        engine = self.engine
        return None if engine is None else partial(read_outside_transaction, engine)


@dataclass
class Context:
    services: AppServices
    request: Request | WebSocket
    response: Response | None
    request_id: str
    principal: Principal = ANONYMOUS
    accept_language: str | None = None
    connection_params: dict[str, Any] | None = None
    _session: AsyncSession | None = None
    _scope_task: asyncio.Future[Scope] | None = None
    _loaders: Loaders | None = None
    # The viewer's language, read once while the user row is fresh: after a rollback the row
    # is expired (and the session maybe closed) while errors are still being worded.
    _user_language: str | None = None

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            self._session = self.services.sessionmaker()
        return self._session

    @property
    def loaders(self) -> Loaders:
        if self._loaders is None:
            self._loaders = Loaders(self)
        return self._loaders

    async def scope(self) -> Scope:
        """Shared by every resolver of the operation, however many ask at once."""
        expires_at = self.principal.token_expires_at
        if expires_at is not None and expires_at + CLOCK_LEEWAY_SECONDS <= clock.timestamp():
            # A WebSocket connection outlives its access token: from then on it is anonymous.
            self.principal = Principal(token_problem="TOKEN_EXPIRED")
            self._scope_task = None
        if self._scope_task is None:
            if self.principal.is_anonymous:
                # nothing to read: no session is opened (and closed) for an anonymous caller
                settled: asyncio.Future[Scope] = asyncio.get_running_loop().create_future()
                settled.set_result(Scope(principal=self.principal))
                self._scope_task = settled
            else:
                self._scope_task = asyncio.ensure_future(
                    self.services.scopes.scope(
                        self.principal, lambda: self.session, self.services.read_outside
                    )
                )
            self._user_language = None
        scope = await self._scope_task
        if self._user_language is None and scope.user is not None:
            self._user_language = scope.user.language
        return scope

    def scope_now(self) -> Scope | None:
        """What `await self.scope()` would return, when it is there without waiting: computed
        already and still valid (None otherwise: then await `scope()`). Lets a field that only
        needs the scope decide synchronously."""
        expires_at = self.principal.token_expires_at
        if expires_at is not None and expires_at + CLOCK_LEEWAY_SECONDS <= clock.timestamp():
            return None  # `scope()` turns the caller anonymous first
        scope = self.settled_scope
        if scope is not None and self._user_language is None and scope.user is not None:
            self._user_language = scope.user.language
        return scope

    async def audience(self) -> Audience:
        """Which schema this caller gets (read once per operation, with the scope)."""
        return (await self.scope()).audience

    @property
    def settled_scope(self) -> Scope | None:
        """The viewer's scope if this operation has already computed it (never queries): who
        called, for the operation's trace span."""
        task = self._scope_task
        if task is None or not task.done() or task.cancelled() or task.exception() is not None:
            return None
        return task.result()

    async def require_scope(self) -> Scope:
        scope = await self.scope()
        if not scope.is_authenticated:
            # a coarse reason code, never a detail; a valid token of a user who is gone or
            # deactivated names no one we know
            problem = self.principal.token_problem or (
                None if self.principal.is_anonymous else "UNKNOWN_IDENTITY"
            )
            extra: dict[str, Any] = {"reason": problem} if problem else {}
            raise Unauthenticated(language=self.language, **extra)
        return scope

    @cached_property
    def header_language(self) -> str | None:
        return i18n.negotiate(self.accept_language)

    @property
    def language(self) -> str:
        if self.header_language:
            return self.header_language
        if self._user_language is not None and self._user_language in i18n.SUPPORTED:
            return self._user_language
        return self.settings.default_language

    async def close_operation(self) -> None:
        """Ends the operation's session and its loaders' caches (a WebSocket connection runs
        many operations over one context; each must read fresh data)."""
        session, self._session = self._session, None
        self._loaders = None
        if session is not None:
            await session.close()
