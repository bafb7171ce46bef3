"""Loaders for stock locations, their levels and replenishment orders, consumables and the toner
levels devices report."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, select

from models import Consumable, Device, ReplenishmentOrder, StockLevel, StockLocation, TonerLevel
from resolvers.loaders.base import ByIdLoader, GroupedLoader
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


class ReplenishmentOrdersByStockLocationIdLoader(GroupedLoader[ReplenishmentOrder]):
    """Newest first. The caller has already seen the location."""

    def statement(self, keys: Sequence[Any], scope: Scope) -> Select[Any]:
        return (
            select(ReplenishmentOrder)
            .where(ReplenishmentOrder.stock_location_id.in_(keys))
            .order_by(ReplenishmentOrder.created_at.desc(), ReplenishmentOrder.id.desc())
        )

    def group_key(self, row: Any) -> Any:
        return row[0].stock_location_id


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
