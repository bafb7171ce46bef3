"""Sign-in failures: one answer for every reason, slowed down, then refused (THROTTLED) per
e-mail and per client address; the lock-out lives in the database, so every worker sees it."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app import create_app
from auth.passwords import hash_password
from demo.fleet import DEMO_PASSWORD
from models import LoginThrottle, User
from models.session import create_sessionmaker
from resolvers import identity
from settings import Settings
from tests.conftest import ClientFactory
from tests.graphql import GraphQLClient

QUERY_LOGIN = """
mutation Login($input: LoginInput!) {
  login(input: $input) {
    accessToken refreshToken viewer { user { email } }
    userErrors { field message code }
  }
}
"""

USER = "admin@acme.example"


async def _login(
    gql: GraphQLClient, email: str, password: str = DEMO_PASSWORD, **kwargs: Any
) -> Any:
    return await gql(QUERY_LOGIN, {"input": {"email": email, "password": password}}, **kwargs)


def _assert_throttled(result: Any, lockout: int) -> None:
    assert result.data is None
    [error] = result.errors
    assert error["extensions"]["code"] == "THROTTLED"
    assert 0 < error["extensions"]["retryAfter"] <= lockout + 1
    assert str(error["extensions"]["retryAfter"]) in error["message"]


async def test_wrong_password_unknown_and_unconfirmed_email_answer_the_same(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given: an unconfirmed and a deactivated user, both with the right password
    hashed = hash_password(DEMO_PASSWORD)
    await connection.execute(
        insert(User),
        [
            {"email": "new@acme.example", "name": "New", "password_hash": hashed},
            {
                "email": "gone@acme.example",
                "name": "Gone",
                "password_hash": hashed,
                "is_active": False,
                "email_confirmed_at": None,
            },
        ],
    )
    for language in ("en", "fr", "it"):
        headers = {"Accept-Language": language}
        # when
        answers = [
            await _login(gql, USER, "wrong-password", headers=headers),
            await _login(gql, "nobody@acme.example", DEMO_PASSWORD, headers=headers),
            await _login(gql, "new@acme.example", DEMO_PASSWORD, headers=headers),
            await _login(gql, "gone@acme.example", DEMO_PASSWORD, headers=headers),
        ]
        # then
        payloads = [a.data["login"] for a in answers]
        assert all(not a.errors for a in answers)
        assert all(p["accessToken"] is None and p["refreshToken"] is None for p in payloads)
        assert len({repr(p["userErrors"]) for p in payloads}) == 1, payloads
        [error] = payloads[0]["userErrors"]
        assert error["code"] == "INVALID_CREDENTIALS"
    assert "mot de passe" in error["message"] or "password" in error["message"]


async def test_right_password_signs_in(gql: GraphQLClient) -> None:
    # when
    result = await _login(gql, "  Admin@Acme.Example ")
    # then
    payload = result.data["login"]
    assert payload["userErrors"] == []
    assert payload["viewer"]["user"]["email"] == USER


async def test_repeated_failures_for_one_email_are_slowed_then_refused(
    client_with: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: the sign-in's waits are recorded (and still waited)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        await asyncio.sleep(seconds)

    monkeypatch.setattr(identity, "asyncio", SimpleNamespace(sleep=sleep))
    async with client_with(login_max_failures=4, login_lockout_seconds=60) as gql:
        # when: three failures
        for _ in range(3):
            result = await _login(gql, USER, "wrong")
            assert result.data["login"]["userErrors"][0]["code"] == "INVALID_CREDENTIALS"
        # then: each failure waits twice as long as the one before
        assert waits == [0.05, 0.1, 0.2]
        # the fourth failure locks the e-mail
        fourth = await _login(gql, USER, "wrong")
        assert fourth.data["login"]["userErrors"][0]["code"] == "INVALID_CREDENTIALS"
        # and even the right password is refused for a while
        locked = await _login(gql, USER)
        _assert_throttled(locked, 60)
        # while another person at the same address still signs in
        other = await _login(gql, "admin.fr@acme.example")
        assert other.data["login"]["userErrors"] == []


async def test_email_lockout_ignores_case_and_spaces(client_with: ClientFactory) -> None:
    async with client_with(login_max_failures=2, login_lockout_seconds=60) as gql:
        # given
        await _login(gql, "ADMIN@acme.example", "wrong")
        await _login(gql, " admin@ACME.example", "wrong")
        # when
        result = await _login(gql, USER)
        # then
        _assert_throttled(result, 60)


async def test_repeated_failures_from_one_address_are_refused(
    client_with: ClientFactory,
) -> None:
    async with client_with(login_max_failures=2, login_lockout_seconds=60) as gql:
        # given: a password spray, one guess per address book entry (the address may fail
        # four times as often as one e-mail)
        for n in range(8):
            result = await _login(gql, f"user{n}@acme.example", "guess")
            assert result.data["login"]["userErrors"][0]["code"] == "INVALID_CREDENTIALS"
        # when: a real user signs in from the same address
        result = await _login(gql, USER)
        # then
        _assert_throttled(result, 60)


async def test_lockout_holds_across_workers(
    client_with: ClientFactory, connection: AsyncConnection
) -> None:
    # given: one worker saw the failures
    async with client_with(login_max_failures=2, login_lockout_seconds=120) as first:
        for _ in range(2):
            await _login(first, USER, "wrong")
    # when: another worker (another app, sharing only the database) is asked
    async with client_with(login_max_failures=2, login_lockout_seconds=120) as second:
        result = await _login(second, USER)
    # then
    _assert_throttled(result, 120)
    locked = await connection.scalar(
        select(LoginThrottle.locked_until).where(LoginThrottle.key == f"email:{USER}")
    )
    assert locked is not None


async def test_success_clears_the_email_count(client_with: ClientFactory) -> None:
    async with client_with(login_max_failures=2, login_lockout_seconds=60) as gql:
        # given
        await _login(gql, USER, "wrong")
        assert (await _login(gql, USER)).data["login"]["userErrors"] == []
        # when: one more failure after a success
        await _login(gql, USER, "wrong")
        result = await _login(gql, USER)
        # then: not locked (the count started again)
        assert result.data["login"]["userErrors"] == []


@pytest.mark.postgres
async def test_concurrent_failures_on_separate_connections_are_all_counted(
    settings: Settings, engine: AsyncEngine
) -> None:
    # given: an app on the real engine (each request its own connection, as on many workers)
    email = f"race-{uuid.uuid4().hex[:8]}@acme.example"
    keys = [f"email:{email}", "ip:127.0.0.1"]
    app = create_app(
        replace(settings, login_max_failures=1000, login_lockout_seconds=60),
        sessionmaker=create_sessionmaker(engine),
    )
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            gql = GraphQLClient(http)
            # when: ten wrong guesses at once for an e-mail never seen before
            answers = await asyncio.gather(*(_login(gql, email, "wrong") for _ in range(10)))
        # then: every one is the ordinary answer (no conflict on the new counter row) ...
        assert [a.data["login"]["userErrors"][0]["code"] for a in answers] == [
            "INVALID_CREDENTIALS"
        ] * 10
        # ... and none was lost
        async with engine.connect() as conn:
            failures = await conn.scalar(
                select(LoginThrottle.failures).where(LoginThrottle.key == keys[0])
            )
        assert failures == 10
    finally:
        async with engine.begin() as conn:
            await conn.execute(delete(LoginThrottle).where(LoginThrottle.key.in_(keys)))
