"""inviteUser / acceptInvitation / resendInvitation / revokeInvitation and Account.invitations,
with the invitation mails read from a real SMTP server."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import clock
from core.ids import global_id, parse_global_id
from models import Invitation, User
from tests.audiences import fields_of
from tests.graphql import NOT_IN_SCHEMA, GraphQLClient
from tests.identity.conftest import Inbox, account_by_number, audit_actions, body_of, token_in

QUERY_INVITE = """
mutation Invite($input: InviteUserInput!) {
  inviteUser(input: $input) {
    invitation { id email role status sentCount deviceIds language account { name } }
    userErrors { field code message }
  }
}
"""

QUERY_ACCEPT = """
mutation Accept($input: AcceptInvitationInput!) {
  acceptInvitation(input: $input) { accepted email newUser userErrors { field code message } }
}
"""

QUERY_RESEND = """
mutation Resend($input: InvitationIdInput!) {
  resendInvitation(input: $input) { invitation { status sentCount } userErrors { code } }
}
"""

QUERY_REVOKE = """
mutation Revoke($input: InvitationIdInput!) {
  revokeInvitation(input: $input) { invitation { status } userErrors { code } }
}
"""

QUERY_INVITATIONS = """
query Invitations($id: ID!) {
  node(id: $id) { ... on Account { invitations { email status role } } }
}
"""

QUERY_LOGIN = """
mutation Login($input: LoginInput!) { login(input: $input) { accessToken userErrors { code } } }
"""

QUERY_VIEWER = "{ viewer { memberships { role account { name } } } }"
QUERY_DEVICES = "{ devices(first: 50) { edges { node { id } } } }"

PASSWORD = "green-lantern-77"
Deliver = Callable[[], Awaitable[Inbox]]


def _invite(account_gid: str, email: str, role: str = "DEVICE_MANAGER", **extra: object) -> dict:
    return {"input": {"accountId": account_gid, "email": email, "role": role, **extra}}


async def test_invited_person_becomes_a_confirmed_user_with_assigned_devices(
    gql: GraphQLClient, deliver_mail: Deliver, mail_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    # given
    acme_fr = await account_by_number(mail_sessionmaker, "C-100100")
    devices = [global_id("Device", d) for d in acme_fr.device_ids[:3]]
    # when
    invited = await gql(
        QUERY_INVITE,
        _invite(acme_fr.global_id, "Colette@Acme.example", deviceIds=devices),
        as_user="admin.fr@acme.example",
    )
    # then
    payload = invited.data["inviteUser"]
    assert payload["userErrors"] == []
    invitation = payload["invitation"]
    assert invitation["email"] == "colette@acme.example"
    assert (invitation["status"], invitation["sentCount"], invitation["language"]) == (
        "PENDING",
        1,
        "fr",  # the account's language
    )
    assert sorted(invitation["deviceIds"]) == sorted(devices)
    inbox = await deliver_mail()
    message = inbox.only("colette@acme.example")
    assert message["Subject"] == "Vous êtes invité(e) sur le portail libre-service de Acme France"
    assert "François Admin" in body_of(message) and "/accept-invitation?token=" in body_of(message)

    # when: the link is followed
    accepted = await gql(
        QUERY_ACCEPT,
        {"input": {"token": token_in(message), "name": "Colette", "password": PASSWORD}},
    )
    # then
    assert accepted.data["acceptInvitation"] == {
        "accepted": True,
        "email": "colette@acme.example",
        "newUser": True,
        "userErrors": [],
    }
    login = await gql(
        QUERY_LOGIN, {"input": {"email": "colette@acme.example", "password": PASSWORD}}
    )
    token = login.data["login"]["accessToken"]
    seen = await gql(QUERY_DEVICES, token=token)
    assert sorted(e["node"]["id"] for e in seen.data["devices"]["edges"]) == sorted(devices)
    listed = await gql(
        QUERY_INVITATIONS, {"id": acme_fr.global_id}, as_user="admin.fr@acme.example"
    )
    assert {"email": "colette@acme.example", "status": "ACCEPTED", "role": "DEVICE_MANAGER"} in (
        listed.data["node"]["invitations"]
    )
    invitation_pk = parse_global_id(invitation["id"])[1]  # type: ignore[index]
    assert await audit_actions(mail_sessionmaker, "Invitation", invitation_pk) == [
        "invitation.create",
        "invitation.accept",
    ]


async def test_invitation_adds_the_membership_to_an_existing_user(
    gql: GraphQLClient, deliver_mail: Deliver, mail_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    # given: the knowledge user of the group is invited to manage Acme Italia's stock
    acme_it = await account_by_number(mail_sessionmaker, "C-100200")
    # when
    invited = await gql(
        QUERY_INVITE,
        _invite(acme_it.global_id, "kb@acme.example", role="ADMINISTRATOR"),
        as_user="admin@acme.example",  # administrator of the group: sub-accounts included
    )
    assert invited.data["inviteUser"]["userErrors"] == []
    inbox = await deliver_mail()
    message = inbox.only("kb@acme.example")
    assert message["Content-Language"] == "en"  # the person's own language
    accepted = await gql(QUERY_ACCEPT, {"input": {"token": token_in(message)}})
    # then
    assert accepted.data["acceptInvitation"]["newUser"] is False
    viewer = await gql(QUERY_VIEWER, token=(await gql.login("kb@acme.example"))["accessToken"])
    assert {"role": "ADMINISTRATOR", "account": {"name": "Acme Italia"}} in viewer.data["viewer"][
        "memberships"
    ]


async def test_invite_user_requires_permission(
    gql: GraphQLClient, mail_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    # given
    acme = await account_by_number(mail_sessionmaker, "C-100000")
    acme_fr = await account_by_number(mail_sessionmaker, "C-100100")
    # when / then: sees the account but holds MANAGE_USERS nowhere: neither the mutation nor
    # its input type is in its schema, refused before anything runs
    for viewer in ("devices@acme.example", "agent@vendor.example"):
        result = await gql(
            QUERY_INVITE, _invite(acme_fr.global_id, "x@acme.example"), as_user=viewer
        )
        assert result.data is None, viewer
        assert set(result.error_codes) == set(NOT_IN_SCHEMA), (viewer, result.errors)
        assert "inviteUser" not in fields_of(viewer, "Mutation"), viewer
    # when / then: cannot see the account: as if it did not exist
    for viewer, account in (
        ("admin@globex.example", acme_fr),
        ("admin.fr@acme.example", acme),  # a sub-account's administrator, not the group's
    ):
        result = await gql(
            QUERY_INVITE, _invite(account.global_id, "x@acme.example"), as_user=viewer
        )
        assert result.data["inviteUser"]["userErrors"][0]["code"] == "NOT_FOUND"
    missing = await gql(
        QUERY_INVITE,
        _invite(global_id("Account", 999999), "x@acme.example"),
        as_user="admin@globex.example",
    )
    assert missing.data["inviteUser"]["userErrors"][0]["code"] == "NOT_FOUND"
    async with mail_sessionmaker() as session:
        assert (
            await session.scalar(select(Invitation).where(Invitation.email == "x@acme.example"))
            is None
        )
    anonymous = await gql(QUERY_INVITE, _invite(acme_fr.global_id, "x@acme.example"))
    assert anonymous.error_codes == ["UNAUTHENTICATED"]
    async with mail_sessionmaker() as session:
        assert (
            await session.scalar(select(Invitation).where(Invitation.email == "x@acme.example"))
            is None
        )


async def test_assigned_devices_and_stock_locations_must_belong_to_the_account(
    gql: GraphQLClient, mail_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    # given
    acme_fr = await account_by_number(mail_sessionmaker, "C-100100")
    acme_it = await account_by_number(mail_sessionmaker, "C-100200")
    globex = await account_by_number(mail_sessionmaker, "C-200000")
    own = global_id("Device", acme_fr.device_ids[0])
    cases = [
        (
            global_id("Device", acme_it.device_ids[0]),
            "DEVICE_NOT_IN_ACCOUNT",
        ),  # visible, other account
        (global_id("Device", globex.device_ids[0]), "DEVICE_NOT_IN_ACCOUNT"),  # invisible
        (global_id("Device", 999999), "DEVICE_NOT_IN_ACCOUNT"),  # missing
    ]
    for foreign, code in cases:
        # when
        result = await gql(
            QUERY_INVITE,
            _invite(acme_fr.global_id, "d@acme.example", deviceIds=[own, foreign]),
            as_user="admin@acme.example",
        )
        # then
        [error] = result.data["inviteUser"]["userErrors"]
        assert (error["code"], error["field"]) == (code, ["deviceIds", "1"])
    # when: a role that does not work on assigned devices
    result = await gql(
        QUERY_INVITE,
        _invite(acme_fr.global_id, "d@acme.example", role="ADMINISTRATOR", deviceIds=[own]),
        as_user="admin@acme.example",
    )
    assert result.data["inviteUser"]["userErrors"][0]["code"] == "ASSIGNMENTS_NOT_FOR_ROLE"
    bad_location = await gql(
        QUERY_INVITE,
        _invite(
            acme_fr.global_id,
            "d@acme.example",
            role="STOCK_MANAGER",
            stockLocationIds=[global_id("StockLocation", 999999)],
        ),
        as_user="admin@acme.example",
    )
    assert (
        bad_location.data["inviteUser"]["userErrors"][0]["code"] == "STOCK_LOCATION_NOT_IN_ACCOUNT"
    )


async def test_duplicate_invitations_and_members_are_refused(
    gql: GraphQLClient, mail_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    # given
    acme_fr = await account_by_number(mail_sessionmaker, "C-100100")
    await gql(
        QUERY_INVITE,
        _invite(acme_fr.global_id, "twice@acme.example"),
        as_user="admin.fr@acme.example",
    )
    # when
    again = await gql(
        QUERY_INVITE,
        _invite(acme_fr.global_id, "TWICE@acme.example"),
        as_user="admin.fr@acme.example",
    )
    member = await gql(
        QUERY_INVITE,
        _invite(acme_fr.global_id, "devices@acme.example"),
        as_user="admin.fr@acme.example",
    )
    # then
    assert again.data["inviteUser"]["userErrors"][0]["code"] == "ALREADY_INVITED"
    assert member.data["inviteUser"]["userErrors"][0]["code"] == "ALREADY_MEMBER"


async def test_resend_replaces_the_link_and_revoke_stops_it(
    gql: GraphQLClient, deliver_mail: Deliver, mail_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    # given
    acme_fr = await account_by_number(mail_sessionmaker, "C-100100")
    invited = await gql(
        QUERY_INVITE, _invite(acme_fr.global_id, "re@acme.example"), as_user="admin.fr@acme.example"
    )
    invitation_id = invited.data["inviteUser"]["invitation"]["id"]
    first_token = token_in((await deliver_mail()).only("re@acme.example"))
    # when
    resent = await gql(
        QUERY_RESEND, {"input": {"invitationId": invitation_id}}, as_user="admin.fr@acme.example"
    )
    # then
    assert resent.data["resendInvitation"] == {
        "invitation": {"status": "PENDING", "sentCount": 2},
        "userErrors": [],
    }
    mails = (await deliver_mail()).to("re@acme.example")
    assert len(mails) == 2
    second_token = token_in(mails[1])
    old = await gql(
        QUERY_ACCEPT, {"input": {"token": first_token, "name": "Re", "password": PASSWORD}}
    )
    assert old.data["acceptInvitation"]["userErrors"][0]["code"] == "INVALID_TOKEN"

    # when: revoked
    revoked = await gql(
        QUERY_REVOKE, {"input": {"invitationId": invitation_id}}, as_user="admin.fr@acme.example"
    )
    # then
    assert revoked.data["revokeInvitation"] == {
        "invitation": {"status": "REVOKED"},
        "userErrors": [],
    }
    late = await gql(
        QUERY_ACCEPT, {"input": {"token": second_token, "name": "Re", "password": PASSWORD}}
    )
    assert late.data["acceptInvitation"]["userErrors"][0]["code"] == "INVALID_TOKEN"
    resend_revoked = await gql(
        QUERY_RESEND, {"input": {"invitationId": invitation_id}}, as_user="admin.fr@acme.example"
    )
    assert (
        resend_revoked.data["resendInvitation"]["userErrors"][0]["code"] == "INVITATION_NOT_PENDING"
    )
    assert await audit_actions(
        mail_sessionmaker,
        "Invitation",
        parse_global_id(invitation_id)[1],  # type: ignore[index]
    ) == ["invitation.create", "invitation.resend", "invitation.revoke"]


async def test_resend_and_revoke_require_permission(
    gql: GraphQLClient, mail_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    # given
    acme_fr = await account_by_number(mail_sessionmaker, "C-100100")
    invited = await gql(
        QUERY_INVITE,
        _invite(acme_fr.global_id, "keep@acme.example"),
        as_user="admin.fr@acme.example",
    )
    variables = {"input": {"invitationId": invited.data["inviteUser"]["invitation"]["id"]}}
    for outsider in ("devices@acme.example", "agent@vendor.example"):
        # when
        resent = await gql(QUERY_RESEND, variables, as_user=outsider)
        revoked = await gql(QUERY_REVOKE, variables, as_user=outsider)
        # then: who manages users nowhere has neither mutation in its schema
        for result in (resent, revoked):
            assert result.data is None, outsider
            assert set(result.error_codes) == set(NOT_IN_SCHEMA), (outsider, result.errors)
        assert {"resendInvitation", "revokeInvitation"}.isdisjoint(fields_of(outsider, "Mutation"))
    # when
    resent = await gql(QUERY_RESEND, variables, as_user="admin@globex.example")
    revoked = await gql(QUERY_REVOKE, variables, as_user="admin@globex.example")
    # then: who manages users of another account only: invitations are only visible to those
    # who manage this one's users
    assert resent.data["resendInvitation"]["userErrors"][0]["code"] == "NOT_FOUND"
    assert revoked.data["revokeInvitation"]["userErrors"][0]["code"] == "NOT_FOUND"
    listed = await gql(
        QUERY_INVITATIONS, {"id": acme_fr.global_id}, as_user="admin.fr@acme.example"
    )
    assert {"email": "keep@acme.example", "status": "PENDING", "role": "DEVICE_MANAGER"} in (
        listed.data["node"]["invitations"]
    )


async def test_account_invitations_requires_permission(
    gql: GraphQLClient, mail_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    # given
    acme_fr = await account_by_number(mail_sessionmaker, "C-100100")
    for viewer in ("devices@acme.example", "agent@vendor.example"):
        # when
        result = await gql(QUERY_INVITATIONS, {"id": acme_fr.global_id}, as_user=viewer)
        # then: both see the account, but hold MANAGE_USERS nowhere: no `invitations` in
        # their schema
        assert result.data is None, viewer
        assert result.error_codes == NOT_IN_SCHEMA, (viewer, result.errors)
        assert "invitations" not in fields_of(viewer, "Account"), viewer
        assert "name" in fields_of(viewer, "Account"), viewer


async def test_expired_invitation_cannot_be_accepted(
    gql: GraphQLClient, deliver_mail: Deliver, mail_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    # given
    acme_fr = await account_by_number(mail_sessionmaker, "C-100100")
    await gql(
        QUERY_INVITE,
        _invite(acme_fr.global_id, "old@acme.example"),
        as_user="admin.fr@acme.example",
    )
    token = token_in((await deliver_mail()).only("old@acme.example"))
    async with mail_sessionmaker() as session, session.begin():
        await session.execute(
            update(Invitation)
            .where(Invitation.email == "old@acme.example")
            .values(expires_at=clock.now() - timedelta(seconds=1))
        )
    # when
    result = await gql(
        QUERY_ACCEPT, {"input": {"token": token, "name": "Old", "password": PASSWORD}}
    )
    # then
    assert result.data["acceptInvitation"]["userErrors"][0]["code"] == "INVITATION_EXPIRED"
    listed = await gql(
        QUERY_INVITATIONS, {"id": acme_fr.global_id}, as_user="admin.fr@acme.example"
    )
    assert {"email": "old@acme.example", "status": "EXPIRED", "role": "DEVICE_MANAGER"} in (
        listed.data["node"]["invitations"]
    )
    async with mail_sessionmaker() as session:
        assert await session.scalar(select(User).where(User.email == "old@acme.example")) is None


async def test_new_user_needs_a_name_and_a_good_password(
    gql: GraphQLClient, deliver_mail: Deliver, mail_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    # given
    acme_fr = await account_by_number(mail_sessionmaker, "C-100100")
    await gql(
        QUERY_INVITE,
        _invite(acme_fr.global_id, "new@acme.example"),
        as_user="admin.fr@acme.example",
    )
    token = token_in((await deliver_mail()).only("new@acme.example"))
    # when
    no_name = await gql(QUERY_ACCEPT, {"input": {"token": token, "password": PASSWORD}})
    weak = await gql(QUERY_ACCEPT, {"input": {"token": token, "name": "N", "password": "short"}})
    ok = await gql(QUERY_ACCEPT, {"input": {"token": token, "name": "N", "password": PASSWORD}})
    # then: the refused attempts did not use up the invitation
    assert no_name.data["acceptInvitation"]["userErrors"][0]["code"] == "NAME_REQUIRED"
    assert weak.data["acceptInvitation"]["userErrors"][0]["code"] == "PASSWORD_TOO_SHORT"
    assert ok.data["acceptInvitation"]["accepted"] is True
