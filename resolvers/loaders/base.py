"""Loader bases: one `select ... where key in (...)` per batch, results in key order.

Loaders that return rows the viewer might not see apply the scope inside the SQL, so an object
out of scope is simply missing (None), whatever path led to it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from aiodataloader import DataLoader
from sqlalchemy import ColumnElement, Select, select, true

if TYPE_CHECKING:
    from resolvers.context import Context
    from resolvers.scoping import Scope

RowT = TypeVar("RowT")


class ContextLoader(DataLoader[Any, Any]):
    def __init__(self, context: Context) -> None:
        super().__init__()
        self.context = context


class ByIdLoader(ContextLoader, Generic[RowT]):
    """Rows by primary key, filtered by `scope_clause` (no filter for reference data)."""

    model: ClassVar[Any]

    def scope_clause(self, scope: Scope) -> ColumnElement[bool]:
        return true()

    async def batch_load_fn(self, keys: Sequence[int]) -> list[RowT | None]:
        scope = await self.context.scope()
        stmt = select(self.model).where(self.model.id.in_(keys), self.scope_clause(scope))
        by_id = {row.id: row for row in await self.context.session.scalars(stmt)}
        return [by_id.get(key) for key in keys]


class GroupedLoader(ContextLoader, Generic[RowT]):
    """One-to-many: `statement(keys)` selects rows whose `group_key(row)` is one of the keys."""

    def statement(self, keys: Sequence[Any], scope: Scope) -> Select[Any]:
        raise NotImplementedError

    def group_key(self, row: Any) -> Any:
        raise NotImplementedError

    async def batch_load_fn(self, keys: Sequence[Any]) -> list[list[RowT]]:
        scope = await self.context.scope()
        groups: dict[Any, list[RowT]] = defaultdict(list)
        for row in (await self.context.session.execute(self.statement(keys, scope))).all():
            groups[self.group_key(row)].append(row[0] if len(row) == 1 else row)
        return [groups.get(key, []) for key in keys]
