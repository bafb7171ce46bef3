"""Account.members, updateMembership and revokeMembership; an account never loses its last
administrator, also under concurrent demotions on PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app import create_app
from auth.passwords import hash_password
from core import clock
from core.ids import global_id, parse_global_id
from models import Account, Membership, User
from models.enums import MembershipStatus, Role
from models.session import create_sessionmaker
from settings import Settings
from tests.audiences import fields_of
from tests.conftest import StatementCounter
from tests.graphql import NOT_IN_SCHEMA, GraphQLClient
from tests.identity.conftest import account_by_number, audit_actions, remove_committed_account

QUERY_MEMBERS = """
query Members($id: ID!) {
  node(id: $id) {
    ... on Account {
      members { id role status version user { email name } devices { serialNumber } stockLocations { name } }
    }
  }
}
"""

QUERY_ACCOUNTS_MEMBERS = """
query AccountsMembers($first: Int!) {
  accounts(first: $first) {
    edges { node { name members { id role user { email } devices { id } stockLocations { id } } } }
  }
}
"""

QUERY_MEMBERSHIP_NODE = """
query Node($id: ID!) { node(id: $id) { ... on Membership { role user { email } } } }
"""

QUERY_UPDATE = """
mutation Update($input: UpdateMembershipInput!) {
  updateMembership(input: $input) {
    membership { role version devices { id } }
    userErrors { field code message }
  }
}
"""

QUERY_REVOKE = """
mutation Revoke($input: RevokeMembershipInput!) {
  revokeMembership(input: $input) { revokedMembershipId userErrors { field code message } }
}
"""

QUERY_VIEWER = "{ viewer { memberships { role } } }"


async def _members(gql: GraphQLClient, account_gid: str, as_user: str) -> dict[str, dict]:
    result = await gql(QUERY_MEMBERS, {"id": account_gid}, as_user=as_user)
    assert not result.errors, result.errors
    return {m["user"]["email"]: m for m in result.data["node"]["members"]}


async def test_administrator_lists_members_with_roles_and_assignments(
    gql: GraphQLClient, mail_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    # given
    acme_fr = await account_by_number(mail_sessionmaker, "C-100100")
    # when
    members = await _members(gql, acme_fr.global_id, "admin.fr@acme.example")
    # then
    assert members["admin.fr@acme.example"]["role"] == "ADMINISTRATOR"
    manager = members["devices@acme.example"]
    assert (manager["role"], manager["status"]) == ("DEVICE_MANAGER", "ACTIVE")
    assert len(manager["devices"]) == 5
    # and: the membership is a node, for those who may see members only
    node = await gql(QUERY_MEMBERSHIP_NODE, {"id": manager["id"]}, as_user="admin@acme.example")
    assert node.data["node"] == {
        "role": "DEVICE_MANAGER",
        "user": {"email": "devices@acme.example"},
    }
    hidden = await gql(QUERY_MEMBERSHIP_NODE, {"id": manager["id"]}, as_user="admin@globex.example")
    assert hidden.data["node"] is None
    for outsider in ("devices@acme.example", "kb@acme.example"):
        # (who may see members nowhere has no Membership type in its schema)
        unknown = await gql(QUERY_MEMBERSHIP_NODE, {"id": manager["id"]}, as_user=outsider)
        assert unknown.data is None, outsider
        assert unknown.error_codes == NOT_IN_SCHEMA, (outsider, unknown.errors)
        assert fields_of(outsider, "Membership") == set(), outsider


async def test_account_members_requires_permission(
    gql: GraphQLClient, mail_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    # given
    acme_fr = await account_by_number(mail_sessionmaker, "C-100100")
    # when: a device manager sees the account but holds VIEW_MEMBERS nowhere
    result = await gql(QUERY_MEMBERS, {"id": acme_fr.global_id}, as_user="devices@acme.example")
    # then: `members` is not in its schema
    assert result.data is None
    assert result.error_codes == NOT_IN_SCHEMA, result.errors
    assert "members" not in fields_of("devices@acme.example", "Account")
    assert "name" in fields_of("devices@acme.example", "Account")


async def test_members_of_many_accounts_cost_a_fixed_number_of_statements(
    gql: GraphQLClient, statements: StatementCounter
) -> None:
    # given
    await gql.token_for("admin@acme.example")
    counts = []
    for first in (1, 3):
        statements.reset()
        # when
        result = await gql(QUERY_ACCOUNTS_MEMBERS, {"first": first}, as_user="admin@acme.example")
        assert not result.errors, result.errors
        assert len(result.data["accounts"]["edges"]) == first
        counts.append(statements.count)
    # then
    assert counts[0] == counts[1], statements.statements


async def test_administrator_changes_role_and_devices(
    gql: GraphQLClient, mail_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    # given
    acme_fr = await account_by_number(mail_sessionmaker, "C-100100")
    manager = (await _members(gql, acme_fr.global_id, "admin.fr@acme.example"))[
        "devices@acme.example"
    ]
    devices = [global_id("Device", d) for d in acme_fr.device_ids[-2:]]
    # when
    result = await gql(
        QUERY_UPDATE,
        {
            "input": {
                "membershipId": manager["id"],
                "deviceIds": devices,
                "version": manager["version"],
            }
        },
        as_user="admin.fr@acme.example",
    )
    stale = await gql(
        QUERY_UPDATE,
        {"input": {"membershipId": manager["id"], "deviceIds": [], "version": manager["version"]}},
        as_user="admin.fr@acme.example",
    )
    # then
    payload = result.data["updateMembership"]
    assert payload["userErrors"] == []
    assert payload["membership"]["version"] == manager["version"] + 1
    assert sorted(d["id"] for d in payload["membership"]["devices"]) == sorted(devices)
    assert stale.data["updateMembership"]["userErrors"][0]["code"] == "STALE_VERSION"

    # when: promoted, the device assignments no longer apply
    promoted = await gql(
        QUERY_UPDATE,
        {"input": {"membershipId": manager["id"], "role": "ADMINISTRATOR"}},
        as_user="admin.fr@acme.example",
    )
    # then
    assert promoted.data["updateMembership"]["membership"]["role"] == "ADMINISTRATOR"
    assert promoted.data["updateMembership"]["membership"]["devices"] == []
    assert await audit_actions(
        mail_sessionmaker,
        "Membership",
        parse_global_id(manager["id"])[1],  # type: ignore[index]
    ) == ["membership.update", "membership.update"]


async def test_update_membership_requires_permission(
    gql: GraphQLClient, mail_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    # given
    acme_fr = await account_by_number(mail_sessionmaker, "C-100100")
    members = await _members(gql, acme_fr.global_id, "admin.fr@acme.example")
    own = {
        "input": {"membershipId": members["devices@acme.example"]["id"], "role": "ADMINISTRATOR"}
    }
    # when / then: an administrator of another account finds no such membership
    outsider = await gql(QUERY_UPDATE, own, as_user="admin@globex.example")
    assert outsider.data["updateMembership"]["userErrors"][0]["code"] == "NOT_FOUND"
    # when / then: a device manager cannot promote itself, nor can the agent: who manages
    # users nowhere has neither mutation (nor their input types) in its schema
    for viewer in ("devices@acme.example", "agent@vendor.example"):
        result = await gql(QUERY_UPDATE, own, as_user=viewer)
        assert result.data is None, viewer
        assert set(result.error_codes) == set(NOT_IN_SCHEMA), (viewer, result.errors)
        assert "updateMembership" not in fields_of(viewer, "Mutation"), viewer
    revoke = await gql(
        QUERY_REVOKE,
        {"input": {"membershipId": own["input"]["membershipId"]}},
        as_user="devices@acme.example",
    )
    assert revoke.data is None
    assert set(revoke.error_codes) == set(NOT_IN_SCHEMA), revoke.errors
    assert "revokeMembership" not in fields_of("devices@acme.example", "Mutation")
    # then: unchanged
    after = await _members(gql, acme_fr.global_id, "admin.fr@acme.example")
    assert after["devices@acme.example"]["role"] == "DEVICE_MANAGER"


async def test_the_last_administrator_cannot_be_demoted_or_removed(
    gql: GraphQLClient, mail_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    # given: admin.fr is the only administrator of Acme France itself
    acme_fr = await account_by_number(mail_sessionmaker, "C-100100")
    members = await _members(gql, acme_fr.global_id, "admin.fr@acme.example")
    admin_id = members["admin.fr@acme.example"]["id"]
    # when
    demoted = await gql(
        QUERY_UPDATE,
        {"input": {"membershipId": admin_id, "role": "DEVICE_MANAGER"}},
        as_user="admin.fr@acme.example",
    )
    removed = await gql(
        QUERY_REVOKE, {"input": {"membershipId": admin_id}}, as_user="admin@acme.example"
    )
    # then
    [error] = demoted.data["updateMembership"]["userErrors"]
    assert (error["code"], error["field"]) == ("LAST_ADMINISTRATOR", ["role"])
    assert removed.data["revokeMembership"]["userErrors"][0]["code"] == "LAST_ADMINISTRATOR"

    # when: a second administrator is appointed, the first may step down
    await gql(
        QUERY_UPDATE,
        {"input": {"membershipId": members["devices@acme.example"]["id"], "role": "ADMINISTRATOR"}},
        as_user="admin.fr@acme.example",
    )
    stepped_down = await gql(
        QUERY_UPDATE,
        {"input": {"membershipId": admin_id, "role": "KNOWLEDGE_USER"}},
        as_user="admin.fr@acme.example",
        headers={"Accept-Language": "it"},
    )
    assert stepped_down.data["updateMembership"]["userErrors"] == []


async def test_revoked_member_loses_access(
    gql: GraphQLClient, mail_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    # given
    acme_fr = await account_by_number(mail_sessionmaker, "C-100100")
    manager = (await _members(gql, acme_fr.global_id, "admin.fr@acme.example"))[
        "devices@acme.example"
    ]
    token = await gql.token_for("devices@acme.example")
    # when
    result = await gql(
        QUERY_REVOKE, {"input": {"membershipId": manager["id"]}}, as_user="admin.fr@acme.example"
    )
    # then
    assert result.data["revokeMembership"] == {
        "revokedMembershipId": manager["id"],
        "userErrors": [],
    }
    viewer = await gql(QUERY_VIEWER, token=token)
    assert viewer.data["viewer"]["memberships"] == []
    assert await audit_actions(
        mail_sessionmaker,
        "Membership",
        parse_global_id(manager["id"])[1],  # type: ignore[index]
    ) == ["membership.revoke"]


@pytest.mark.postgres
async def test_concurrent_demotions_keep_one_administrator(
    settings: Settings, engine: AsyncEngine
) -> None:
    # given: an account with exactly two administrators, committed
    committed = create_sessionmaker(engine)
    tag = uuid.uuid4().hex[:8]
    password = "race-condition-99"
    async with committed() as session, session.begin():
        account = Account(
            name=f"Race {tag}",
            customer_account_number=f"R-{tag}",
            system_account_number=f"RS-{tag}",
            country="FR",
        )
        users = [
            User(
                email=f"{who}-{tag}@race.example",
                name=who,
                password_hash=hash_password(password),
                email_confirmed_at=clock.now(),
            )
            for who in ("ann", "bob")
        ]
        session.add_all([account, *users])
        await session.flush()
        memberships = [
            Membership(user_id=u.id, account_id=account.id, role=Role.ADMINISTRATOR) for u in users
        ]
        session.add_all(memberships)
        await session.flush()
        account_id, user_ids = account.id, [u.id for u in users]
        membership_ids = [m.id for m in memberships]
    app = create_app(settings, sessionmaker=committed)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as http:
            gql = GraphQLClient(http)
            tokens = [(await gql.login(u.email, password))["accessToken"] for u in users]
            # when: each demotes the other at the same time
            results = await asyncio.gather(
                *(
                    gql(
                        QUERY_UPDATE,
                        {
                            "input": {
                                "membershipId": global_id("Membership", other),
                                "role": "DEVICE_MANAGER",
                            }
                        },
                        token=token,
                    )
                    for token, other in zip(tokens, reversed(membership_ids), strict=True)
                )
            )
        # then
        outcomes = sorted(
            [e["code"] for e in r.data["updateMembership"]["userErrors"]] for r in results
        )
        # The loser is refused: LAST_ADMINISTRATOR, or NOT_FOUND when its own demotion was
        # already committed as its request started (it no longer manages the account).
        assert outcomes in ([[], ["LAST_ADMINISTRATOR"]], [[], ["NOT_FOUND"]])
        async with committed() as session:
            admins = await session.scalar(
                select(func.count()).where(
                    Membership.account_id == account_id,
                    Membership.role == Role.ADMINISTRATOR,
                    Membership.status == MembershipStatus.ACTIVE,
                )
            )
        assert admins == 1
    finally:
        async with committed() as session, session.begin():
            await remove_committed_account(session, account_id, user_ids)


async def test_group_administrator_sees_sub_account_members_but_not_the_reverse(
    gql: GraphQLClient, mail_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    # given
    acme = await account_by_number(mail_sessionmaker, "C-100000")
    acme_it = await account_by_number(mail_sessionmaker, "C-100200")
    # when
    italy = await _members(gql, acme_it.global_id, "admin@acme.example")
    parent = await gql(QUERY_MEMBERS, {"id": acme.global_id}, as_user="admin.fr@acme.example")
    # then
    stock = italy["stock@acme.example"]
    assert stock["role"] == "STOCK_MANAGER" and len(stock["stockLocations"]) == 1
    assert parent.data["node"] is None


async def test_revoke_membership_requires_permission(
    gql: GraphQLClient, mail_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    # given
    acme_fr = await account_by_number(mail_sessionmaker, "C-100100")
    members = await _members(gql, acme_fr.global_id, "admin.fr@acme.example")
    variables = {"input": {"membershipId": members["devices@acme.example"]["id"]}}
    # when / then: an administrator of another account finds no such membership
    result = await gql(QUERY_REVOKE, variables, as_user="admin@globex.example")
    assert result.data["revokeMembership"]["userErrors"][0]["code"] == "NOT_FOUND"
    # when / then: who manages users nowhere has no revokeMembership in its schema
    for outsider in ("kb@acme.example", "stock@acme.example", "agent@vendor.example"):
        result = await gql(QUERY_REVOKE, variables, as_user=outsider)
        assert result.data is None, outsider
        assert set(result.error_codes) == set(NOT_IN_SCHEMA), (outsider, result.errors)
        assert "revokeMembership" not in fields_of(outsider, "Mutation"), outsider
    anonymous = await gql(QUERY_REVOKE, variables)
    assert anonymous.error_codes == ["UNAUTHENTICATED"]
    assert "path" not in anonymous.errors[0]
    # then: still a member
    after = await _members(gql, acme_fr.global_id, "admin.fr@acme.example")
    assert "devices@acme.example" in after
