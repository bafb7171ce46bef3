"""The viewer's scope is kept per process (resolvers/scoping.ScopeCache) and still every change
counts on the very next request, in every process: two app instances over one database stand
for two uvicorn workers; a change made through one is seen by the other's next request."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, event, update
from sqlalchemy.ext.asyncio import AsyncEngine

from app import create_app
from auth.passwords import hash_password
from core import clock
from core.ids import global_id
from models import Account, AuditLogEntry, Membership, User
from models.enums import Role
from models.session import create_sessionmaker
from settings import Settings
from tests.graphql import GraphQLClient

QUERY_VIEWER = "{ viewer { authenticated memberships { role } } }"
QUERY_ACCOUNTS = "{ accounts(first: 10) { nodes { name } } }"
QUERY_UPDATE = """
mutation Update($input: UpdateMembershipInput!) {
  updateMembership(input: $input) { userErrors { code } }
}
"""
QUERY_REVOKE = """
mutation Revoke($input: RevokeMembershipInput!) {
  revokeMembership(input: $input) { userErrors { code } }
}
"""
PASSWORD = "two-workers-42"


@asynccontextmanager
async def worker(
    settings: Settings, engine: AsyncEngine, running: bool
) -> AsyncIterator[GraphQLClient]:
    """An app instance of its own (its own scope cache), committing to the shared database;
    `running`: inside its lifespan, as under uvicorn (on PostgreSQL the versions are then read
    on the connection the app keeps, `models.session.HeldConnection`)."""
    app = create_app(settings, sessionmaker=create_sessionmaker(engine))
    transport = httpx.ASGITransport(app=app)
    async with contextlib.AsyncExitStack() as stack:
        if running:
            await stack.enter_async_context(app.router.lifespan_context(app))
        http = await stack.enter_async_context(
            httpx.AsyncClient(transport=transport, base_url="http://testserver")
        )
        yield GraphQLClient(http)


async def roles(gql: GraphQLClient, token: str) -> Any:
    result = await gql(QUERY_VIEWER, token=token)
    assert not result.errors, result.errors
    viewer = result.data["viewer"]
    return [m["role"] for m in viewer["memberships"]] if viewer["authenticated"] else None


async def account_names(gql: GraphQLClient, token: str) -> list[str]:
    result = await gql(QUERY_ACCOUNTS, token=token)
    assert not result.errors, result.errors
    return sorted(n["name"] for n in result.data["accounts"]["nodes"])


@pytest.mark.parametrize("running", [False, True], ids=["app alone", "app running"])
async def test_a_change_through_one_worker_counts_on_the_others_next_request(
    settings: Settings, engine: AsyncEngine, running: bool
) -> None:
    # given: an account with an administrator and a device manager, committed
    committed = create_sessionmaker(engine)
    tag = uuid.uuid4().hex[:8]
    async with committed() as session, session.begin():
        account = Account(
            name=f"Workers {tag}",
            customer_account_number=f"W-{tag}",
            system_account_number=f"WS-{tag}",
            country="FR",
        )
        ann, dev = (
            User(
                email=f"{who}-{tag}@workers.example",
                name=who,
                password_hash=hash_password(PASSWORD),
                email_confirmed_at=clock.now(),
            )
            for who in ("ann", "dev")
        )
        session.add_all([account, ann, dev])
        await session.flush()
        managed = Membership(user_id=dev.id, account_id=account.id, role=Role.DEVICE_MANAGER)
        session.add_all(
            [Membership(user_id=ann.id, account_id=account.id, role=Role.ADMINISTRATOR), managed]
        )
        await session.flush()
        account_id, user_ids, membership = account.id, [ann.id, dev.id], managed.id
    statements: list[str] = []
    isolation: list[Any] = []
    checkouts: list[Any] = []

    def checkout(*_: Any) -> None:
        checkouts.append(1)

    def count(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)
            isolation.append(conn.get_execution_options().get("isolation_level"))

    try:
        async with (
            worker(settings, engine, running) as one,
            worker(settings, engine, running) as other,
        ):
            ann_token = (await one.login(ann.email, PASSWORD))["accessToken"]
            dev_token = (await one.login(dev.email, PASSWORD))["accessToken"]
            for gql in (one, other):
                assert await roles(gql, dev_token) == ["DEVICE_MANAGER"]
                assert await account_names(gql, ann_token) == [f"Workers {tag}"]
            # the other worker answers from its cache: one query (the versions); the first
            # such answer opens the connection a running app keeps for them
            assert await roles(other, ann_token) == ["ADMINISTRATOR"]
            event.listen(engine.sync_engine, "before_cursor_execute", count)
            event.listen(engine.sync_engine, "checkout", checkout)
            try:
                assert await roles(other, dev_token) == ["DEVICE_MANAGER"]
            finally:
                event.remove(engine.sync_engine, "before_cursor_execute", count)
                event.remove(engine.sync_engine, "checkout", checkout)
            assert len(statements) == 1, statements
            if engine.dialect.name == "postgresql":  # no BEGIN and ROLLBACK around it
                assert isolation == ["AUTOCOMMIT"]
                # and, while the app runs, on the connection it keeps: none from the pool
                assert len(checkouts) == (0 if running else 1)

            # when: the administrator changes the role through one worker
            changed = await one(
                QUERY_UPDATE,
                {
                    "input": {
                        "membershipId": global_id("Membership", membership),
                        "role": "KNOWLEDGE_USER",
                    }
                },
                token=ann_token,
            )
            assert changed.data["updateMembership"]["userErrors"] == []
            # then: the other's next request has it
            assert await roles(other, dev_token) == ["KNOWLEDGE_USER"]

            # when: the membership is removed through one worker
            revoked = await one(
                QUERY_REVOKE,
                {"input": {"membershipId": global_id("Membership", membership)}},
                token=ann_token,
            )
            assert revoked.data["revokeMembership"]["userErrors"] == []
            # then
            assert await roles(other, dev_token) == []

            # when: a sub-account is added below the administrator's account (by hand)
            async with committed() as session, session.begin():
                session.add(
                    Account(
                        name=f"Workers {tag} sub",
                        customer_account_number=f"W-{tag}-1",
                        system_account_number=f"WS-{tag}-1",
                        country="FR",
                        parent_id=account_id,
                    )
                )
            # then: both workers reach it on their next request
            for gql in (other, one):
                assert await account_names(gql, ann_token) == [
                    f"Workers {tag}",
                    f"Workers {tag} sub",
                ]

            # when: the administrator is deactivated (by hand)
            async with committed() as session, session.begin():
                await session.execute(update(User).where(User.id == ann.id).values(is_active=False))
            # then: its token names no one any more, on either worker
            for gql in (other, one):
                assert await roles(gql, ann_token) is None
    finally:
        async with committed() as session, session.begin():
            await session.execute(
                delete(AuditLogEntry).where(
                    (AuditLogEntry.actor_user_id.in_(user_ids))
                    | (
                        (AuditLogEntry.object_type == "Membership")
                        & (AuditLogEntry.object_id == membership)
                    )
                )
            )
            await session.execute(delete(Membership).where(Membership.account_id == account_id))
            await session.execute(delete(User).where(User.id.in_(user_ids)))
            await session.execute(delete(Account).where(Account.parent_id == account_id))
            await session.execute(delete(Account).where(Account.id == account_id))
