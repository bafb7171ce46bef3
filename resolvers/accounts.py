"""Accounts: the scoped, filtered and keyset-paged list, and `updateAccount`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import strawberry
from sqlalchemy import or_, select

import i18n
from auth.policy import Permission
from core.errors import UserError
from models import Account
from resolvers.pagination import Page, PageRequest, SortField, paginate
from resolvers.search import contains
from resolvers.versioned import row_to_update, write_versioned

if TYPE_CHECKING:
    from resolvers.context import Context


class AccountFilter(Protocol):
    """What the accounts list reads of its filter."""

    @property
    def search(self) -> str | None: ...
    @property
    def account_number(self) -> str | None: ...
    @property
    def root_only(self) -> bool: ...


class AccountChanges(Protocol):
    """What `updateAccount` reads of its input (fields left out are UNSET)."""

    @property
    def id(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def name(self) -> str | None: ...
    @property
    def language(self) -> str | None: ...
    @property
    def country(self) -> str | None: ...


def account_tree(account_ids: Sequence[int], name: str = "account_tree") -> Any:
    """Recursive CTE of the given accounts and all their descendants (a group's filter
    covers its subsidiaries)."""
    tree = select(Account.id).where(Account.id.in_(list(account_ids))).cte(name, recursive=True)
    return tree.union_all(select(Account.id).join(tree, Account.parent_id == tree.c.id))


async def account_connection(
    context: Context,
    *,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    filter: AccountFilter | None,
) -> Page:
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
    return await paginate(context.session, stmt, sort, PageRequest(first, after, last, before))


async def update_account(context: Context, input: AccountChanges) -> Account:
    """Raises `UserError` (NOT_FOUND, STALE_VERSION, VALUE_REQUIRED, VALUE_TOO_LONG,
    UNSUPPORTED_LANGUAGE, INVALID_COUNTRY) or `Forbidden`; an account the viewer cannot see
    answers like a missing one."""
    scope = await context.require_scope()
    row = await row_to_update(
        context,
        Account,
        input.id,
        scope.accounts_clause(),
        lambda account: scope.permissions_on_account(account.id),
        Permission.UPDATE_ACCOUNT,
        input.version,
    )

    changes: dict[str, Any] = {}
    if input.name is not strawberry.UNSET:
        name = (input.name or "").strip()
        if not name:
            raise UserError("VALUE_REQUIRED", "name")
        if len(name) > 200:
            raise UserError("VALUE_TOO_LONG", "name", max=200)
        changes["name"] = name
    if input.language is not strawberry.UNSET:
        language = (input.language or "").strip().lower()
        if language not in i18n.SUPPORTED:
            raise UserError("UNSUPPORTED_LANGUAGE", "language")
        changes["language"] = language
    if input.country is not strawberry.UNSET:
        country = (input.country or "").strip().upper()
        if len(country) != 2 or not country.isascii() or not country.isalpha():
            raise UserError("INVALID_COUNTRY", "country")
        changes["country"] = country
    changes = {name: value for name, value in changes.items() if getattr(row, name) != value}
    return await write_versioned(context, row, input.version, changes, "account.update")
