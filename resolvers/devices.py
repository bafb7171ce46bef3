"""Reads of devices: the scoped, filtered and keyset-paged list."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select

from models import Account, Device
from resolvers.pagination import PageRequest, SortField, paginate
from resolvers.search import contains
from schema.node import decode_id
from schema.pagination import Connection

if TYPE_CHECKING:
    from schema.context import Info
    from schema.devices import DeviceFilter


def account_tree(account_ids: Sequence[int]) -> Any:
    """Subquery of the given accounts and all their descendants."""
    tree = select(Account.id).where(Account.id.in_(account_ids)).cte("account_tree", recursive=True)
    return tree.union_all(select(Account.id).join(tree, Account.parent_id == tree.c.id))


async def device_connection(
    info: Info,
    *,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    filter: DeviceFilter | None,
    account_ids: Sequence[int] | None = None,
    site_ids: Sequence[int] | None = None,
) -> Connection[Any]:
    from schema.devices import Device as DeviceType
    from schema.devices import DeviceConnection

    context = info.context
    scope = await context.require_scope()
    stmt = select(Device).where(scope.devices_clause())
    language = context.language
    if account_ids is not None:
        stmt = stmt.where(Device.account_id.in_(account_ids))
    if site_ids is not None:
        stmt = stmt.where(Device.site_id.in_(site_ids))
    if filter is not None:
        if filter.account_ids is not None:
            ids = [decode_id(i, "Account", language=language) for i in filter.account_ids]
            tree = account_tree(ids)
            stmt = stmt.where(Device.account_id.in_(select(tree.c.id)))
        if filter.site_ids is not None:
            stmt = stmt.where(
                Device.site_id.in_(
                    [decode_id(i, "Site", language=language) for i in filter.site_ids]
                )
            )
        if filter.statuses is not None:
            stmt = stmt.where(Device.status.in_(filter.statuses))
        if filter.e_maintenance is not None:
            stmt = stmt.where(Device.e_maintenance.is_(filter.e_maintenance))
        if filter.search:
            stmt = stmt.where(
                or_(
                    contains(Device.serial_number, filter.search),
                    contains(Device.asset_tag, filter.search),
                    contains(Device.location_description, filter.search),
                )
            )
    sort = [SortField(Device.serial_number, "str"), SortField(Device.id, "int")]
    return await paginate(
        context.session,
        stmt,
        sort,
        PageRequest(first, after, last, before),
        wrap=DeviceType.from_row,
        connection=DeviceConnection,
    )
