"""Memberships: who holds which role on an account, with which devices and stock locations.

Administrators (holders of MANAGE_USERS on the account, which includes sub-accounts of their
own) change roles and assignments, revoke memberships and decide on access requests. An account
is never left without an active member holding MANAGE_USERS: every change that could remove the
last one locks the account row first (SELECT ... FOR UPDATE on PostgreSQL), so two concurrent
demotions cannot both pass the check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, insert, or_, select

import i18n
from auth.policy import (
    ACCOUNT_MANAGER_ROLES,
    GROUP_MANAGER_ROLES,
    Permission,
    role_permissions,
)
from core.errors import Forbidden, UserError
from core.ids import decode_id_or_none
from mail import enqueue_mail
from mail.templates import ACCESS_APPROVED, ACCESS_REJECTED
from models import (
    Account,
    Device,
    Membership,
    MembershipDevice,
    MembershipStockLocation,
    StockLocation,
    User,
)
from models.enums import MembershipStatus, Role
from resolvers.audit import audit
from resolvers.loaders.memberships import memberships_clause
from resolvers.scoping import Scope

if TYPE_CHECKING:
    from resolvers.context import Context

P = Permission


@dataclass(frozen=True)
class Assignments:
    """Validated database keys; None means "leave as it is"."""

    device_ids: list[int] | None
    stock_location_ids: list[int] | None


def require_manage_users(context: Context, scope: Scope, account_id: int) -> None:
    if P.MANAGE_USERS not in scope.permissions_on_account(account_id):
        raise Forbidden(language=context.language, required=P.MANAGE_USERS.value)


async def lock_account(context: Context, account_id: int) -> Account | None:
    """Serialises every membership change of one account (no-op lock on SQLite, which runs one
    writer at a time anyway)."""
    return await context.session.scalar(
        select(Account)
        .where(Account.id == account_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def account_and_ancestors(context: Context, account_id: int) -> list[int]:
    up = select(Account.id, Account.parent_id).where(Account.id == account_id).cte(recursive=True)
    up = up.union_all(select(Account.id, Account.parent_id).join(up, Account.id == up.c.parent_id))
    return list(await context.session.scalars(select(up.c.id)))


async def administrators_of(context: Context, account_id: int) -> list[User]:
    """People who may decide on the account's access requests: its own administrators and
    those of the groups above it."""
    ancestors = [a for a in await account_and_ancestors(context, account_id) if a != account_id]
    clauses = [_on_account(account_id, ACCOUNT_MANAGER_ROLES)]
    if ancestors:
        clauses.append(
            Membership.account_id.in_(ancestors) & Membership.role.in_(GROUP_MANAGER_ROLES)
        )
    rows = await context.session.scalars(
        select(User)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.status == MembershipStatus.ACTIVE, User.is_active, or_(*clauses))
        .distinct()
        .order_by(User.id)
    )
    return list(rows)


def _on_account(account_id: int, roles: Sequence[Role]) -> Any:
    return (Membership.account_id == account_id) & Membership.role.in_(roles)


async def active_managers(
    context: Context, account_id: int, *, excluding: int | None = None
) -> int:
    stmt = select(func.count()).where(
        _on_account(account_id, ACCOUNT_MANAGER_ROLES), Membership.status == MembershipStatus.ACTIVE
    )
    if excluding is not None:
        stmt = stmt.where(Membership.id != excluding)
    return int(await context.session.scalar(stmt) or 0)


async def validate_assignments(
    context: Context,
    scope: Scope,
    account_id: int,
    role: Role,
    device_ids: Sequence[Any] | None,
    stock_location_ids: Sequence[Any] | None,
) -> Assignments:
    """Assigned objects must belong to the account and be visible to the viewer; a role that
    does not reach objects by assignment takes none."""
    perms = role_permissions(role)
    devices = await _validate(
        context,
        device_ids,
        "Device",
        "deviceIds",
        "DEVICE_NOT_IN_ACCOUNT",
        P.VIEW_ASSIGNED_DEVICES in perms,
        role,
        lambda pks: select(Device.id).where(
            Device.id.in_(pks), Device.account_id == account_id, scope.devices_clause()
        ),
    )
    locations = await _validate(
        context,
        stock_location_ids,
        "StockLocation",
        "stockLocationIds",
        "STOCK_LOCATION_NOT_IN_ACCOUNT",
        P.VIEW_ASSIGNED_STOCK_LOCATIONS in perms,
        role,
        lambda pks: select(StockLocation.id).where(
            StockLocation.id.in_(pks),
            StockLocation.account_id == account_id,
            scope.stock_locations_clause(),
        ),
    )
    return Assignments(devices, locations)


async def _validate(
    context: Context,
    raw_ids: Sequence[Any] | None,
    type_name: str,
    field: str,
    code: str,
    applicable: bool,
    role: Role,
    query: Any,
) -> list[int] | None:
    if raw_ids is None:
        return None
    if raw_ids and not applicable:
        raise UserError(
            "ASSIGNMENTS_NOT_FOR_ROLE", field, role=i18n.role_label(role, context.language)
        )
    pks = [decode_id_or_none(str(raw), type_name) for raw in raw_ids]
    known = [pk for pk in pks if pk is not None]
    found = set(await context.session.scalars(query(known))) if known else set()
    for index, pk in enumerate(pks):
        if pk is None or pk not in found:
            raise UserError(code, [field, str(index)])
    return sorted(set(known))


async def set_assignments(context: Context, membership_id: int, assignments: Assignments) -> None:
    session = context.session
    if assignments.device_ids is not None:
        await session.execute(
            delete(MembershipDevice).where(MembershipDevice.membership_id == membership_id)
        )
        if assignments.device_ids:
            await session.execute(
                insert(MembershipDevice),
                [{"membership_id": membership_id, "device_id": d} for d in assignments.device_ids],
            )
    if assignments.stock_location_ids is not None:
        await session.execute(
            delete(MembershipStockLocation).where(
                MembershipStockLocation.membership_id == membership_id
            )
        )
        if assignments.stock_location_ids:
            await session.execute(
                insert(MembershipStockLocation),
                [
                    {"membership_id": membership_id, "stock_location_id": s}
                    for s in assignments.stock_location_ids
                ],
            )


def clear_unused(role: Role, assignments: Assignments) -> Assignments:
    """A role that does not reach objects by assignment keeps none (e.g. after a promotion)."""
    perms = role_permissions(role)
    return Assignments(
        assignments.device_ids if P.VIEW_ASSIGNED_DEVICES in perms else [],
        assignments.stock_location_ids if P.VIEW_ASSIGNED_STOCK_LOCATIONS in perms else [],
    )


async def managed_membership(context: Context, membership_id: str) -> tuple[Scope, Membership]:
    """The membership, locked together with its account; NOT_FOUND when the viewer cannot see
    it, FORBIDDEN when it sees it but may not manage users there."""
    scope = await context.require_scope()
    pk = decode_id_or_none(membership_id, "Membership")
    visible = None
    if pk is not None:
        visible = await context.session.scalar(
            select(Membership.account_id).where(Membership.id == pk, memberships_clause(scope))
        )
    if visible is None:
        raise UserError("NOT_FOUND", "membershipId")
    require_manage_users(context, scope, visible)
    await lock_account(context, visible)
    membership = await context.session.scalar(
        select(Membership)
        .where(Membership.id == pk)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if membership is None:  # revoked meanwhile
        raise UserError("NOT_FOUND", "membershipId")
    return scope, membership


async def _user(context: Context, user_id: int) -> User:
    user = await context.session.get(User, user_id)
    assert user is not None
    return user


async def update_membership(
    context: Context,
    membership_id: str,
    role: Role | None,
    device_ids: Sequence[Any] | None,
    stock_location_ids: Sequence[Any] | None,
    version: int | None,
) -> tuple[Membership, User]:
    scope, membership = await managed_membership(context, membership_id)
    if version is not None and membership.version != version:
        raise UserError("STALE_VERSION", "version")
    if membership.status != MembershipStatus.ACTIVE:
        raise UserError("MEMBERSHIP_NOT_ACTIVE", "membershipId")
    previous = membership.role
    new_role = role or previous
    if (
        previous in ACCOUNT_MANAGER_ROLES
        and new_role not in ACCOUNT_MANAGER_ROLES
        and await active_managers(context, membership.account_id, excluding=membership.id) == 0
    ):
        raise UserError("LAST_ADMINISTRATOR", "role")
    assignments = await validate_assignments(
        context, scope, membership.account_id, new_role, device_ids, stock_location_ids
    )
    if new_role != previous:
        assignments = clear_unused(new_role, assignments)
    await set_assignments(context, membership.id, assignments)
    membership.role = new_role
    membership.version += 1
    audit(
        context,
        "membership.update",
        "Membership",
        membership.id,
        {
            "role": new_role.value,
            "previousRole": previous.value,
            "deviceIds": assignments.device_ids,
            "stockLocationIds": assignments.stock_location_ids,
        },
    )
    await context.session.flush()
    return membership, await _user(context, membership.user_id)


async def revoke_membership(context: Context, membership_id: str) -> int:
    _, membership = await managed_membership(context, membership_id)
    if (
        membership.status == MembershipStatus.ACTIVE
        and membership.role in ACCOUNT_MANAGER_ROLES
        and await active_managers(context, membership.account_id, excluding=membership.id) == 0
    ):
        raise UserError("LAST_ADMINISTRATOR", "membershipId")
    account = await context.session.get(Account, membership.account_id)  # locked above
    if account is not None and account.main_contact_user_id == membership.user_id:
        account.main_contact_user_id = None
    audit(
        context,
        "membership.revoke",
        "Membership",
        membership.id,
        {
            "userId": membership.user_id,
            "accountId": membership.account_id,
            "role": membership.role.value,
            "status": membership.status.value,
        },
    )
    await context.session.delete(membership)
    await context.session.flush()
    return membership.id


async def decide_access_request(
    context: Context,
    membership_id: str,
    *,
    approve: bool,
    role: Role | None = None,
    device_ids: Sequence[Any] | None = None,
    stock_location_ids: Sequence[Any] | None = None,
) -> tuple[Membership, User]:
    scope, membership = await managed_membership(context, membership_id)
    if membership.status != MembershipStatus.PENDING:
        raise UserError("ACCESS_REQUEST_NOT_PENDING", "membershipId")
    user = await _user(context, membership.user_id)
    account = await context.session.get(Account, membership.account_id)
    assert account is not None
    if approve:
        assert role is not None
        assignments = await validate_assignments(
            context, scope, membership.account_id, role, device_ids or [], stock_location_ids or []
        )
        await set_assignments(context, membership.id, assignments)
        membership.role = role
        membership.status = MembershipStatus.ACTIVE
        params = {"role": i18n.role_label(role, user.language), "link": context.settings.public_url}
        details: dict[str, Any] = {
            "role": role.value,
            "deviceIds": assignments.device_ids,
            "stockLocationIds": assignments.stock_location_ids,
        }
    else:
        membership.status = MembershipStatus.REJECTED
        params, details = {}, {}
    membership.version += 1
    enqueue_mail(
        context.session,
        to=user.email,
        language=user.language,
        template=ACCESS_APPROVED if approve else ACCESS_REJECTED,
        params={"name": user.name, "account_name": account.name, **params},
    )
    audit(
        context,
        "access_request.approve" if approve else "access_request.reject",
        "Membership",
        membership.id,
        {"userId": user.id, "accountId": account.id, **details},
    )
    await context.session.flush()
    return membership, user
