"""Loaders for meter readings: the latest reading per meter, readings by id, submitter names."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import aliased

from models import ApiClient, Device, MeterReading, ProductModelMeter, User
from models.enums import MeterType
from resolvers.loaders.base import ContextLoader

METER_ORDER = {meter: position for position, meter in enumerate(MeterType)}


def latest_readings_statement(device_ids: Sequence[int]) -> Any:
    """One row per (device, meter of its model), with that meter's newest reading or NULLs.

    The newest date comes from `max(reading_date)` for one (device_id, meter) pair, which both
    databases answer from the unique index (device_id, meter, reading_date) with a seek to its
    last entry; the join back to the row is a second seek on the same index. Never a scan."""
    newest = aliased(MeterReading, name="newest")
    newest_date = (
        select(func.max(newest.reading_date))
        .where(newest.device_id == Device.id, newest.meter == ProductModelMeter.meter)
        .scalar_subquery()
    )
    return (
        select(Device.id, ProductModelMeter.meter, MeterReading)
        .join(ProductModelMeter, ProductModelMeter.product_model_id == Device.product_model_id)
        .outerjoin(
            MeterReading,
            and_(
                MeterReading.device_id == Device.id,
                MeterReading.meter == ProductModelMeter.meter,
                MeterReading.reading_date == newest_date,
            ),
        )
        .where(Device.id.in_(device_ids))
    )


class LatestReadingsByDeviceIdLoader(ContextLoader):
    """Per device: `[(meter, newest reading or None)]` for every meter of its model, in the
    vocabulary's meter order. One statement per batch. The device itself was already found
    through the scope, so no scope clause is needed here."""

    async def batch_load_fn(
        self, keys: Sequence[int]
    ) -> list[list[tuple[MeterType, MeterReading | None]]]:
        groups: dict[int, list[tuple[MeterType, MeterReading | None]]] = defaultdict(list)
        result = await self.context.session.execute(latest_readings_statement(list(keys)))
        for device_id, meter, reading in result.all():
            groups[device_id].append((MeterType(meter), reading))
        for readings in groups.values():
            readings.sort(key=lambda pair: METER_ORDER[pair[0]])
        return [groups.get(key, []) for key in keys]


class MeterReadingByIdLoader(ContextLoader):
    """`(reading, device)` by reading id, only for devices in the viewer's scope."""

    async def batch_load_fn(self, keys: Sequence[int]) -> list[tuple[MeterReading, Device] | None]:
        scope = await self.context.scope()
        stmt = (
            select(MeterReading, Device)
            .join(Device, Device.id == MeterReading.device_id)
            .where(MeterReading.id.in_(keys), scope.devices_clause())
        )
        found = {
            reading.id: (reading, device)
            for reading, device in await self.context.session.execute(stmt)
        }
        return [found.get(key) for key in keys]


class SubmitterNameByUserIdLoader(ContextLoader):
    """The display name of the person who submitted a reading (names only, nothing else)."""

    async def batch_load_fn(self, keys: Sequence[int]) -> list[str | None]:
        rows = await self.context.session.execute(
            select(User.id, User.name).where(User.id.in_(keys))
        )
        names = dict(rows.tuples().all())
        return [names.get(key) for key in keys]


class SubmitterNameByClientIdLoader(ContextLoader):
    """The name of the machine client (e-Maintenance integration) that reported a reading."""

    async def batch_load_fn(self, keys: Sequence[int]) -> list[str | None]:
        rows = await self.context.session.execute(
            select(ApiClient.id, ApiClient.name).where(ApiClient.id.in_(keys))
        )
        names = dict(rows.tuples().all())
        return [names.get(key) for key in keys]
