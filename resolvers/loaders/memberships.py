"""Loaders for memberships (with their user), assignments and invitations.

Memberships are visible on accounts where the viewer holds VIEW_MEMBERS; invitations where it
holds MANAGE_USERS. Assigned devices and stock locations are filtered by the viewer's scope."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, false, select, true

from auth.policy import Permission
from models import (
    Device,
    Invitation,
    Membership,
    MembershipDevice,
    MembershipStockLocation,
    StockLocation,
    User,
)
from resolvers.loaders.base import ContextLoader, GroupedLoader
from resolvers.scoping import Scope


def accounts_where(scope: Scope, permission: Permission, column: Any) -> ColumnElement[bool]:
    """`column` (an account id) is one the viewer holds `permission` on."""
    if permission in scope.global_permissions:
        return true()
    ids = sorted(scope.accounts_with(permission))
    return column.in_(ids) if ids else false()


def memberships_clause(scope: Scope) -> ColumnElement[bool]:
    return accounts_where(scope, Permission.VIEW_MEMBERS, Membership.account_id)


def invitations_clause(scope: Scope) -> ColumnElement[bool]:
    return accounts_where(scope, Permission.MANAGE_USERS, Invitation.account_id)


class MembershipByIdLoader(ContextLoader):
    """(Membership, User) by membership id, or None when out of scope."""

    async def batch_load_fn(self, keys: Sequence[int]) -> list[tuple[Membership, User] | None]:
        scope = await self.context.scope()
        rows = await self.context.session.execute(
            select(Membership, User)
            .join(User, User.id == Membership.user_id)
            .where(Membership.id.in_(keys), memberships_clause(scope))
        )
        by_id = {m.id: (m, u) for m, u in rows.tuples()}
        return [by_id.get(key) for key in keys]


class MembershipsByAccountIdLoader(GroupedLoader[tuple[Membership, User]]):
    """Every membership of an account (active, pending access requests, rejected), by name."""

    def statement(self, keys: Sequence[Any], scope: Scope) -> Select[Any]:
        stmt = (
            select(Membership, User)
            .join(User, User.id == Membership.user_id)
            .where(Membership.account_id.in_(keys), memberships_clause(scope))
            .order_by(User.name, User.id)
        )
        return cast(Select[Any], stmt)

    def group_key(self, row: Any) -> Any:
        return row[0].account_id


class AssignedDevicesByMembershipIdLoader(GroupedLoader[tuple[int, Device]]):
    """Devices assigned to a membership, as far as the viewer may see them."""

    def statement(self, keys: Sequence[Any], scope: Scope) -> Select[Any]:
        stmt = (
            select(MembershipDevice.membership_id, Device)
            .join(Device, Device.id == MembershipDevice.device_id)
            .where(MembershipDevice.membership_id.in_(keys), scope.devices_clause())
            .order_by(Device.serial_number)
        )
        return cast(Select[Any], stmt)

    def group_key(self, row: Any) -> Any:
        return row[0]


class AssignedStockLocationsByMembershipIdLoader(GroupedLoader[tuple[int, StockLocation]]):
    """Stock locations assigned to a membership, as far as the viewer may see them."""

    def statement(self, keys: Sequence[Any], scope: Scope) -> Select[Any]:
        stmt = (
            select(MembershipStockLocation.membership_id, StockLocation)
            .join(StockLocation, StockLocation.id == MembershipStockLocation.stock_location_id)
            .where(MembershipStockLocation.membership_id.in_(keys), scope.stock_locations_clause())
            .order_by(StockLocation.name, StockLocation.id)
        )
        return cast(Select[Any], stmt)

    def group_key(self, row: Any) -> Any:
        return row[0]


class InvitationByIdLoader(ContextLoader):
    async def batch_load_fn(self, keys: Sequence[int]) -> list[Invitation | None]:
        scope = await self.context.scope()
        rows = await self.context.session.scalars(
            select(Invitation).where(Invitation.id.in_(keys), invitations_clause(scope))
        )
        by_id = {row.id: row for row in rows}
        return [by_id.get(key) for key in keys]


class InvitationsByAccountIdLoader(GroupedLoader[Invitation]):
    """Invitations of an account, newest first."""

    def statement(self, keys: Sequence[Any], scope: Scope) -> Select[Any]:
        return (
            select(Invitation)
            .where(Invitation.account_id.in_(keys), invitations_clause(scope))
            .order_by(Invitation.created_at.desc(), Invitation.id.desc())
        )

    def group_key(self, row: Any) -> Any:
        return row[0].account_id
