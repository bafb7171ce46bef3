"""Reads of sites: the scoped, filtered and keyset-paged list."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import select

from core.ids import decode_id
from models import Account, Site
from resolvers.accounts import account_tree
from resolvers.pagination import Page, PageRequest, SortField, paginate
from resolvers.search import contains

if TYPE_CHECKING:
    from resolvers.context import Context


class SiteFilter(Protocol):
    """What the sites list reads of its filter."""

    @property
    def account_ids(self) -> Sequence[str] | None: ...
    @property
    def country(self) -> str | None: ...
    @property
    def search(self) -> str | None: ...


async def site_connection(
    context: Context,
    *,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    filter: SiteFilter | None,
) -> Page:
    scope = await context.require_scope()
    visible = select(Account.id).where(scope.accounts_clause())
    stmt = select(Site).where(Site.account_id.in_(visible))
    if filter is not None:
        if filter.account_ids is not None:
            ids = [decode_id(i, "Account", language=context.language) for i in filter.account_ids]
            tree = account_tree(ids)
            stmt = stmt.where(Site.account_id.in_(select(tree.c.id)))
        if filter.country:
            stmt = stmt.where(Site.country == filter.country.strip().upper())
        if filter.search and filter.search.strip():
            stmt = stmt.where(
                contains(Site.name, filter.search) | contains(Site.city, filter.search)
            )
    sort = [SortField(Site.name, "str"), SortField(Site.id, "int")]
    return await paginate(context.session, stmt, sort, PageRequest(first, after, last, before))
