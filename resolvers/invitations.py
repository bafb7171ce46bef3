"""Invitations: an administrator invites a colleague by e-mail with a role and assigned devices
or stock locations; the one-time link in the mail creates the user (confirmed: the mail proved
the address) or adds the membership to an existing one. Invitations expire, and can be resent
(a new link; the old one stops working) or revoked."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

import i18n
from auth.passwords import hash_password
from auth.tokens import hash_secret, new_opaque_token
from core import clock
from core.errors import UserError
from core.ids import decode_id_or_none
from mail import enqueue_mail
from mail.templates import INVITATION
from models import Account, Device, Invitation, Membership, StockLocation, User
from models.enums import MembershipStatus, Role
from resolvers.audit import audit
from resolvers.loaders.memberships import invitations_clause
from resolvers.memberships import (
    Assignments,
    lock_account,
    require_manage_users,
    set_assignments,
    validate_assignments,
)
from resolvers.one_time import spend
from resolvers.registration import (
    format_expiry,
    validate_email,
    validate_language,
    validate_name,
    validate_password,
)
from resolvers.scoping import Scope

if TYPE_CHECKING:
    from resolvers.context import Context


def _link(context: Context, token: str) -> str:
    return f"{context.settings.public_url}/accept-invitation?token={token}"


def _inviter_name(scope: Scope) -> str:
    return scope.user.name if scope.user is not None else "The portal"


async def invite_user(
    context: Context,
    *,
    account_id: str,
    email: str,
    role: Role,
    device_ids: Sequence[Any] | None,
    stock_location_ids: Sequence[Any] | None,
    language: str | None,
) -> Invitation:
    session = context.session
    scope = await context.require_scope()
    pk = decode_id_or_none(account_id, "Account")
    visible = None
    if pk is not None:
        visible = await session.scalar(
            select(Account.id).where(Account.id == pk, scope.accounts_clause())
        )
    if visible is None:
        raise UserError("NOT_FOUND", "accountId")
    require_manage_users(context, scope, visible)
    email = validate_email(email)
    account = await lock_account(context, visible)
    if account is None:  # deleted meanwhile
        raise UserError("NOT_FOUND", "accountId")

    user = await session.scalar(select(User).where(func.lower(User.email) == email))
    if user is not None:
        status = await session.scalar(
            select(Membership.status).where(
                Membership.user_id == user.id, Membership.account_id == account.id
            )
        )
        if status == MembershipStatus.ACTIVE:
            raise UserError("ALREADY_MEMBER", "email")
    open_invitation = await session.scalar(
        select(Invitation.id).where(
            Invitation.account_id == account.id,
            Invitation.email == email,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
            Invitation.expires_at > clock.now(),
        )
    )
    if open_invitation is not None:
        raise UserError("ALREADY_INVITED", "email")
    assignments = await validate_assignments(
        context, scope, account.id, role, device_ids or [], stock_location_ids or []
    )
    token = new_opaque_token()
    invitation = Invitation(
        account_id=account.id,
        email=email,
        role=role,
        device_ids=assignments.device_ids or [],
        stock_location_ids=assignments.stock_location_ids or [],
        language=user.language
        if user is not None
        else validate_language(language, account.language),
        token_hash=hash_secret(token),
        invited_by_user_id=scope.user_id,
        expires_at=clock.now() + timedelta(seconds=context.settings.invitation_ttl_seconds),
        sent_count=1,
    )
    session.add(invitation)
    await session.flush()
    _mail(context, scope, invitation, account, token)
    audit(
        context,
        "invitation.create",
        "Invitation",
        invitation.id,
        {
            "accountId": account.id,
            "email": email,
            "role": role.value,
            "deviceIds": invitation.device_ids,
            "stockLocationIds": invitation.stock_location_ids,
        },
    )
    return invitation


def _mail(
    context: Context, scope: Scope, invitation: Invitation, account: Account, token: str
) -> None:
    enqueue_mail(
        context.session,
        to=invitation.email,
        language=invitation.language,
        template=INVITATION,
        params={
            "inviter": _inviter_name(scope),
            "account_name": account.name,
            "role": i18n.role_label(invitation.role, invitation.language),
            "link": _link(context, token),
            "expires_at": format_expiry(invitation.expires_at),
        },
    )


async def _managed_invitation(context: Context, invitation_id: str) -> tuple[Scope, Invitation]:
    scope = await context.require_scope()
    pk = decode_id_or_none(invitation_id, "Invitation")
    invitation = None
    if pk is not None:
        invitation = await context.session.scalar(
            select(Invitation).where(Invitation.id == pk, invitations_clause(scope))
        )
    if invitation is None:
        raise UserError("NOT_FOUND", "invitationId")
    if invitation.accepted_at is not None or invitation.revoked_at is not None:
        raise UserError("INVITATION_NOT_PENDING", "invitationId")
    return scope, invitation


async def resend_invitation(context: Context, invitation_id: str) -> Invitation:
    scope, invitation = await _managed_invitation(context, invitation_id)
    account = await context.session.get(Account, invitation.account_id)
    assert account is not None
    token = new_opaque_token()
    invitation.token_hash = hash_secret(token)
    invitation.expires_at = clock.now() + timedelta(seconds=context.settings.invitation_ttl_seconds)
    invitation.sent_count += 1
    _mail(context, scope, invitation, account, token)
    audit(
        context,
        "invitation.resend",
        "Invitation",
        invitation.id,
        {"sentCount": invitation.sent_count},
    )
    await context.session.flush()
    return invitation


async def revoke_invitation(context: Context, invitation_id: str) -> Invitation:
    _, invitation = await _managed_invitation(context, invitation_id)
    invitation.revoked_at = clock.now()
    audit(context, "invitation.revoke", "Invitation", invitation.id, {"email": invitation.email})
    await context.session.flush()
    return invitation


async def accept_invitation(
    context: Context, *, token: str, name: str | None, password: str | None
) -> tuple[User, bool]:
    """Returns the user and whether it was created."""
    session = context.session
    moment = clock.now()
    invitation = await session.scalar(
        select(Invitation).where(Invitation.token_hash == hash_secret(token.strip()))
    )
    if invitation is None or invitation.accepted_at or invitation.revoked_at:
        raise UserError("INVALID_TOKEN", "token")
    if invitation.expires_at <= moment:
        raise UserError("INVITATION_EXPIRED", "token")
    claimed = await spend(
        session,
        Invitation.accepted_at,
        moment,
        Invitation.id == invitation.id,
        Invitation.revoked_at.is_(None),
        Invitation.token_hash == invitation.token_hash,
    )
    if not claimed:  # accepted or revoked concurrently
        raise UserError("INVALID_TOKEN", "token")
    account = await lock_account(context, invitation.account_id)
    if account is None:  # invitations go with their account; this is a deletion in flight
        raise UserError("INVALID_TOKEN", "token")

    user = await session.scalar(select(User).where(func.lower(User.email) == invitation.email))
    created = user is None
    if user is None:
        user = User(
            email=invitation.email,
            name=validate_name(name),
            password_hash=hash_password(
                validate_password(password, invitation.email, context.settings)
            ),
            language=invitation.language,
            email_confirmed_at=moment,
        )
        session.add(user)
        await session.flush()
    elif user.email_confirmed_at is None:
        user.email_confirmed_at = moment  # the mail proved the address

    membership = await session.scalar(
        select(Membership).where(Membership.user_id == user.id, Membership.account_id == account.id)
    )
    if membership is not None and membership.status == MembershipStatus.ACTIVE:
        raise UserError("ALREADY_MEMBER", "token")
    if membership is None:
        membership = Membership(user_id=user.id, account_id=account.id, role=invitation.role)
        session.add(membership)
    else:  # an open access request or an earlier rejection: the invitation decides
        membership.role = invitation.role
        membership.version += 1
    membership.status = MembershipStatus.ACTIVE
    await session.flush()
    # Devices or stock locations may have left the account since the invitation was sent.
    devices = list(
        await session.scalars(
            select(Device.id).where(
                Device.id.in_(invitation.device_ids or []), Device.account_id == account.id
            )
        )
    )
    locations = list(
        await session.scalars(
            select(StockLocation.id).where(
                StockLocation.id.in_(invitation.stock_location_ids or []),
                StockLocation.account_id == account.id,
            )
        )
    )
    await set_assignments(context, membership.id, Assignments(sorted(devices), sorted(locations)))
    audit(
        context,
        "invitation.accept",
        "Invitation",
        invitation.id,
        {"userId": user.id, "membershipId": membership.id, "newUser": created},
        user_id=user.id,
    )
    return user, created
