"""register / confirmEmail / approveAccessRequest / rejectAccessRequest through the endpoint,
with the mails read from a real SMTP server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app import create_app
from auth.tokens import hash_secret
from core import clock
from core.ids import global_id, parse_global_id
from models import Account, Membership, OneTimeToken, OutboxMessage, User
from models.enums import MembershipStatus, TokenPurpose
from models.session import create_sessionmaker
from settings import Settings
from tests.audiences import fields_of
from tests.graphql import NOT_IN_SCHEMA, GraphQLClient
from tests.identity.conftest import (
    AccountFixture,
    Inbox,
    account_by_number,
    audit_actions,
    body_of,
    remove_committed_account,
    token_in,
)

QUERY_REGISTER = """
mutation Register($input: RegisterInput!) {
  register(input: $input) { email userErrors { field code message } }
}
"""

QUERY_CONFIRM = """
mutation Confirm($input: ConfirmEmailInput!) {
  confirmEmail(input: $input) { confirmed accessStatus role userErrors { field code message } }
}
"""

QUERY_LOGIN = """
mutation Login($input: LoginInput!) {
  login(input: $input) { accessToken userErrors { code } }
}
"""

QUERY_VIEWER = """
{ viewer { user { email } memberships { role account { name } } } }
"""

# (the account of a membership is in the schemas of those who may see accounts)
QUERY_VIEWER_ROLES = """
{ viewer { user { email } memberships { role } } }
"""

QUERY_MEMBERS = """
query Members($id: ID!) {
  node(id: $id) {
    ... on Account { members { id role status user { email } devices { serialNumber } } }
  }
}
"""

QUERY_APPROVE = """
mutation Approve($input: ApproveAccessRequestInput!) {
  approveAccessRequest(input: $input) {
    membership { role status devices { id } }
    userErrors { field code message }
  }
}
"""

QUERY_REJECT = """
mutation Reject($input: RejectAccessRequestInput!) {
  rejectAccessRequest(input: $input) {
    membership { status }
    userErrors { field code message }
  }
}
"""

QUERY_DEVICES = """
{ devices(first: 50) { totalCount edges { node { id } } } }
"""

PASSWORD = "blue-harbour-42"
Deliver = Callable[[], Awaitable[Inbox]]


def _input(account: AccountFixture, email: str, **extra: str) -> dict[str, object]:
    return {
        "email": email,
        "name": "Rita Register",
        "password": PASSWORD,
        "customerAccountNumber": account.customer_account_number,
        "deviceSerialNumber": account.serial_number,
        **extra,
    }


async def _register_and_confirm(
    gql: GraphQLClient, deliver_mail: Deliver, account: AccountFixture, email: str
) -> dict[str, object]:
    result = await gql(QUERY_REGISTER, {"input": _input(account, email)})
    assert result.data["register"]["userErrors"] == []
    inbox = await deliver_mail()
    token = token_in(inbox.only(email))
    confirmed = await gql(QUERY_CONFIRM, {"input": {"token": token}})
    payload: dict[str, object] = confirmed.data["confirmEmail"]
    return payload


async def _pierres_access_request(
    gql: GraphQLClient,
    deliver_mail: Deliver,
    mail_sessionmaker: async_sessionmaker[AsyncSession],
    *,
    seen_by: str,
) -> tuple[AccountFixture, str]:
    """Pierre registers and confirms at Acme France; the pending membership as `seen_by` sees it."""
    acme_fr = await account_by_number(mail_sessionmaker, "C-100100")
    await _register_and_confirm(gql, deliver_mail, acme_fr, "pierre@acme.example")
    members = await gql(QUERY_MEMBERS, {"id": acme_fr.global_id}, as_user=seen_by)
    request_id = next(m["id"] for m in members.data["node"]["members"] if m["status"] == "PENDING")
    return acme_fr, request_id


async def test_first_confirmed_user_of_an_unadministered_account_becomes_administrator(
    gql: GraphQLClient,
    deliver_mail: Deliver,
    orphan_account: AccountFixture,
    mail_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    # given
    email = "Rita.Register@Initech.example"
    # when
    result = await gql(QUERY_REGISTER, {"input": _input(orphan_account, email, language="it")})
    # then: registered, lower-cased, and a confirmation mail in Italian arrived
    assert result.data["register"] == {"email": "rita.register@initech.example", "userErrors": []}
    inbox = await deliver_mail()
    message = inbox.only("rita.register@initech.example")
    assert message["Subject"] == "Conferma il tuo indirizzo e-mail"
    assert "Initech" in body_of(message)
    assert "/confirm-email?token=" in body_of(message)
    token = token_in(message)

    # and: cannot sign in before confirming
    login = await gql(QUERY_LOGIN, {"input": {"email": email, "password": PASSWORD}})
    assert login.data["login"]["userErrors"] == [{"code": "INVALID_CREDENTIALS"}]

    # when: the link is followed
    confirmed = await gql(QUERY_CONFIRM, {"input": {"token": token}})

    # then
    assert confirmed.data["confirmEmail"] == {
        "confirmed": True,
        "accessStatus": "ACTIVE",
        "role": "ADMINISTRATOR",
        "userErrors": [],
    }
    login = await gql(QUERY_LOGIN, {"input": {"email": email, "password": PASSWORD}})
    viewer = await gql(QUERY_VIEWER, token=login.data["login"]["accessToken"])
    assert viewer.data["viewer"]["memberships"] == [
        {"role": "ADMINISTRATOR", "account": {"name": "Initech"}}
    ]
    async with mail_sessionmaker() as session:
        user = await session.scalar(
            select(User).where(User.email == "rita.register@initech.example")
        )
        assert user is not None and user.email_confirmed_at is not None
        account = await session.get(Account, orphan_account.id)
        assert account is not None and account.main_contact_user_id == user.id
    assert await audit_actions(mail_sessionmaker, "User", user.id) == [
        "user.register",
        "user.confirm_email",
        "login",
    ]


async def test_registration_to_an_administered_account_is_an_access_request(
    gql: GraphQLClient, deliver_mail: Deliver, mail_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    # given: Acme France, administered by admin.fr (and by the group administrator)
    acme_fr = await account_by_number(mail_sessionmaker, "C-100100")
    # when
    confirmed = await _register_and_confirm(gql, deliver_mail, acme_fr, "pierre@acme.example")
    # then
    assert confirmed == {
        "confirmed": True,
        "accessStatus": "PENDING",
        "role": None,
        "userErrors": [],
    }
    inbox = await deliver_mail()
    to_fr = inbox.only("admin.fr@acme.example")
    assert to_fr["Subject"] == "Demande d'accès pour Acme France"
    assert "pierre@acme.example" in body_of(to_fr)
    assert inbox.only("admin@acme.example")["Subject"] == "Access request for Acme France"
    # and: the requester has no access yet
    login = await gql(
        QUERY_LOGIN, {"input": {"email": "pierre@acme.example", "password": PASSWORD}}
    )
    token = login.data["login"]["accessToken"]
    viewer = await gql(QUERY_VIEWER_ROLES, token=token)
    assert viewer.data["viewer"] == {"user": {"email": "pierre@acme.example"}, "memberships": []}
    # (holding nothing anywhere, not even a membership's account is in its schema)
    with_accounts = await gql(QUERY_VIEWER, token=token)
    assert with_accounts.data is None
    assert with_accounts.error_codes == NOT_IN_SCHEMA, with_accounts.errors
    # and: the administrators see the request among the members
    members = await gql(QUERY_MEMBERS, {"id": acme_fr.global_id}, as_user="admin.fr@acme.example")
    pending = [m for m in members.data["node"]["members"] if m["status"] == "PENDING"]
    assert [m["user"]["email"] for m in pending] == ["pierre@acme.example"]


async def test_administrator_approves_access_request_with_role_and_devices(
    gql: GraphQLClient, deliver_mail: Deliver, mail_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    # given
    acme_fr, request_id = await _pierres_access_request(
        gql, deliver_mail, mail_sessionmaker, seen_by="admin.fr@acme.example"
    )
    devices = [global_id("Device", d) for d in acme_fr.device_ids[:2]]
    # when
    result = await gql(
        QUERY_APPROVE,
        {"input": {"membershipId": request_id, "role": "DEVICE_MANAGER", "deviceIds": devices}},
        as_user="admin.fr@acme.example",
    )
    # then
    assert result.data["approveAccessRequest"]["userErrors"] == []
    membership = result.data["approveAccessRequest"]["membership"]
    assert (membership["role"], membership["status"]) == ("DEVICE_MANAGER", "ACTIVE")
    assert sorted(d["id"] for d in membership["devices"]) == sorted(devices)
    login = await gql(
        QUERY_LOGIN, {"input": {"email": "pierre@acme.example", "password": PASSWORD}}
    )
    seen = await gql(QUERY_DEVICES, token=login.data["login"]["accessToken"])
    assert sorted(e["node"]["id"] for e in seen.data["devices"]["edges"]) == sorted(devices)
    inbox = await deliver_mail()
    assert any(
        m["Subject"] == "Your access to Acme France is approved"
        for m in inbox.to("pierre@acme.example")
    )
    assert "access_request.approve" in await audit_actions(
        mail_sessionmaker, "Membership", _pk(request_id)
    )


def _pk(gid: str) -> int:
    parsed = parse_global_id(gid)
    assert parsed is not None
    return parsed[1]


async def test_approve_access_request_requires_permission(
    gql: GraphQLClient, deliver_mail: Deliver, mail_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    # given
    _acme_fr, request_id = await _pierres_access_request(
        gql, deliver_mail, mail_sessionmaker, seen_by="admin.fr@acme.example"
    )
    variables = {"input": {"membershipId": request_id, "role": "ADMINISTRATOR"}}
    # when: an administrator of another account, who cannot see this one's members
    result = await gql(QUERY_APPROVE, variables, as_user="admin@globex.example")
    # then: as if it did not exist
    assert result.data["approveAccessRequest"]["userErrors"][0]["code"] == "NOT_FOUND"
    # when: people who manage users nowhere (the agent sees members but may not manage users)
    for outsider in ("devices@acme.example", "kb@acme.example", "agent@vendor.example"):
        result = await gql(QUERY_APPROVE, variables, as_user=outsider)
        # then: neither the mutation nor its input type is in their schema
        assert result.data is None, outsider
        assert set(result.error_codes) == set(NOT_IN_SCHEMA), (outsider, result.errors)
        assert "approveAccessRequest" not in fields_of(outsider, "Mutation"), outsider
    # when: anonymous
    result = await gql(QUERY_APPROVE, variables)
    assert result.error_codes == ["UNAUTHENTICATED"]
    assert "path" not in result.errors[0]
    # then: still pending
    async with mail_sessionmaker() as session:
        status = await session.scalar(
            select(Membership.status).where(Membership.id == _pk(request_id))
        )
    assert status == "PENDING"


async def test_administrator_rejects_access_request(
    gql: GraphQLClient, deliver_mail: Deliver, mail_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    # given
    _acme_fr, request_id = await _pierres_access_request(
        gql, deliver_mail, mail_sessionmaker, seen_by="admin@acme.example"
    )
    # when
    result = await gql(
        QUERY_REJECT, {"input": {"membershipId": request_id}}, as_user="admin@acme.example"
    )
    again = await gql(
        QUERY_REJECT, {"input": {"membershipId": request_id}}, as_user="admin@acme.example"
    )
    # then
    assert result.data["rejectAccessRequest"] == {
        "membership": {"status": "REJECTED"},
        "userErrors": [],
    }
    assert (
        again.data["rejectAccessRequest"]["userErrors"][0]["code"] == "ACCESS_REQUEST_NOT_PENDING"
    )
    inbox = await deliver_mail()
    assert any(
        m["Subject"] == "Your access request for Acme France"
        for m in inbox.to("pierre@acme.example")
    )


async def test_wrong_account_and_serial_pair_gives_one_generic_error(
    gql: GraphQLClient, mail_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    # given
    acme_fr = await account_by_number(mail_sessionmaker, "C-100100")
    globex = await account_by_number(mail_sessionmaker, "C-200000")
    attempts = [
        {"deviceSerialNumber": "NO-SUCH-SERIAL"},
        {"deviceSerialNumber": globex.serial_number},  # a real device of another account
        {"customerAccountNumber": "C-999999"},
    ]
    # when
    answers = [
        await gql(QUERY_REGISTER, {"input": _input(acme_fr, "guess@example.com") | attempt})
        for attempt in attempts
    ]
    # then
    errors = [a.data["register"]["userErrors"] for a in answers]
    assert all(e == errors[0] for e in errors)
    assert errors[0][0]["code"] == "ACCOUNT_NOT_VERIFIED" and errors[0][0]["field"] is None
    async with mail_sessionmaker() as session:
        assert await session.scalar(select(User).where(User.email == "guess@example.com")) is None


async def test_password_policy(
    gql: GraphQLClient, mail_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    # given
    acme_fr = await account_by_number(mail_sessionmaker, "C-100100")
    cases = {
        "short": "PASSWORD_TOO_SHORT",
        "x" * 300: "PASSWORD_TOO_LONG",
        "password123": "PASSWORD_TOO_WEAK",
        "aaaaaaaaaaaa": "PASSWORD_TOO_WEAK",
        "my-pierre.dupont-pw": "PASSWORD_TOO_WEAK",
    }
    for password, code in cases.items():
        # when
        result = await gql(
            QUERY_REGISTER,
            {"input": _input(acme_fr, "pierre.dupont@acme.example", password=password)},
            headers={"Accept-Language": "fr"},
        )
        # then
        [error] = result.data["register"]["userErrors"]
        assert (error["code"], error["field"]) == (code, ["password"])
        assert "mot de passe" in error["message"]


async def test_email_is_unique_whatever_its_case(
    gql: GraphQLClient, mail_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    # given
    acme_fr = await account_by_number(mail_sessionmaker, "C-100100")
    # when
    taken = await gql(QUERY_REGISTER, {"input": _input(acme_fr, "Admin.FR@Acme.example")})
    bad = await gql(QUERY_REGISTER, {"input": _input(acme_fr, "not-an-address")})
    language = await gql(
        QUERY_REGISTER, {"input": _input(acme_fr, "x@acme.example", language="de")}
    )
    # then
    assert taken.data["register"]["userErrors"][0]["code"] == "EMAIL_ALREADY_REGISTERED"
    assert bad.data["register"]["userErrors"][0]["code"] == "INVALID_EMAIL"
    assert language.data["register"]["userErrors"][0]["code"] == "UNSUPPORTED_LANGUAGE"


async def test_confirmation_token_works_once_and_expires(
    gql: GraphQLClient,
    deliver_mail: Deliver,
    orphan_account: AccountFixture,
    mail_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    # given
    await gql(QUERY_REGISTER, {"input": _input(orphan_account, "once@initech.example")})
    await gql(QUERY_REGISTER, {"input": _input(orphan_account, "late@initech.example")})
    inbox = await deliver_mail()
    once = token_in(inbox.only("once@initech.example"))
    late = token_in(inbox.only("late@initech.example"))
    async with mail_sessionmaker() as session, session.begin():
        late_user = await session.scalar(
            select(User.id).where(User.email == "late@initech.example")
        )
        await session.execute(
            update(OneTimeToken)
            .where(OneTimeToken.user_id == late_user)
            .values(expires_at=clock.now() - timedelta(minutes=1))
        )
    # when
    first = await gql(QUERY_CONFIRM, {"input": {"token": once}})
    second = await gql(QUERY_CONFIRM, {"input": {"token": once}})
    expired = await gql(QUERY_CONFIRM, {"input": {"token": late}})
    forged = await gql(QUERY_CONFIRM, {"input": {"token": "not-a-token"}})
    # then
    assert first.data["confirmEmail"]["confirmed"] is True
    assert second.data["confirmEmail"]["userErrors"][0]["code"] == "INVALID_TOKEN"
    assert expired.data["confirmEmail"]["userErrors"][0]["code"] == "TOKEN_EXPIRED"
    assert forged.data["confirmEmail"]["userErrors"][0]["code"] == "INVALID_TOKEN"
    # and: the token is stored hashed only
    async with mail_sessionmaker() as session:
        hashes = list(await session.scalars(select(OneTimeToken.token_hash)))
    assert once not in hashes and late not in hashes


async def test_guessing_account_and_serial_pairs_is_throttled(
    gql: GraphQLClient, mail_sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    # given: as many wrong pairs from one address as allowed
    acme_fr = await account_by_number(mail_sessionmaker, "C-100100")
    for n in range(settings.login_max_failures):
        wrong = _input(acme_fr, f"guess{n}@example.com", deviceSerialNumber=f"GUESS{n}")
        result = await gql(QUERY_REGISTER, {"input": wrong})
        assert result.data["register"]["userErrors"][0]["code"] == "ACCOUNT_NOT_VERIFIED"
    # when: even the right pair now
    result = await gql(QUERY_REGISTER, {"input": _input(acme_fr, "right@example.com")})
    # then
    assert result.error_codes == ["THROTTLED"]


@pytest.mark.postgres
async def test_two_people_confirming_at_once_make_one_administrator(
    settings: Settings, engine: AsyncEngine
) -> None:
    # given: an unadministered account and two registered, unconfirmed people, committed
    committed = create_sessionmaker(engine)
    tag = uuid.uuid4().hex[:8]
    tokens = [f"confirm-{tag}-{n}" for n in range(2)]
    async with committed() as session, session.begin():
        outbox_before = await session.scalar(select(func.coalesce(func.max(OutboxMessage.id), 0)))
        account = Account(
            name=f"Race {tag}",
            customer_account_number=f"R-{tag}",
            system_account_number=f"RS-{tag}",
            country="FR",
        )
        users = [
            User(email=f"p{n}-{tag}@race.example", name=f"P{n}", password_hash=None)
            for n in range(2)
        ]
        session.add_all([account, *users])
        await session.flush()
        session.add_all(
            OneTimeToken(
                user_id=user.id,
                purpose=TokenPurpose.CONFIRM_EMAIL,
                token_hash=hash_secret(token),
                expires_at=clock.now() + timedelta(hours=1),
                payload={"account_id": account.id},
            )
            for user, token in zip(users, tokens, strict=True)
        )
        account_id, user_ids = account.id, [u.id for u in users]
    app = create_app(settings, sessionmaker=committed)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as http:
            gql = GraphQLClient(http)
            # when
            results = await asyncio.gather(
                *(gql(QUERY_CONFIRM, {"input": {"token": token}}) for token in tokens)
            )
        # then
        statuses = sorted(r.data["confirmEmail"]["accessStatus"] for r in results)
        assert statuses == ["ACTIVE", "PENDING"]
        async with committed() as session:
            roles = list(
                await session.scalars(
                    select(Membership.role).where(
                        Membership.account_id == account_id,
                        Membership.status == MembershipStatus.ACTIVE,
                    )
                )
            )
        assert roles == ["ADMINISTRATOR"]
    finally:
        async with committed() as session, session.begin():
            await session.execute(delete(OutboxMessage).where(OutboxMessage.id > outbox_before))
            await remove_committed_account(session, account_id, user_ids)


async def test_reject_access_request_requires_permission(
    gql: GraphQLClient, deliver_mail: Deliver, mail_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    # given
    _acme_fr, request_id = await _pierres_access_request(
        gql, deliver_mail, mail_sessionmaker, seen_by="admin.fr@acme.example"
    )
    variables = {"input": {"membershipId": request_id}}
    # when / then: an administrator of another account finds no such request
    result = await gql(QUERY_REJECT, variables, as_user="admin@globex.example")
    assert result.data["rejectAccessRequest"]["userErrors"][0]["code"] == "NOT_FOUND"
    # when / then: who manages users nowhere has no rejectAccessRequest in its schema
    for outsider in ("devices@acme.example", "agent@vendor.example"):
        result = await gql(QUERY_REJECT, variables, as_user=outsider)
        assert result.data is None, outsider
        assert set(result.error_codes) == set(NOT_IN_SCHEMA), (outsider, result.errors)
        assert "rejectAccessRequest" not in fields_of(outsider, "Mutation"), outsider
    async with mail_sessionmaker() as session:
        status = await session.scalar(
            select(Membership.status).where(Membership.id == _pk(request_id))
        )
    assert status == "PENDING"
