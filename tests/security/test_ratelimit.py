"""Rate limits: a token bucket per caller spent by query cost; exhausted -> THROTTLED with
the time to wait and Retry-After / rate-limit headers. In memory, or shared through Redis."""

from __future__ import annotations

import asyncio

import httpx
from redis.asyncio import Redis

from api.ratelimit import GuardedRateLimiter, MemoryRateLimiter, RedisRateLimiter, rate_limiter
from tests.conftest import ClientFactory
from tests.graphql import GraphQLClient
from tests.security.conftest import REDIS_URL, two_workers

ADMIN = "admin@acme.example"
QUERY_VIEWER = "query { viewer { authenticated } }"
QUERY_ACCOUNTS = "query { accounts(first: 10) { nodes { name } } }"


def _status(result: object) -> dict[str, int]:
    return result.body["extensions"]["cost"]["throttleStatus"]  # type: ignore[attr-defined,no-any-return]


async def test_exhausted_bucket_answers_throttled_before_any_sql(
    client_with: ClientFactory, statements: object
) -> None:
    # given
    async with client_with(rate_limit_capacity=3, rate_limit_restore_rate=1) as gql:
        for _ in range(3):
            assert not (await gql(QUERY_VIEWER)).errors
        statements.reset()  # type: ignore[attr-defined]
        # when
        result = await gql(QUERY_VIEWER)
        spec = await gql.http.post(
            "/graphql",
            json={"query": QUERY_VIEWER},
            headers={"Accept": "application/graphql-response+json"},
        )
    # then
    assert result.status == 200
    assert result.data is None
    assert result.error_codes == ["THROTTLED"]
    retry_after = result.errors[0]["extensions"]["retryAfter"]
    assert 1 <= retry_after <= 2
    unit = "second" if retry_after == 1 else "seconds"
    assert f"in {retry_after} {unit}." in result.errors[0]["message"]
    assert result.headers["retry-after"] == str(retry_after)
    assert result.headers["x-ratelimit-limit"] == "3"
    assert result.headers["x-ratelimit-remaining"] == "0"
    assert _status(result) == {"maximumAvailable": 3, "currentlyAvailable": 0, "restoreRate": 1}
    assert spec.status_code == 429
    assert spec.headers["retry-after"]
    assert statements.count == 0  # type: ignore[attr-defined]


async def test_each_caller_has_a_bucket_of_its_own(
    client_with: ClientFactory, gql: GraphQLClient
) -> None:
    # given: a token from the default app (same signing key)
    token = await gql.token_for(ADMIN)
    async with client_with(rate_limit_capacity=2, rate_limit_restore_rate=1) as limited:
        await limited(QUERY_VIEWER)
        await limited(QUERY_VIEWER)
        assert (await limited(QUERY_VIEWER)).error_codes == ["THROTTLED"]
        # when
        signed_in = await limited(QUERY_VIEWER, token=token)
    # then
    assert not signed_in.errors
    assert _status(signed_in)["currentlyAvailable"] == 1


async def test_unused_cost_is_given_back(client_with: ClientFactory, gql: GraphQLClient) -> None:
    # given
    token = await gql.token_for(ADMIN)
    async with client_with(rate_limit_restore_rate=1) as limited:
        # when: 2 + 10 requested, 2 + 5 returned (the group's five accounts)
        result = await limited(QUERY_ACCOUNTS, token=token)
        second = await limited(QUERY_ACCOUNTS, token=token)
    # then
    cost = result.body["extensions"]["cost"]
    assert (cost["requestedQueryCost"], cost["actualQueryCost"]) == (12, 7)
    spent = _status(result)["currentlyAvailable"] - _status(second)["currentlyAvailable"]
    assert spent in (6, 7)  # 7, less what was restored in between


async def test_memory_buckets_refill_with_time() -> None:
    # given
    limiter = MemoryRateLimiter(capacity=10, restore_rate=100)
    # when
    first = await limiter.take("k", 10)
    refused = await limiter.take("k", 10)
    await asyncio.sleep(0.05)
    later = await limiter.peek("k")
    # then
    assert first.allowed and first.available == 0
    assert not refused.allowed and refused.retry_after_seconds == 1
    assert 4 <= later.available <= 10


async def test_redis_is_used_when_configured(client_with: ClientFactory, redis: Redis) -> None:
    # given
    async with client_with(redis_url=REDIS_URL) as gql:
        services = gql.app.state.services  # type: ignore[attr-defined]
        # when
        limiter = rate_limiter(services)
        # then: Redis buckets, behind the Redis breaker (in-process buckets while it is open)
        assert isinstance(limiter, GuardedRateLimiter)
        assert isinstance(limiter.shared, RedisRateLimiter)
        await services.extras.pop("protection.redis").aclose()


async def test_workers_share_buckets_through_redis(
    client_with: ClientFactory, redis: Redis, redis_prefix: str
) -> None:
    # given: two "workers" (apps) sharing one Redis
    async with two_workers(
        client_with,
        "protection.ratelimiter",
        lambda: RedisRateLimiter(redis, 5, 1, prefix=redis_prefix),
    ) as (first, second):
        # when
        for _ in range(3):
            assert not (await first(QUERY_VIEWER)).errors
        on_second = [await second(QUERY_VIEWER) for _ in range(3)]
    # then
    assert [r.error_codes for r in on_second] == [[], [], ["THROTTLED"]]
    assert on_second[1].headers["x-ratelimit-remaining"] == "0"


async def test_redis_buckets_are_atomic_under_concurrency(redis: Redis, redis_prefix: str) -> None:
    # given
    limiter = RedisRateLimiter(redis, capacity=10, restore_rate=1, prefix=redis_prefix)
    # when
    states = await asyncio.gather(*[limiter.take("k", 1) for _ in range(30)])
    # then
    assert sum(state.allowed for state in states) == 10


async def test_login_spends_from_the_address_bucket(http: httpx.AsyncClient) -> None:
    # when
    response = await http.post(
        "/graphql",
        json={
            "query": 'mutation { login(input: {email: "x@y.example", password: "nope"}) '
            "{ userErrors { code } } }"
        },
    )
    # then: a mutation costs 10, its payload object 1, userErrors nothing
    assert response.json()["extensions"]["cost"]["requestedQueryCost"] == 11


async def test_unreachable_redis_does_not_take_the_api_down(client_with: ClientFactory) -> None:
    # given: nothing listens on port 1
    async with client_with(redis_url="redis://127.0.0.1:1/0") as gql:
        # when
        result = await gql(QUERY_VIEWER)
        persisted = await gql.http.post(
            "/graphql",
            json={"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}},
        )
    # then
    assert result.data == {"viewer": {"authenticated": False}}
    # limited by the in-process bucket while the Redis breaker is open
    assert result.body["extensions"]["cost"] == {
        "requestedQueryCost": 1,
        "actualQueryCost": 1,
        "throttleStatus": {
            "maximumAvailable": 10000,
            "currentlyAvailable": 9999,
            "restoreRate": 500,
        },
    }
    assert [e["extensions"]["code"] for e in persisted.json()["errors"]] == [
        "PERSISTED_QUERY_NOT_FOUND"
    ]
    assert "6379" not in persisted.text and "127.0.0.1:1" not in persisted.text
