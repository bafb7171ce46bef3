"""Persisted queries: Apollo's APQ protocol (hash first, query once on PersistedQueryNotFound),
shared through Redis when configured, and production's registered-operations-only mode."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
from redis.asyncio import Redis

from api.persisted import RedisQueryStore
from tests.conftest import ClientFactory
from tests.security.conftest import two_workers

QUERY_VIEWER = "query { viewer { authenticated } }"
QUERY_OTHER = "query { viewer { authenticated user { email } } }"
SHA = hashlib.sha256(QUERY_VIEWER.encode()).hexdigest()


def _apq(sha256: str = SHA) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha256}}


async def _post(http: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
    return await http.post("/graphql", json=body)


def _codes(response: httpx.Response) -> list[str]:
    return [e["extensions"]["code"] for e in response.json().get("errors", [])]


async def test_apq_flow(http: httpx.AsyncClient, statements: object) -> None:
    # given
    statements.reset()  # type: ignore[attr-defined]
    # when
    unknown = await _post(http, {"extensions": _apq()})
    registered = await _post(http, {"query": QUERY_VIEWER, "extensions": _apq()})
    by_hash = await _post(http, {"extensions": _apq()})
    by_get = await http.get("/graphql", params={"extensions": json.dumps(_apq())})
    # then
    assert unknown.status_code == 200
    assert _codes(unknown) == ["PERSISTED_QUERY_NOT_FOUND"]
    assert unknown.json()["errors"][0]["message"] == "PersistedQueryNotFound"
    assert registered.json()["data"] == {"viewer": {"authenticated": False}}
    assert by_hash.json()["data"] == {"viewer": {"authenticated": False}}
    assert by_get.json()["data"] == {"viewer": {"authenticated": False}}


async def test_apq_refuses_a_hash_that_does_not_match(http: httpx.AsyncClient) -> None:
    # when
    wrong = await _post(http, {"query": QUERY_OTHER, "extensions": _apq()})
    bad_version = await _post(
        http, {"extensions": {"persistedQuery": {"version": 2, "sha256Hash": SHA}}}
    )
    not_a_hash = await _post(http, {"extensions": _apq("abc")})
    # then
    assert _codes(wrong) == ["BAD_USER_INPUT"]
    assert _codes(bad_version) == ["BAD_USER_INPUT"]
    assert _codes(not_a_hash) == ["BAD_USER_INPUT"]


async def test_workers_share_persisted_queries_through_redis(
    client_with: ClientFactory, redis: Redis, redis_prefix: str
) -> None:
    # given
    async with two_workers(
        client_with,
        "protection.persisted_queries",
        lambda: RedisQueryStore(redis, prefix=redis_prefix),
    ) as (first, second):
        # when
        await _post(first.http, {"query": QUERY_VIEWER, "extensions": _apq()})
        by_hash = await _post(second.http, {"extensions": _apq()})
    # then
    assert by_hash.json()["data"] == {"viewer": {"authenticated": False}}


async def test_production_can_accept_registered_operations_only(
    client_with: ClientFactory, tmp_path: Path
) -> None:
    # given
    allow_list = tmp_path / "operations.json"
    allow_list.write_text(json.dumps({"operations": [{"name": "Viewer", "body": QUERY_VIEWER}]}))
    async with client_with(persisted_queries_only=True, persisted_queries_file=allow_list) as gql:
        # when
        registered_text = await _post(gql.http, {"query": QUERY_VIEWER})
        registered_hash = await _post(gql.http, {"extensions": _apq()})
        other_text = await _post(gql.http, {"query": QUERY_OTHER})
        other_sha = hashlib.sha256(QUERY_OTHER.encode()).hexdigest()
        apq_registration = await _post(
            gql.http, {"query": QUERY_OTHER, "extensions": _apq(other_sha)}
        )
    # then
    assert registered_text.json()["data"] == {"viewer": {"authenticated": False}}
    assert registered_hash.json()["data"] == {"viewer": {"authenticated": False}}
    assert _codes(other_text) == ["FORBIDDEN"]
    assert _codes(apq_registration) == ["PERSISTED_QUERY_NOT_FOUND"]
