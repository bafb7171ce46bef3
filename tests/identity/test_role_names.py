"""Role names people read: invitation and approval mails (read from a real SMTP server) and
user errors name the role in the reader's language, never by its enum value."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import i18n
from core.ids import global_id
from models.enums import Role
from tests.graphql import GraphQLClient
from tests.identity.conftest import Inbox, account_by_number, body_of, token_in

ADMIN_FR = "admin.fr@acme.example"
PASSWORD = "quiet-meadow-58"
Deliver = Callable[[], Awaitable[Inbox]]

QUERY_INVITE = """
mutation Invite($input: InviteUserInput!) {
  inviteUser(input: $input) { invitation { language } userErrors { field code message } }
}
"""

QUERY_REGISTER = """
mutation Register($input: RegisterInput!) {
  register(input: $input) { userErrors { field code message } }
}
"""

QUERY_CONFIRM = """
mutation Confirm($input: ConfirmEmailInput!) {
  confirmEmail(input: $input) { accessStatus userErrors { code } }
}
"""

QUERY_MEMBERS = """
query Members($id: ID!) {
  node(id: $id) { ... on Account { members { id status user { email } } } }
}
"""

QUERY_APPROVE = """
mutation Approve($input: ApproveAccessRequestInput!) {
  approveAccessRequest(input: $input) { membership { role } userErrors { field code message } }
}
"""


@pytest.mark.parametrize(
    ("language", "role", "label"),
    [
        ("fr", "DEVICE_STOCK_MANAGER", "Gestionnaire des stocks et périphériques"),
        ("fr", "DEVICE_MANAGER", "Gestionnaire des périphériques"),
        ("it", "ADMINISTRATOR", "Amministratore"),
        ("it", "KNOWLEDGE_USER", "Knowledge User"),
        ("en", "STOCK_MANAGER", "Stock manager"),
    ],
)
async def test_invitation_mail_names_the_role_in_its_language(
    gql: GraphQLClient,
    deliver_mail: Deliver,
    mail_sessionmaker: async_sessionmaker[AsyncSession],
    language: str,
    role: str,
    label: str,
) -> None:
    # given
    acme_fr = await account_by_number(mail_sessionmaker, "C-100100")
    address = f"invited.{language}@acme.example"
    # when
    invited = await gql(
        QUERY_INVITE,
        {
            "input": {
                "accountId": acme_fr.global_id,
                "email": address,
                "role": role,
                "language": language,
            }
        },
        as_user=ADMIN_FR,
    )
    inbox = await deliver_mail()
    # then
    assert invited.data["inviteUser"]["userErrors"] == []
    message = inbox.only(address)
    assert message["Content-Language"] == language
    body = body_of(message)
    assert f": {label})" in body, body
    assert role not in body


@pytest.mark.parametrize(
    ("language", "label"),
    [("fr", "Gestionnaire des périphériques"), ("it", "Device Manager")],
)
async def test_approval_mail_names_the_role_in_the_requesters_language(
    gql: GraphQLClient,
    deliver_mail: Deliver,
    mail_sessionmaker: async_sessionmaker[AsyncSession],
    language: str,
    label: str,
) -> None:
    # given: someone registers at Acme France in `language` and confirms the address
    acme_fr = await account_by_number(mail_sessionmaker, "C-100100")
    address = f"requester.{language}@acme.example"
    registered = await gql(
        QUERY_REGISTER,
        {
            "input": {
                "email": address,
                "name": "Rosa Requester",
                "password": PASSWORD,
                "customerAccountNumber": acme_fr.customer_account_number,
                "deviceSerialNumber": acme_fr.serial_number,
                "language": language,
            }
        },
    )
    assert registered.data["register"]["userErrors"] == []
    token = token_in((await deliver_mail()).only(address))
    confirmed = await gql(QUERY_CONFIRM, {"input": {"token": token}})
    assert confirmed.data["confirmEmail"]["accessStatus"] == "PENDING"
    members = await gql(QUERY_MEMBERS, {"id": acme_fr.global_id}, as_user=ADMIN_FR)
    request_id = next(
        m["id"] for m in members.data["node"]["members"] if m["user"]["email"] == address
    )
    # when
    approved = await gql(
        QUERY_APPROVE,
        {
            "input": {
                "membershipId": request_id,
                "role": "DEVICE_MANAGER",
                "deviceIds": [global_id("Device", acme_fr.device_ids[0])],
            }
        },
        as_user=ADMIN_FR,
    )
    inbox = await deliver_mail()
    # then
    assert approved.data["approveAccessRequest"]["userErrors"] == []
    [message] = [m for m in inbox.to(address) if "token=" not in body_of(m)]
    assert message["Content-Language"] == language
    body = body_of(message)
    assert f": {label})" in body, body
    assert "DEVICE_MANAGER" not in body


async def test_user_errors_name_the_role_in_the_callers_language(
    gql: GraphQLClient, mail_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    # given
    acme_fr = await account_by_number(mail_sessionmaker, "C-100100")
    # when: devices assigned to a role that does not work on assigned devices
    result = await gql(
        QUERY_INVITE,
        {
            "input": {
                "accountId": acme_fr.global_id,
                "email": "wrong.role@acme.example",
                "role": "ADMINISTRATOR",
                "deviceIds": [global_id("Device", acme_fr.device_ids[0])],
            }
        },
        as_user=ADMIN_FR,
        headers={"Accept-Language": "it"},
    )
    # then
    [error] = result.data["inviteUser"]["userErrors"]
    assert error["code"] == "ASSIGNMENTS_NOT_FOR_ROLE"
    assert "Amministratore" in error["message"] and "ADMINISTRATOR" not in error["message"]


def test_every_role_has_a_name_in_every_language() -> None:
    for role in Role:
        for language in i18n.SUPPORTED:
            label = i18n.role_label(role, language)
            assert label and label != role.value, (role, language)
    assert i18n.role_label(Role.DEVICE_MANAGER, "de") == "Device manager"
