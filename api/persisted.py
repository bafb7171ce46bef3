"""Persisted queries: the Apollo APQ protocol, and a production mode that accepts only
registered operations.

APQ: a client sends `extensions.persistedQuery = {version: 1, sha256Hash}` without the query;
an unknown hash answers `PersistedQueryNotFound` (code `PERSISTED_QUERY_NOT_FOUND`), the client
sends the query with its hash once, and the server keeps it (in Redis when `REDIS_URL` is set,
so every worker knows it; otherwise in a bounded in-process LRU).

With `PERSISTED_QUERIES_ONLY`, only the operations of the allow-list file
(`PERSISTED_QUERIES_FILE`: `{"<sha256>": "<query>", ...}` or an Apollo persisted-query
manifest `{"operations": [{"body": "..."}, ...]}`) are accepted, by hash or by text; APQ
registration is off."""

from __future__ import annotations

import hashlib
import json
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from core.redis_guard import RedisGuard, redis_guard, shared_redis

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from resolvers.context import AppServices

log = logging.getLogger("portal.persisted")

_STORE_KEY = "protection.persisted_queries"
_ALLOW_LIST_KEY = "protection.allow_list"
NOT_FOUND = "PersistedQueryNotFound"
MAX_STORED_QUERY_CHARS = 100_000


def query_hash(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()


class QueryStore(Protocol):
    async def get(self, sha256: str) -> str | None: ...

    async def put(self, sha256: str, query: str) -> None: ...


class MemoryQueryStore:
    def __init__(self, max_entries: int = 1000) -> None:
        self.max_entries = max_entries
        self._queries: OrderedDict[str, str] = OrderedDict()

    async def get(self, sha256: str) -> str | None:
        query = self._queries.get(sha256)
        if query is not None:
            self._queries.move_to_end(sha256)
        return query

    async def put(self, sha256: str, query: str) -> None:
        self._queries[sha256] = query
        self._queries.move_to_end(sha256)
        while len(self._queries) > self.max_entries:
            self._queries.popitem(last=False)


class RedisQueryStore:
    """Shared by the workers; while the Redis breaker is open, an in-process LRU stands in."""

    def __init__(
        self,
        redis: Redis,
        prefix: str = "portal:apq:",
        ttl_seconds: int = 7 * 24 * 3600,
        guard: RedisGuard | None = None,
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.ttl_seconds = ttl_seconds
        self.guard = guard or RedisGuard()
        self.local = MemoryQueryStore()

    async def get(self, sha256: str) -> str | None:
        async def shared() -> str | None:
            raw = await self.redis.get(self.prefix + sha256)
            return raw.decode() if isinstance(raw, bytes) else raw

        return await self.guard.call(shared, lambda: self.local.get(sha256))

    async def put(self, sha256: str, query: str) -> None:
        async def shared() -> None:
            await self.redis.set(self.prefix + sha256, query, ex=self.ttl_seconds)

        await self.guard.call(shared, lambda: self.local.put(sha256, query))


def query_store(services: AppServices) -> QueryStore:
    store: QueryStore | None = services.extras.get(_STORE_KEY)
    if store is None:
        redis = shared_redis(services)
        store = (
            RedisQueryStore(redis, guard=redis_guard(services))
            if redis is not None
            else MemoryQueryStore()
        )
        services.extras[_STORE_KEY] = store
    return store


def load_allow_list(path: Path) -> dict[str, str]:
    """sha256 -> query text, from either supported file format."""
    raw = json.loads(path.read_text())
    if isinstance(raw, dict) and isinstance(raw.get("operations"), list):
        bodies = [op["body"] for op in raw["operations"] if isinstance(op.get("body"), str)]
    elif isinstance(raw, dict):
        bodies = [body for body in raw.values() if isinstance(body, str)]
    else:
        raise ValueError(f"{path}: not a persisted-query allow-list")
    return {query_hash(body): body for body in bodies}


def allow_list(services: AppServices) -> dict[str, str]:
    registered = services.extras.get(_ALLOW_LIST_KEY)
    if registered is None:
        path = services.settings.persisted_queries_file
        registered = load_allow_list(path) if path is not None else {}
        services.extras[_ALLOW_LIST_KEY] = registered
    return registered


def _error(message: str, code: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code})


class PersistedQueries(SchemaExtension):
    """Fills in the query text from its hash before parsing (first in the extension list)."""

    async def on_operation(self) -> AsyncIterator[None]:
        ctx = self.execution_context
        services = getattr(ctx.context, "services", None)
        if services is not None:
            await self._resolve(services)
        yield

    async def _resolve(self, services: AppServices) -> None:
        ctx = self.execution_context
        settings = services.settings
        extension: Any = (ctx.operation_extensions or {}).get("persistedQuery")
        if extension is None:
            registered = allow_list(services) if settings.persisted_queries_only else None
            if registered is not None and query_hash(ctx.query or "") not in registered:
                raise _error("Only registered operations are accepted.", "FORBIDDEN")
            return
        if not isinstance(extension, dict) or extension.get("version") != 1:
            raise _error("Unsupported persisted query version.", "BAD_USER_INPUT")
        sha256 = extension.get("sha256Hash")
        if not isinstance(sha256, str) or len(sha256) != 64:
            raise _error("`sha256Hash` must be a SHA-256 hex digest.", "BAD_USER_INPUT")
        sha256 = sha256.lower()
        if settings.persisted_queries_only:
            known = allow_list(services).get(sha256)
            if known is None:
                raise _error(NOT_FOUND, "PERSISTED_QUERY_NOT_FOUND")
            if ctx.query is not None and ctx.query != known:
                raise _error("provided sha does not match query", "BAD_USER_INPUT")
            ctx.query = known
            return
        store = query_store(services)
        if ctx.query is None:
            try:
                stored = await store.get(sha256)
            except Exception:  # unreachable store: the client then sends the text
                log.warning("persisted query store unavailable", exc_info=True)
                stored = None
            if stored is None:
                raise _error(NOT_FOUND, "PERSISTED_QUERY_NOT_FOUND")
            ctx.query = stored
            return
        if query_hash(ctx.query) != sha256:
            raise _error("provided sha does not match query", "BAD_USER_INPUT")
        if len(ctx.query) <= MAX_STORED_QUERY_CHARS:
            try:
                await store.put(sha256, ctx.query)
            except Exception:  # the operation still runs; only the hash is not kept
                log.warning("persisted query store unavailable", exc_info=True)
