"""Loaders for devices and product models, and for the device lists nested under many
accounts or sites (first pages and counts, one statement per batch)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any, ClassVar

from sqlalchemy import ColumnElement, Select, func, select

from models import Device, ProductModel
from resolvers.loaders.base import ByIdLoader, ContextLoader
from resolvers.pagination import first_pages
from resolvers.scoping import Scope


class DeviceByIdLoader(ByIdLoader[Device]):
    model = Device

    def scope_clause(self, scope: Scope) -> ColumnElement[bool]:
        return scope.devices_clause()


class ProductModelByIdLoader(ByIdLoader[ProductModel]):
    """Product models are reference data, visible to everyone signed in."""

    model = ProductModel


class _DeviceCountLoader(ContextLoader):
    """How many devices the viewer may see per parent: one grouped count per batch."""

    parent: ClassVar[str]  # the Device column naming the parent

    async def batch_load_fn(self, keys: Sequence[int]) -> list[int]:
        scope = await self.context.scope()
        column = getattr(Device, self.parent)
        stmt = (
            select(column, func.count())
            .where(column.in_(keys), scope.devices_clause())
            .group_by(column)
        )
        counts: dict[int, int] = dict((await self.context.session.execute(stmt)).tuples().all())
        return [int(counts.get(key, 0)) for key in keys]


class DeviceCountByAccountIdLoader(_DeviceCountLoader):
    parent = "account_id"


class DeviceCountBySiteIdLoader(_DeviceCountLoader):
    parent = "site_id"


def scoped_devices(scope: Scope) -> Select[Any]:
    return select(Device).where(scope.devices_clause())


class _DevicePageLoader(ContextLoader):
    """First page of the devices of each parent. Key: (parent id, page size, DeviceSort).
    One windowed statement per distinct (page size, sort) in the batch."""

    parent: ClassVar[str]  # the Device column naming the parent

    async def batch_load_fn(self, keys: Sequence[tuple[int, int, Any]]) -> list[Any]:
        scope = await self.context.scope()
        shapes: dict[tuple[int, Any], set[int]] = defaultdict(set)
        for parent, limit, sort in keys:
            shapes[(limit, sort)].add(parent)
        results: dict[tuple[int, int, Any], Any] = {}
        for (limit, sort), parents in shapes.items():
            pages = await first_pages(
                self.context.session,
                sort.joined(scoped_devices(scope)),
                getattr(Device, self.parent),
                sorted(parents),
                sort.keys(),
                limit,
                descending=sort.descending,
            )
            for parent, page in pages.items():
                results[(parent, limit, sort)] = page
        return [results[key] for key in keys]


class DevicePageByAccountIdLoader(_DevicePageLoader):
    parent = "account_id"


class DevicePageBySiteIdLoader(_DevicePageLoader):
    parent = "site_id"
