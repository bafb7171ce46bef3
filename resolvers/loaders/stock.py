"""Loaders for stock locations, their levels and replenishment orders, consumables and the toner
levels devices report."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select

from models import Consumable, Device, ReplenishmentOrder, StockLevel, StockLocation, TonerLevel
from models.enums import DeviceStatus, ReplenishmentStatus
from resolvers.forecasts import (
    ConsumableDemand,
    DeviceForecasts,
    projected_demand,
    toner_forecasts,
)
from resolvers.loaders.base import ByIdLoader, ContextLoader, GroupedLoader
from resolvers.pagination import SortField, first_pages
from resolvers.scoping import Scope


class StockLocationByIdLoader(ByIdLoader[StockLocation]):
    model = StockLocation

    def scope_clause(self, scope: Scope) -> ColumnElement[bool]:
        return scope.stock_locations_clause()


class ConsumableByIdLoader(ByIdLoader[Consumable]):
    """Consumables are reference data (the vendor's catalogue)."""

    model = Consumable


class ReplenishmentOrderByIdLoader(ByIdLoader[ReplenishmentOrder]):
    """Orders are visible with the stock location they ship to."""

    model = ReplenishmentOrder

    def scope_clause(self, scope: Scope) -> ColumnElement[bool]:
        return ReplenishmentOrder.stock_location_id.in_(
            select(StockLocation.id).where(scope.stock_locations_clause())
        )


class StockLevelsByStockLocationIdLoader(GroupedLoader[tuple[StockLevel, Consumable]]):
    """(level, consumable) pairs, by SKU. The caller has already seen the location."""

    def statement(self, keys: Sequence[Any], scope: Scope) -> Select[Any]:
        stmt: Any = (
            select(StockLevel, Consumable)
            .join(Consumable, Consumable.id == StockLevel.consumable_id)
            .where(StockLevel.stock_location_id.in_(keys))
            .order_by(Consumable.sku)
        )
        return stmt  # type: ignore[no-any-return]

    def group_key(self, row: Any) -> Any:
        return row[0].stock_location_id


class DevicesByStockLocationIdLoader(GroupedLoader[Device]):
    """The e-Maintenance devices a location supplies, among those the viewer may see."""

    def statement(self, keys: Sequence[Any], scope: Scope) -> Select[Any]:
        return (
            select(Device)
            .where(
                Device.stock_location_id.in_(keys),
                Device.e_maintenance.is_(True),
                scope.devices_clause(),
            )
            .order_by(Device.serial_number, Device.id)
        )

    def group_key(self, row: Any) -> Any:
        return row[0].stock_location_id


# Newest first (`descending`); the id breaks ties between orders of the same instant.
ORDER_SORT = [
    SortField(ReplenishmentOrder.created_at, "datetime"),
    SortField(ReplenishmentOrder.id, "int"),
]

Statuses = frozenset[ReplenishmentStatus] | None


def replenishment_orders(statuses: Statuses) -> Select[Any]:
    """Orders, narrowed to `statuses` when given (an empty set matches none)."""
    stmt = select(ReplenishmentOrder)
    if statuses is not None:
        stmt = stmt.where(ReplenishmentOrder.status.in_(sorted(statuses, key=lambda s: s.value)))
    return stmt


class ReplenishmentOrderPageByStockLocationIdLoader(ContextLoader):
    """First page of each location's orders, newest first. Key: (location id, page size,
    statuses or None). One windowed statement per distinct (page size, statuses) in the batch.
    The caller has already seen the location."""

    async def batch_load_fn(self, keys: Sequence[tuple[int, int, Any]]) -> list[Any]:
        shapes: dict[tuple[int, Any], set[int]] = defaultdict(set)
        for location, limit, statuses in keys:
            shapes[(limit, statuses)].add(location)
        results: dict[tuple[int, int, Any], Any] = {}
        for (limit, statuses), locations in shapes.items():
            pages = await first_pages(
                self.context.session,
                replenishment_orders(statuses),
                ReplenishmentOrder.stock_location_id.expression,
                sorted(locations),
                ORDER_SORT,
                limit,
                descending=True,
            )
            for location, page in pages.items():
                results[(location, limit, statuses)] = page
        return [results[key] for key in keys]


class ReplenishmentOrderCountByStockLocationIdLoader(ContextLoader):
    """How many orders each location has. Key: (location id, statuses or None). One grouped
    count per distinct statuses in the batch. The caller has already seen the location."""

    async def batch_load_fn(self, keys: Sequence[tuple[int, Any]]) -> list[int]:
        shapes: dict[Any, set[int]] = defaultdict(set)
        for location, statuses in keys:
            shapes[statuses].add(location)
        counts: dict[tuple[int, Any], int] = {}
        column = ReplenishmentOrder.stock_location_id
        for statuses, locations in shapes.items():
            stmt = (
                replenishment_orders(statuses)
                .with_only_columns(column, func.count())
                .where(column.in_(sorted(locations)))
                .group_by(column)
            )
            for location, n in (await self.context.session.execute(stmt)).tuples():
                counts[(location, statuses)] = int(n)
        return [counts.get(key, 0) for key in keys]


class TonerLevelsByDeviceIdLoader(GroupedLoader[tuple[TonerLevel, Consumable]]):
    """(level, consumable) pairs, by SKU. The caller has already seen the device."""

    def statement(self, keys: Sequence[Any], scope: Scope) -> Select[Any]:
        stmt: Any = (
            select(TonerLevel, Consumable)
            .join(Consumable, Consumable.id == TonerLevel.consumable_id)
            .where(TonerLevel.device_id.in_(keys))
            .order_by(Consumable.sku)
        )
        return stmt  # type: ignore[no-any-return]

    def group_key(self, row: Any) -> Any:
        return row[0].device_id


class TonerForecastsByDeviceIdLoader(ContextLoader):
    """Per device: its toner forecasts (`resolvers.forecasts.DeviceForecasts`, or None for an
    unknown device). Four statements per batch, whatever its size. The caller has already seen
    the device."""

    async def batch_load_fn(self, keys: Sequence[int]) -> list[DeviceForecasts | None]:
        found = await toner_forecasts(self.context.session, keys)
        return [found.get(key) for key in keys]


class ProjectedDemandByStockLocationIdLoader(ContextLoader):
    """Per (location id, horizon in days): what the e-Maintenance devices it supplies (all of
    them, seen by the viewer or not: they all draw on its stock) will need per consumable.
    Three statements and one forecast batch per batch of locations. The caller has already seen
    the location."""

    async def batch_load_fn(self, keys: Sequence[tuple[int, int]]) -> list[list[ConsumableDemand]]:
        session = self.context.session
        locations = sorted({location for location, _ in keys})
        supplied: dict[int, list[int]] = defaultdict(list)
        for device_id, location in (
            await session.execute(
                select(Device.id, Device.stock_location_id).where(
                    Device.stock_location_id.in_(locations),
                    Device.e_maintenance.is_(True),
                    Device.status != DeviceStatus.REMOVED,
                )
            )
        ).tuples():
            if location is not None:
                supplied[location].append(device_id)
        device_ids = sorted({d for ids in supplied.values() for d in ids})
        loaded = await self.context.loaders[TonerForecastsByDeviceIdLoader].load_many(device_ids)
        forecasts = {d: f for d, f in zip(device_ids, loaded, strict=True) if f is not None}
        stock: dict[int, dict[int, tuple[int, Consumable]]] = defaultdict(dict)
        for level, consumable in (
            await session.execute(
                select(StockLevel, Consumable)
                .join(Consumable, Consumable.id == StockLevel.consumable_id)
                .where(StockLevel.stock_location_id.in_(locations))
            )
        ).tuples():
            stock[level.stock_location_id][consumable.id] = (level.quantity, consumable)
        on_order: dict[int, dict[int, int]] = defaultdict(dict)
        for location, consumable_id, quantity in (
            await session.execute(
                select(
                    ReplenishmentOrder.stock_location_id,
                    ReplenishmentOrder.consumable_id,
                    func.sum(ReplenishmentOrder.quantity),
                )
                .where(
                    ReplenishmentOrder.stock_location_id.in_(locations),
                    ReplenishmentOrder.status.in_(
                        [ReplenishmentStatus.PENDING, ReplenishmentStatus.SHIPPED]
                    ),
                )
                .group_by(ReplenishmentOrder.stock_location_id, ReplenishmentOrder.consumable_id)
            )
        ).tuples():
            on_order[location][consumable_id] = int(quantity)
        return [
            projected_demand(
                days,
                [forecasts[d] for d in supplied.get(location, []) if d in forecasts],
                stock.get(location, {}),
                on_order.get(location, {}),
            )
            for location, days in keys
        ]
