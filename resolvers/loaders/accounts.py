"""Loaders for accounts, sites and contracts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, select

from models import Account, Contract, Payment, Site
from resolvers.loaders.base import ByIdLoader, GroupedLoader
from resolvers.scoping import Scope


class AccountByIdLoader(ByIdLoader[Account]):
    model = Account

    def scope_clause(self, scope: Scope) -> ColumnElement[bool]:
        return scope.accounts_clause()


class SiteByIdLoader(ByIdLoader[Site]):
    """Sites are visible with their account."""

    model = Site

    def scope_clause(self, scope: Scope) -> ColumnElement[bool]:
        return scope.accounts_clause(Site.account_id)


class ContractByIdLoader(ByIdLoader[Contract]):
    model = Contract

    def scope_clause(self, scope: Scope) -> ColumnElement[bool]:
        return scope.accounts_clause(Contract.account_id)


class ChildAccountsByParentIdLoader(GroupedLoader[Account]):
    def statement(self, keys: Sequence[Any], scope: Scope) -> Select[Any]:
        return (
            select(Account)
            .where(Account.parent_id.in_(keys), scope.accounts_clause())
            .order_by(Account.name, Account.id)
        )

    def group_key(self, row: Any) -> Any:
        return row[0].parent_id


class SitesByAccountIdLoader(GroupedLoader[Site]):
    def statement(self, keys: Sequence[Any], scope: Scope) -> Select[Any]:
        return select(Site).where(Site.account_id.in_(keys)).order_by(Site.name, Site.id)

    def group_key(self, row: Any) -> Any:
        return row[0].account_id


class ContractsByAccountIdLoader(GroupedLoader[Contract]):
    def statement(self, keys: Sequence[Any], scope: Scope) -> Select[Any]:
        return (
            select(Contract)
            .where(Contract.account_id.in_(keys))
            .order_by(Contract.ends_on.desc(), Contract.id)
        )

    def group_key(self, row: Any) -> Any:
        return row[0].account_id


class PaymentsByAccountIdLoader(GroupedLoader[Payment]):
    def statement(self, keys: Sequence[Any], scope: Scope) -> Select[Any]:
        return (
            select(Payment)
            .where(Payment.account_id.in_(keys))
            .order_by(Payment.due_on.desc(), Payment.id)
        )

    def group_key(self, row: Any) -> Any:
        return row[0].account_id


class DescendantAccountsByAccountIdLoader(GroupedLoader[Account]):
    """All accounts below each key (any depth) that the viewer may see: one recursive query."""

    def statement(self, keys: Sequence[Any], scope: Scope) -> Select[Any]:
        tree = (
            select(Account.id.label("root_id"), Account.id.label("account_id"))
            .where(Account.id.in_(keys))
            .cte("descendant_tree", recursive=True)
        )
        tree = tree.union_all(
            select(tree.c.root_id, Account.id).join(Account, Account.parent_id == tree.c.account_id)
        )
        return (
            select(Account, tree.c.root_id)
            .join(tree, tree.c.account_id == Account.id)
            .where(tree.c.account_id != tree.c.root_id, scope.accounts_clause())
            .order_by(tree.c.root_id, Account.name, Account.id)
        )

    def group_key(self, row: Any) -> Any:
        return row[1]

    async def batch_load_fn(self, keys: Sequence[Any]) -> list[list[Account]]:
        groups = await super().batch_load_fn(keys)
        return [[entry[0] for entry in group] for group in groups]  # type: ignore[index]
