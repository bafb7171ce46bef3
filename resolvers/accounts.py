"""Reads of accounts: the scoped, filtered and keyset-paged list."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select

from models import Account
from resolvers.pagination import PageRequest, SortField, paginate
from resolvers.search import contains
from schema.pagination import Connection

if TYPE_CHECKING:
    from schema.accounts import AccountFilter
    from schema.context import Info


async def account_connection(
    info: Info,
    *,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    filter: AccountFilter | None,
) -> Connection[Any]:
    from schema.accounts import Account as AccountType
    from schema.accounts import AccountConnection

    context = info.context
    scope = await context.require_scope()
    stmt = select(Account).where(scope.accounts_clause())
    if filter is not None:
        if filter.search:
            stmt = stmt.where(contains(Account.name, filter.search))
        if filter.account_number:
            number = filter.account_number.strip()
            stmt = stmt.where(
                or_(
                    Account.customer_account_number == number,
                    Account.system_account_number == number,
                )
            )
        if filter.root_only:
            visible = select(Account.id).where(scope.accounts_clause())
            stmt = stmt.where(or_(Account.parent_id.is_(None), Account.parent_id.not_in(visible)))
    sort = [SortField(Account.name, "str"), SortField(Account.id, "int")]
    return await paginate(
        context.session,
        stmt,
        sort,
        PageRequest(first, after, last, before),
        wrap=AccountType.from_row,
        connection=AccountConnection,
    )
