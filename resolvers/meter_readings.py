"""The readings of every device the viewer may read meters of: the `meterReadings` list
(filtered, keyset-paged by (reading day, id)), and the same rows read in large keyset chunks
for bulk exports.

A reading is visible where its device is, by a path that grants VIEW_METER_READINGS (the
permission `Device.meterReadings` requires): `Scope.devices_clause(requiring=...)`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Select, and_, func, literal, select, true, tuple_

from auth.policy import Permission
from core.ids import decode_id
from forecasting.meters import Flag, flags_to_bits
from models import Device, MeterReading
from models.enums import MeterType, ReadingSource
from resolvers.accounts import account_tree
from resolvers.joined import Joined, Through, ToOne, selected_joins
from resolvers.loaders.accounts import AccountByIdLoader, SiteByIdLoader
from resolvers.loaders.devices import DeviceByIdLoader, ProductModelByIdLoader
from resolvers.pagination import Page, PageRequest, SortField, paginate

if TYPE_CHECKING:
    from resolvers.context import Context
    from resolvers.scoping import Scope


@dataclass(frozen=True)
class ReadingFilterIn:
    """Which readings; every condition given must hold (None: no condition)."""

    device_ids: Sequence[str] | None = None
    site_ids: Sequence[str] | None = None
    account_ids: Sequence[str] | None = None
    from_: date | None = None
    to: date | None = None
    meters: Sequence[MeterType] | None = None
    sources: Sequence[ReadingSource] | None = None
    flags: Sequence[Flag] | None = None


# The order of the list: by reading day, then id (index ix_meter_readings_date_id).
SORT = [SortField(MeterReading.reading_date, "date"), SortField(MeterReading.id, "int")]

# What a page of readings can carry (GraphQL paths under the node), by the loader each reads.
_DEVICE = ToOne(DeviceByIdLoader, MeterReading.device_id)
READING_JOINS: dict[str, Joined] = {
    "device": _DEVICE,
    "device.site": Through(SiteByIdLoader, Device.site_id),
    "device.model": Through(ProductModelByIdLoader, Device.product_model_id),
    "device.account": Through(AccountByIdLoader, Device.account_id),
}


def _ids(values: Sequence[str], type_name: str, language: str) -> list[int]:
    return [decode_id(value, type_name, language=language) for value in values]


def reading_clauses(
    scope: Scope, filter: ReadingFilterIn | None, language: str
) -> list[ColumnElement[bool]]:
    """The scope and the filter, as conditions on `meter_readings`. IDs the viewer cannot see
    match nothing (the scope is always there)."""
    given = filter or ReadingFilterIn()
    devices: list[ColumnElement[bool]] = []
    visible = scope.devices_clause(requiring=Permission.VIEW_METER_READINGS)
    if not visible.compare(true()):
        devices.append(visible)
    if given.site_ids is not None:
        devices.append(Device.site_id.in_(_ids(given.site_ids, "Site", language)))
    if given.account_ids is not None:
        tree = account_tree(_ids(given.account_ids, "Account", language), "reading_accounts")
        devices.append(Device.account_id.in_(select(tree.c.id)))
    clauses: list[ColumnElement[bool]] = []
    if devices:
        clauses.append(MeterReading.device_id.in_(select(Device.id).where(and_(*devices))))
    if given.device_ids is not None:
        clauses.append(MeterReading.device_id.in_(_ids(given.device_ids, "Device", language)))
    if given.from_ is not None:
        clauses.append(MeterReading.reading_date >= given.from_)
    if given.to is not None:
        clauses.append(MeterReading.reading_date <= given.to)
    if given.meters is not None:
        clauses.append(MeterReading.meter.in_([MeterType(m) for m in given.meters]))
    if given.sources is not None:
        clauses.append(MeterReading.source.in_([ReadingSource(s) for s in given.sources]))
    if given.flags is not None:
        bits = flags_to_bits({Flag(f) for f in given.flags})
        clauses.append(MeterReading.flags.op("&")(bits) != 0)
    return clauses


async def reading_connection(
    context: Context,
    *,
    first: int | None,
    after: str | None,
    filter: ReadingFilterIn | None,
    node_paths: frozenset[str] = frozenset(),
) -> Page:
    """A page of readings in (reading day, id) order: one statement, with the device and its
    site, model and account when the query selects them (`node_paths`)."""
    scope = await context.require_scope()
    stmt = select(MeterReading).where(*reading_clauses(scope, filter, context.language))
    return await paginate(
        context.session,
        stmt,
        SORT,
        PageRequest(first, after),
        ride=selected_joins(READING_JOINS, node_paths, scope, context.loaders),
    )


# --- bulk exports: plain rows in large keyset chunks ---------------------------------------

_readings = MeterReading.__table__


def reading_rows(
    scope: Scope,
    filter: ReadingFilterIn | None,
    language: str,
    after: tuple[date, int] | None,
    limit: int,
    *,
    columns: Iterable[str] | None = None,
) -> Select[Any]:
    """The next `limit` readings after `after` (reading day, id), as plain rows of the
    table's columns (all, or those named, in that order): what the list would page through, without
    building ORM objects."""
    wanted = _readings.c if columns is None else [_readings.c[name] for name in columns]
    stmt = select(*wanted).where(*reading_clauses(scope, filter, language))
    if after is not None:
        day, pk = after
        stmt = stmt.where(
            tuple_(MeterReading.reading_date, MeterReading.id)
            > tuple_(literal(day, MeterReading.reading_date.type), literal(pk)),
            MeterReading.reading_date >= day,
        )
    return stmt.order_by(MeterReading.reading_date, MeterReading.id).limit(limit)


def reading_count(scope: Scope, filter: ReadingFilterIn | None, language: str) -> Select[Any]:
    """How many readings the list holds (its `totalCount`)."""
    inner = select(MeterReading.id).where(*reading_clauses(scope, filter, language)).subquery()
    return select(func.count()).select_from(inner)
