"""Refresh-token reuse grace: the same refresh token presented again shortly after its first use
(two open tabs, an app retrying after a timeout) keeps the login; presented after the window it
is a replay, which ends the whole login and is audited. Also across two workers sharing the
database, with committed transactions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app import create_app
from auth.tokens import hash_secret
from models import AuditLogEntry, RefreshToken
from models.session import create_sessionmaker
from settings import Settings
from tests.auth.conftest import after_grace
from tests.graphql import GraphQLClient

QUERY_REFRESH = """
mutation Refresh($input: RefreshTokenInput!) {
  refreshToken(input: $input) {
    accessToken refreshToken
    userErrors { code }
  }
}
"""

QUERY_VIEWER = """
query { viewer { authenticated user { email } } }
"""

USER = "admin@acme.example"


async def _refresh(gql: GraphQLClient, token: str) -> dict[str, Any]:
    result = await gql(QUERY_REFRESH, {"input": {"refreshToken": token}})
    assert not result.errors, result.errors
    return result.data["refreshToken"]  # type: ignore[no-any-return]


def _codes(payload: dict[str, Any]) -> list[str]:
    return [e["code"] for e in payload["userErrors"]]


async def _assert_signed_in(gql: GraphQLClient, access_token: str) -> None:
    result = await gql(QUERY_VIEWER, token=access_token)
    assert result.data["viewer"] == {"authenticated": True, "user": {"email": USER}}


async def test_second_refresh_within_grace_keeps_the_login(gql: GraphQLClient) -> None:
    # given: a login whose refresh token was used once
    login = await gql.login(USER)
    first = await _refresh(gql, login["refreshToken"])
    # when: the same token is presented again at once (a second tab)
    second = await _refresh(gql, login["refreshToken"])
    # then: both got a working session, and the login stays valid
    assert _codes(first) == [] and _codes(second) == []
    assert second["refreshToken"] not in (login["refreshToken"], first["refreshToken"])
    for payload in (first, second):
        await _assert_signed_in(gql, payload["accessToken"])
        assert _codes(await _refresh(gql, payload["refreshToken"])) == []


async def test_replay_after_grace_revokes_the_family_and_is_audited(
    gql: GraphQLClient, connection: AsyncConnection, settings: Settings
) -> None:
    # given: a login refreshed once (A -> B), and a separate login of the same user
    login = await gql.login(USER)
    other = await gql.login(USER)
    rotated = await _refresh(gql, login["refreshToken"])
    # when: A is presented again after the grace window
    with after_grace(settings):
        replay = await _refresh(gql, login["refreshToken"])
        after = await _refresh(gql, rotated["refreshToken"])
        untouched = await _refresh(gql, other["refreshToken"])
    # then: refused, B stopped working, the other login did not; the reuse is audited
    assert _codes(replay) == ["INVALID_REFRESH_TOKEN"]
    assert _codes(after) == ["INVALID_REFRESH_TOKEN"] and after["accessToken"] is None
    assert _codes(untouched) == []
    family = await connection.scalar(
        select(RefreshToken.family_id).where(
            RefreshToken.token_hash == hash_secret(login["refreshToken"])
        )
    )
    details = await connection.scalars(
        select(AuditLogEntry.details).where(AuditLogEntry.action == "refresh_token_reuse")
    )
    assert [d for d in details if d.get("family") == family] == [{"family": family}]


@pytest.fixture
async def two_workers(
    settings: Settings, engine: AsyncEngine
) -> AsyncIterator[list[GraphQLClient]]:
    """Two app instances (two workers) over the same database, every request committed; what
    the test wrote is removed afterwards."""
    sessionmaker = create_sessionmaker(engine)
    async with sessionmaker() as session:
        audit_before = await session.scalar(select(func.coalesce(func.max(AuditLogEntry.id), 0)))
        tokens_before = await session.scalar(select(func.coalesce(func.max(RefreshToken.id), 0)))
    clients: list[httpx.AsyncClient] = []
    workers = []
    for _ in range(2):
        app = create_app(settings, sessionmaker=create_sessionmaker(engine))
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
        clients.append(http)
        workers.append(GraphQLClient(http))
    try:
        yield workers
    finally:
        for http in clients:
            await http.aclose()
        async with sessionmaker() as session:
            await session.execute(delete(AuditLogEntry).where(AuditLogEntry.id > audit_before))
            await session.execute(delete(RefreshToken).where(RefreshToken.id > tokens_before))
            await session.commit()


async def test_concurrent_refreshes_on_two_workers_all_succeed_then_replay_revokes(
    two_workers: list[GraphQLClient], engine: AsyncEngine, settings: Settings
) -> None:
    # given: a committed login
    worker_a, worker_b = two_workers
    login = await worker_a.login(USER)
    token = login["refreshToken"]
    # when: six refreshes with the same token at once, three on each worker
    payloads = await asyncio.gather(*[_refresh(two_workers[i % 2], token) for i in range(6)])
    # then: every one succeeded, with distinct tokens that all work
    assert [_codes(p) for p in payloads] == [[]] * 6
    assert len({p["refreshToken"] for p in payloads}) == 6
    successors = []
    for i, payload in enumerate(payloads):
        await _assert_signed_in(two_workers[i % 2], payload["accessToken"])
        again = await _refresh(two_workers[(i + 1) % 2], payload["refreshToken"])
        assert _codes(again) == []
        successors.append(again["refreshToken"])
    sessionmaker = create_sessionmaker(engine)
    async with sessionmaker() as session:
        family = await session.scalar(
            select(RefreshToken.family_id).where(RefreshToken.token_hash == hash_secret(token))
        )
        live = await session.scalar(
            select(func.count())
            .select_from(RefreshToken)
            .where(RefreshToken.family_id == family, RefreshToken.revoked_at.is_(None))
        )
    assert live == 1 + 6 + 6  # the login's token, six siblings, six successors: none revoked

    # when: the first token is replayed after the grace window
    with after_grace(settings):
        replay = await _refresh(worker_b, token)
        later = [await _refresh(worker_a, t) for t in successors]
    # then: refused, every token of the login stopped working, and the reuse is audited
    assert _codes(replay) == ["INVALID_REFRESH_TOKEN"]
    assert all(_codes(p) == ["INVALID_REFRESH_TOKEN"] for p in later)
    async with sessionmaker() as session:
        live = await session.scalar(
            select(func.count())
            .select_from(RefreshToken)
            .where(RefreshToken.family_id == family, RefreshToken.revoked_at.is_(None))
        )
        reuse = list(
            await session.scalars(
                select(AuditLogEntry).where(AuditLogEntry.action == "refresh_token_reuse")
            )
        )
    assert live == 0
    assert [entry.details for entry in reuse if entry.details.get("family") == family] == [
        {"family": family}
    ]
