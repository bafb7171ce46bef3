"""Token buckets spent by query cost (GitHub / Shopify style): one bucket per user, per machine
client, or per IP address for anonymous callers.

In memory by default (one process); in Redis when `REDIS_URL` is set, with one Lua script per
change so that any number of workers share the same buckets atomically. Redis keeps the time
(`TIME`), so workers with drifting clocks still agree."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from core.redis_guard import RedisGuard, redis_guard, shared_redis

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from auth.principal import Principal
    from resolvers.context import AppServices
    from settings import Settings

_LIMITER_KEY = "protection.ratelimiter"
_CONNECTIONS_KEY = "protection.ws_connections"


@dataclass(frozen=True)
class BucketState:
    """A bucket after a change: whether the spend was allowed and what is left."""

    allowed: bool
    available: float
    capacity: int
    restore_rate: int
    retry_after: float = 0.0

    @property
    def retry_after_seconds(self) -> int:
        return max(1, math.ceil(self.retry_after)) if not self.allowed else 0

    @property
    def seconds_to_full(self) -> int:
        return math.ceil((self.capacity - self.available) / self.restore_rate)


class RateLimiter(Protocol):
    capacity: int
    restore_rate: int

    async def take(self, key: str, cost: int) -> BucketState:
        """Spends `cost` if the bucket holds that much; otherwise spends nothing."""

    async def refund(self, key: str, amount: int) -> BucketState:
        """Gives back what an operation did not use (never above the capacity)."""

    async def peek(self, key: str) -> BucketState:
        """The bucket as it is now."""


def _refill(tokens: float, elapsed: float, capacity: int, rate: int) -> float:
    return min(float(capacity), tokens + max(0.0, elapsed) * rate)


class MemoryRateLimiter:
    """Buckets of one process. A bucket not touched for a while is full again, so evicting the
    least recently used ones (beyond `max_keys`) loses nothing that matters."""

    def __init__(self, capacity: int, restore_rate: int, max_keys: int = 100_000) -> None:
        self.capacity = capacity
        self.restore_rate = restore_rate
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def _change(self, key: str, delta: float, conditional: bool) -> BucketState:
        now = time.monotonic()
        tokens, stamp = self._buckets.get(key, (float(self.capacity), now))
        tokens = _refill(tokens, now - stamp, self.capacity, self.restore_rate)
        allowed = not conditional or tokens >= delta
        retry_after = 0.0 if allowed else (delta - tokens) / self.restore_rate
        if allowed:
            tokens = min(float(self.capacity), tokens - delta)
        self._buckets[key] = (tokens, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return BucketState(allowed, tokens, self.capacity, self.restore_rate, retry_after)

    async def take(self, key: str, cost: int) -> BucketState:
        return self._change(key, cost, conditional=True)

    async def refund(self, key: str, amount: int) -> BucketState:
        return self._change(key, -amount, conditional=False)

    async def peek(self, key: str) -> BucketState:
        return self._change(key, 0, conditional=False)


# KEYS[1] bucket; ARGV capacity, restore rate (per second), delta (cost; negative = refund),
# conditional (1: only if it fits). Returns {allowed, tokens, retry_after} (numbers as strings,
# since Redis truncates Lua floats to integers).
_BUCKET_SCRIPT = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local delta = tonumber(ARGV[3])
local conditional = ARGV[4] == '1'
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or capacity
local ts = tonumber(state[2]) or now
local elapsed = now - ts
if elapsed < 0 then elapsed = 0 end
tokens = math.min(capacity, tokens + elapsed * rate)
local allowed = 1
local retry = 0
if conditional and tokens < delta then
  allowed = 0
  retry = (delta - tokens) / rate
else
  tokens = math.min(capacity, tokens - delta)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate * 1000) + 1000)
return {allowed, tostring(tokens), tostring(retry)}
"""


class RedisRateLimiter:
    """Buckets shared by every worker, changed atomically by one Lua script."""

    def __init__(
        self, redis: Redis, capacity: int, restore_rate: int, prefix: str = "portal:rl:"
    ) -> None:
        self.capacity = capacity
        self.restore_rate = restore_rate
        self.prefix = prefix
        self._script = redis.register_script(_BUCKET_SCRIPT)

    async def _change(self, key: str, delta: int, conditional: bool) -> BucketState:
        raw: Any = await self._script(
            keys=[self.prefix + key],
            args=[self.capacity, self.restore_rate, delta, "1" if conditional else "0"],
        )
        allowed, tokens, retry = int(raw[0]), float(raw[1]), float(raw[2])
        return BucketState(bool(allowed), tokens, self.capacity, self.restore_rate, retry)

    async def take(self, key: str, cost: int) -> BucketState:
        return await self._change(key, cost, conditional=True)

    async def refund(self, key: str, amount: int) -> BucketState:
        return await self._change(key, -amount, conditional=False)

    async def peek(self, key: str) -> BucketState:
        return await self._change(key, 0, conditional=False)


class GuardedRateLimiter:
    """Redis buckets while Redis answers; the process's own buckets while the breaker is open
    (a worker then limits alone: a caller spread over N workers gets up to N times the rate)."""

    def __init__(self, shared: RedisRateLimiter, local: MemoryRateLimiter, guard: RedisGuard):
        self.capacity = shared.capacity
        self.restore_rate = shared.restore_rate
        self.shared = shared
        self.local = local
        self.guard = guard

    async def take(self, key: str, cost: int) -> BucketState:
        return await self.guard.call(
            lambda: self.shared.take(key, cost), lambda: self.local.take(key, cost)
        )

    async def refund(self, key: str, amount: int) -> BucketState:
        return await self.guard.call(
            lambda: self.shared.refund(key, amount), lambda: self.local.refund(key, amount)
        )

    async def peek(self, key: str) -> BucketState:
        return await self.guard.call(lambda: self.shared.peek(key), lambda: self.local.peek(key))


def build_rate_limiter(settings: Settings, redis: Redis | None) -> RateLimiter:
    capacity, rate = settings.rate_limit_capacity, max(1, settings.rate_limit_restore_rate)
    if redis is not None:
        return RedisRateLimiter(redis, capacity, rate)
    return MemoryRateLimiter(capacity, rate)


def rate_limiter(services: AppServices) -> RateLimiter:
    limiter = services.extras.get(_LIMITER_KEY)
    if limiter is None:
        limiter = build_rate_limiter(services.settings, shared_redis(services))
        if isinstance(limiter, RedisRateLimiter):
            local = MemoryRateLimiter(limiter.capacity, limiter.restore_rate)
            limiter = GuardedRateLimiter(limiter, local, redis_guard(services))
        services.extras[_LIMITER_KEY] = limiter
    return limiter


def bucket_key(principal: Principal, client_host: str | None) -> str:
    """Users and machine clients have their own bucket wherever they call from; anonymous
    callers share one per address."""
    if principal.user_id is not None:
        return f"user:{principal.user_id}"
    if principal.api_client_id is not None:
        return f"client:{principal.api_client_id}"
    return f"ip:{client_host or 'unknown'}"


class ConnectionCounter:
    """Open WebSocket connections per user: in process, or in Redis (shared by workers; a key
    expires an hour after its last connect, so a crashed worker's counts do not stay). While the
    Redis breaker is open, connections are counted in process (and released where counted)."""

    def __init__(
        self, redis: Redis | None, prefix: str = "portal:ws:", guard: RedisGuard | None = None
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.guard = guard or RedisGuard()
        self._counts: dict[str, int] = {}

    async def _acquire_locally(self, key: str, maximum: int) -> bool:
        if self._counts.get(key, 0) >= maximum:
            return False
        self._counts[key] = self._counts.get(key, 0) + 1
        return True

    def _release_locally(self, key: str) -> None:
        left = self._counts.get(key, 0) - 1
        if left > 0:
            self._counts[key] = left
        else:
            self._counts.pop(key, None)

    async def acquire(self, key: str, maximum: int) -> bool:
        redis = self.redis
        if redis is None:
            return await self._acquire_locally(key, maximum)
        name = self.prefix + key

        async def shared() -> bool:
            count = int(await redis.incr(name))
            await redis.expire(name, 3600)
            if count > maximum:
                await redis.decr(name)
                return False
            return True

        return await self.guard.call(shared, lambda: self._acquire_locally(key, maximum))

    async def release(self, key: str) -> None:
        redis = self.redis
        if redis is None or key in self._counts:  # counted here (no Redis, or breaker open)
            self._release_locally(key)
            return

        async def shared() -> None:
            await redis.decr(self.prefix + key)

        async def lost() -> None:
            return None  # the Redis key expires within the hour

        await self.guard.call(shared, lost)


def connection_counter(services: AppServices) -> ConnectionCounter:
    counter = services.extras.get(_CONNECTIONS_KEY)
    if counter is None:
        counter = services.extras[_CONNECTIONS_KEY] = ConnectionCounter(
            shared_redis(services), guard=redis_guard(services)
        )
    return counter
