"""Self-registration: a person proves a device serial number of a customer account, confirms
the e-mail address through a one-time link, and then either becomes the administrator of an
account nobody administers yet, or files an access request for its administrators."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

import i18n
from auth.passwords import hash_password
from auth.policy import ACCESS_REQUEST_ROLE, FIRST_USER_ROLE
from auth.tokens import hash_secret, new_opaque_token
from core import clock
from core.errors import UserError
from mail import enqueue_mail
from mail.templates import ACCESS_REQUEST, CONFIRM_EMAIL
from models import Account, Device, Membership, OneTimeToken, User
from models.enums import DeviceStatus, MembershipStatus, Role, TokenPurpose
from resolvers.audit import audit
from resolvers.identity import _check_throttle, _record_failure, client_address
from resolvers.memberships import administrators_of, lock_account
from resolvers.one_time import spend

if TYPE_CHECKING:
    from resolvers.context import Context
    from settings import Settings


EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PASSWORD_MAX_LENGTH = 256
COMMON_PASSWORDS = frozenset(
    {
        "password",
        "password1",
        "password123",
        "passw0rd",
        "123456789",
        "1234567890",
        "12345678910",
        "qwertyuiop",
        "azertyuiop",
        "iloveyou",
        "letmein123",
        "welcome123",
        "motdepasse",
        "changeme123",
        "administrator",
    }
)


def validate_email(raw: str, field: str = "email") -> str:
    email = raw.strip().lower()
    if len(email) > 254 or not EMAIL_PATTERN.match(email):
        raise UserError("INVALID_EMAIL", field)
    return email


def validate_name(raw: str | None, field: str = "name") -> str:
    name = (raw or "").strip()
    if not name or len(name) > 200:
        raise UserError("NAME_REQUIRED", field)
    return name


def validate_password(
    password: str | None, email: str, settings: Settings, field: str = "password"
) -> str:
    password = password or ""
    if len(password) < settings.password_min_length:
        raise UserError("PASSWORD_TOO_SHORT", field, min=settings.password_min_length)
    if len(password) > PASSWORD_MAX_LENGTH:
        raise UserError("PASSWORD_TOO_LONG", field, max=PASSWORD_MAX_LENGTH)
    lowered = password.lower()
    local_part = email.partition("@")[0]
    if (
        lowered in COMMON_PASSWORDS
        or len(set(password)) < 4
        or (len(local_part) >= 4 and local_part in lowered)
    ):
        raise UserError("PASSWORD_TOO_WEAK", field)
    return password


def validate_language(raw: str | None, fallback: str) -> str:
    if raw is None:
        return fallback if fallback in i18n.SUPPORTED else i18n.DEFAULT
    language = raw.strip().lower()
    if language not in i18n.SUPPORTED:
        raise UserError("UNSUPPORTED_LANGUAGE", "language")
    return language


def format_expiry(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


async def register(
    context: Context,
    *,
    email: str,
    name: str,
    password: str,
    customer_account_number: str,
    device_serial_number: str,
    language: str | None,
) -> User:
    settings = context.settings
    session = context.session
    email = validate_email(email)
    name = validate_name(name)
    validate_password(password, email, settings)
    language = validate_language(language, context.language)
    # Wrong pairs count against the caller's address like failed sign-ins: guessing serial
    # numbers is slowed down, then refused for a while (THROTTLED).
    throttle_keys = [f"register:{client_address(context)}"]
    await _check_throttle(context, throttle_keys)

    # One answer for every wrong pair, so the numbers cannot be probed one at a time.
    account = await session.scalar(
        select(Account)
        .join(Device, Device.account_id == Account.id)
        .where(
            Account.customer_account_number == customer_account_number.strip(),
            Device.serial_number == device_serial_number.strip(),
            Device.status != DeviceStatus.REMOVED,
        )
    )
    if account is None:
        await _record_failure(context, throttle_keys)
        raise UserError("ACCOUNT_NOT_VERIFIED")
    if await session.scalar(select(User.id).where(func.lower(User.email) == email)) is not None:
        raise UserError("EMAIL_ALREADY_REGISTERED", "email")

    user = User(email=email, name=name, password_hash=hash_password(password), language=language)
    session.add(user)
    try:
        await session.flush()
    except IntegrityError:  # registered concurrently
        raise UserError("EMAIL_ALREADY_REGISTERED", "email") from None

    token = new_opaque_token()
    expires_at = clock.now() + timedelta(seconds=settings.email_confirmation_ttl_seconds)
    session.add(
        OneTimeToken(
            user_id=user.id,
            purpose=TokenPurpose.CONFIRM_EMAIL,
            token_hash=hash_secret(token),
            expires_at=expires_at,
            payload={"account_id": account.id},
        )
    )
    enqueue_mail(
        session,
        to=email,
        language=language,
        template=CONFIRM_EMAIL,
        params={
            "name": name,
            "account_name": account.name,
            "link": f"{settings.public_url}/confirm-email?token={token}",
            "expires_at": format_expiry(expires_at),
        },
    )
    audit(context, "user.register", "User", user.id, {"accountId": account.id}, user_id=user.id)
    return user


async def confirm_email(
    context: Context, token: str
) -> tuple[User, MembershipStatus | None, Role | None]:
    session = context.session
    moment = clock.now()
    row = await session.scalar(
        select(OneTimeToken).where(
            OneTimeToken.token_hash == hash_secret(token.strip()),
            OneTimeToken.purpose == TokenPurpose.CONFIRM_EMAIL,
        )
    )
    if row is None or row.used_at is not None:
        raise UserError("INVALID_TOKEN", "token")
    if row.expires_at <= moment:
        raise UserError("TOKEN_EXPIRED", "token")
    if not await spend(session, OneTimeToken.used_at, moment, OneTimeToken.id == row.id):
        raise UserError("INVALID_TOKEN", "token")  # used concurrently
    user = await session.get(User, row.user_id)
    if user is None or not user.is_active:
        raise UserError("INVALID_TOKEN", "token")
    user.email_confirmed_at = user.email_confirmed_at or moment

    status: MembershipStatus | None = None
    role: Role | None = None
    account_id = row.payload.get("account_id")
    membership: Membership | None = None
    account = await lock_account(context, int(account_id)) if account_id is not None else None
    if account is not None:
        # Locked, so of two people confirming at once only one becomes the administrator.
        membership = await session.scalar(
            select(Membership).where(
                Membership.user_id == user.id, Membership.account_id == account.id
            )
        )
        if membership is None:
            administrators = await administrators_of(context, account.id)
            if administrators:
                membership = Membership(
                    user_id=user.id,
                    account_id=account.id,
                    role=ACCESS_REQUEST_ROLE,
                    status=MembershipStatus.PENDING,
                )
                for admin in administrators:
                    enqueue_mail(
                        session,
                        to=admin.email,
                        language=admin.language,
                        template=ACCESS_REQUEST,
                        params={
                            "name": admin.name,
                            "requester_name": user.name,
                            "requester_email": user.email,
                            "account_name": account.name,
                        },
                    )
            else:
                membership = Membership(
                    user_id=user.id,
                    account_id=account.id,
                    role=FIRST_USER_ROLE,
                    status=MembershipStatus.ACTIVE,
                )
                if account.main_contact_user_id is None:
                    account.main_contact_user_id = user.id
            session.add(membership)
            await session.flush()
        status = membership.status
        role = membership.role if status == MembershipStatus.ACTIVE else None
    audit(
        context,
        "user.confirm_email",
        "User",
        user.id,
        {
            "accountId": account_id,
            "membershipId": membership.id if membership is not None else None,
            "membershipStatus": status.value if status is not None else None,
        },
        user_id=user.id,
    )
    return user, status, role
