"""Meter readings: the vendor's rules, submission (portal, bulk upload, e-Maintenance), agent
corrections, the history and the "reading due" reminder.

Every rule refuses with its own code and stores nothing for the device concerned. The checks run
on the whole input at once: one statement loads the devices (with site time zone, model limit
and meters), one statement finds the previous, next and same-day reading of every
(device, meter, day) asked, one statement inserts the accepted readings. The once-a-day rule is
finally the database's: a race lost on `uq_meter_readings_device_day` becomes
READING_ALREADY_TODAY, never a second row nor a 500."""

from __future__ import annotations

from bisect import insort
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import (
    ColumnElement,
    Date,
    DateTime,
    Float,
    Integer,
    Table,
    and_,
    bindparam,
    case,
    func,
    insert,
    literal,
    literal_column,
    null,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from auth.policy import Permission
from core import clock
from core.errors import Forbidden, UserError
from core.ids import decode_id_or_none
from forecasting.meters import Flag, flags_to_bits, reading_flags
from models import (
    AuditLogEntry,
    Device,
    MeterReading,
    MeterUsageMonth,
    ProductModel,
    ProductModelMeter,
    Site,
)
from models.enums import MeterType, ReadingSource
from resolvers.audit import audit, count_written
from resolvers.loaders.meters import MeterReadingByIdLoader
from resolvers.pagination import Page, PageRequest, SortField, paginate
from resolvers.usage_rollup import (
    Points,
    Span,
    asked_data,
    asked_days,
    lock_devices,
    month_rows,
    ordered_by_kind,
    respread,
    span_windows,
    upsert_months,
    upsert_months_statement,
    window_and_usual_data,
    window_and_usual_parts,
    window_and_usual_statement,
)
from webhooks.events import WebhookEvent, emit

if TYPE_CHECKING:
    from resolvers.context import Context
    from resolvers.scoping import Scope

P = Permission

MAX_READINGS_PER_ROW = len(MeterType)
MAX_BATCH_ROWS = 250
MAX_REASON_LENGTH = 500
UNIQUE_DAY = "uq_meter_readings_device_day"


# --- input and outcome ---------------------------------------------------------------------


@dataclass(frozen=True)
class ReadingIn:
    meter: MeterType
    value: int
    estimated: bool = False


@dataclass
class RowIn:
    device_id: str
    reading_date: date | None
    readings: list[ReadingIn]


@dataclass
class RowOutcome:
    index: int
    device_id: int | None = None
    device: Device | None = None
    reading_date: date | None = None
    errors: list[UserError] = field(default_factory=list)
    # The stored readings: rows of `meter_readings` (Core rows, not entities).
    readings: list[Any] = field(default_factory=list)
    # Per reading: the days from its previous to its next reading, whose months the usage
    # rollup recomputes once it is stored.
    spans: list[Span] = field(default_factory=list)
    # Per reading: its flags (forecasting.meters.FLAG_BITS), stored with it.
    flags: list[int] = field(default_factory=list)
    # When read with the rules (`check_rows(..., window=True)`): per (device, meter), the
    # readings the usage rollup of the spans needs, as they were before this row's.
    points: Points | None = None

    @property
    def accepted(self) -> bool:
        return not self.errors and bool(self.readings)


@dataclass(frozen=True)
class DeviceFacts:
    device: Device
    time_zone: str
    max_pages_per_day: int
    meters: frozenset[MeterType]


@dataclass(frozen=True)
class Neighbours:
    previous: tuple[date, int] | None
    later: tuple[date, int] | None
    same_day_id: int | None


def _newest_day_update(readings: Iterable[tuple[int, date]]) -> Any:
    """`record_reading_dates` as one UPDATE (for a data-modifying CTE on PostgreSQL)."""
    newest = _newest_days(readings)
    devices = cast(Table, Device.__table__)
    newest_day = case(newest, value=devices.c.id)
    return (
        update(devices)
        .where(
            devices.c.id.in_(sorted(newest)),
            or_(devices.c.last_reading_date.is_(None), devices.c.last_reading_date < newest_day),
        )
        .values(last_reading_date=newest_day)
    )


async def record_reading_dates(session: AsyncSession, readings: Iterable[tuple[int, date]]) -> None:
    """Keeps `devices.last_reading_date` current: call it in the transaction that stores
    readings, with their (device id, reading day). One statement; never moves a date back."""
    newest = _newest_days(readings)
    if not newest:
        return
    # Core executemany: the ORM would read this as a bulk update by primary key.
    devices = cast(Table, Device.__table__)
    await session.execute(
        update(devices)
        .where(
            devices.c.id == bindparam("device_id"),
            or_(
                devices.c.last_reading_date.is_(None),
                devices.c.last_reading_date < bindparam("day", type_=Date()),
            ),
        )
        .values(last_reading_date=bindparam("day", type_=Date())),
        [{"device_id": d, "day": day} for d, day in newest.items()],
    )


def is_unique_day_violation(error: IntegrityError) -> bool:
    text = str(error.orig)
    return UNIQUE_DAY in text or ("UNIQUE constraint failed: meter_readings.device_id" in text)


# --- loading what the rules need ------------------------------------------------------------


async def load_device_facts(
    context: Context, device_ids: list[int], *, remote: bool, scope: Scope
) -> dict[int, DeviceFacts]:
    """One statement: the devices (in reach), their site's time zone, model limit and meters.
    It locks the device rows (PostgreSQL) until the transaction ends: writers of one device's
    readings take turns, so the rules and the usage rollup see the readings of the one before."""
    if not device_ids:
        return {}
    reach = Device.e_maintenance.is_(True) if remote else scope.devices_clause()
    stmt = (
        select(Device, Site.time_zone, ProductModel.max_pages_per_day, ProductModelMeter.meter)
        .join(Site, Site.id == Device.site_id)
        .join(ProductModel, ProductModel.id == Device.product_model_id)
        .outerjoin(ProductModelMeter, ProductModelMeter.product_model_id == ProductModel.id)
        .where(Device.id.in_(device_ids), reach)
        .order_by(Device.id)
        .with_for_update(of=Device)
    )
    found: dict[int, tuple[Device, str, int]] = {}
    meters: dict[int, set[MeterType]] = defaultdict(set)
    for device, time_zone, max_pages, meter in (await context.session.execute(stmt)).all():
        found[device.id] = (device, time_zone, max_pages)
        if meter is not None:
            meters[device.id].add(MeterType(meter))
    return {
        pk: DeviceFacts(device, tz, max_pages, frozenset(meters[pk]))
        for pk, (device, tz, max_pages) in found.items()
    }


@lru_cache(maxsize=64)
def _neighbours_statement(rows: int) -> Any:
    """`load_neighbours`'s statement for `rows` keys: built and compiled once per size."""
    return _neighbours_select(asked_days(rows))


def _neighbours_select(asked: Any) -> Any:
    """Per row of `asked` (k, device_id, meter, day): those, then the day and value of the
    meter's reading before the day and after it, and the id of the one on the day."""
    prev, later, same, x = (aliased(MeterReading, name=n) for n in ("prev", "later", "same", "x"))
    pair = (x.device_id == asked.c.device_id, x.meter == asked.c.meter)
    prev_day = select(func.max(x.reading_date)).where(*pair, x.reading_date < asked.c.day)
    later_day = select(func.min(x.reading_date)).where(*pair, x.reading_date > asked.c.day)

    def on(alias: Any, day: Any) -> ColumnElement[bool]:
        return and_(
            alias.device_id == asked.c.device_id,
            alias.meter == asked.c.meter,
            alias.reading_date == day,
        )

    return (
        select(
            asked.c.k,
            asked.c.device_id,
            asked.c.meter,
            asked.c.day,
            prev.reading_date.label("prev_day"),
            prev.value.label("prev_value"),
            later.reading_date.label("later_day"),
            later.value.label("later_value"),
            same.id.label("same_id"),
        )
        .select_from(asked)
        .outerjoin(prev, on(prev, prev_day.scalar_subquery()))
        .outerjoin(later, on(later, later_day.scalar_subquery()))
        .outerjoin(same, on(same, asked.c.day))
    )


def _neighbours_of(row: Any) -> Neighbours:
    prev_date, prev_value, later_date, later_value, same_id = row[-5:]
    return Neighbours(
        (prev_date, prev_value) if prev_date is not None else None,
        (later_date, later_value) if later_date is not None else None,
        same_id,
    )


async def load_neighbours(
    context: Context, keys: list[tuple[int, MeterType, date]]
) -> list[Neighbours]:
    """For each (device, meter, day): the reading before that day, the one after, and the one
    on that day, in one statement. Each is a seek on (device_id, meter, reading_date)."""
    if not keys:
        return []
    stmt = _neighbours_statement(len(keys))
    result: list[Neighbours] = [Neighbours(None, None, None)] * len(keys)
    for row in (await context.session.execute(stmt, asked_data(keys))).all():
        result[row.k] = _neighbours_of(row)
    return result


def _month_start(day: Any, months: int = 0) -> Any:
    """PostgreSQL: the first day of `day`'s month, `months` later (earlier when negative)."""
    start = func.date_trunc("month", sql_cast(day, DateTime()))
    return sql_cast(start + literal_column(f"interval '{months} months'"), Date())


def _month_end(day: Any) -> Any:
    """PostgreSQL: the last day of `day`'s month."""
    start = func.date_trunc("month", sql_cast(day, DateTime()))
    return sql_cast(start + literal_column("interval '1 month - 1 day'"), Date())


@lru_cache(maxsize=64)
def _neighbours_window_and_usual_statement(rows: int) -> Any:
    """PostgreSQL: `load_neighbours`'s rows (kind 2: k, the previous reading as day and value,
    the later one, the same day's id) and, over what they find, `window_and_usual_statement`'s
    (kinds 1 and 0), in one statement: the spans and the usual rate's months are worked out
    from the neighbours' days as `_span` and `check_rows` do."""
    found = _neighbours_select(asked_days(rows)).cte("found")
    first = func.coalesce(found.c.prev_day, found.c.day)  # also the usual rate's day
    spans = select(
        found.c.device_id,
        found.c.meter,
        _month_start(first).label("lo"),
        _month_end(func.coalesce(found.c.later_day, found.c.day)).label("hi"),
        _month_start(first, -USUAL_RATE_MONTHS).label("ulo"),
        _month_start(first).label("uhi"),
    ).cte("spans")
    same_id_type = MeterReading.__table__.c.id.type
    readings, months = window_and_usual_parts(
        spans,
        sql_cast(null(), Integer()).label("k"),
        sql_cast(null(), Date()).label("later_day"),
        sql_cast(null(), Integer()).label("later_value"),
        sql_cast(null(), same_id_type).label("same_id"),
    )
    neighbours = select(
        literal(2, Integer()).label("kind"),
        found.c.device_id,
        found.c.meter,
        found.c.prev_day,
        found.c.prev_value,
        sql_cast(null(), Float()).label("pages"),
        found.c.k,
        found.c.later_day,
        found.c.later_value,
        found.c.same_id,
    )
    return ordered_by_kind(readings, months, neighbours)


async def load_neighbours_window_and_usual(
    context: Context, keys: list[tuple[int, MeterType, date]]
) -> tuple[list[Neighbours], Months, Points]:
    """PostgreSQL, keys of distinct (device, meter): `load_neighbours` and what
    `load_window_and_usual_rates` reads after it (the rollup months of the usual rates, and the
    readings around the spans, before the new ones), in one statement."""
    if not keys:
        return [], {}, {}
    stmt = _neighbours_window_and_usual_statement(len(keys))
    found: list[Neighbours] = [Neighbours(None, None, None)] * len(keys)
    points: Points = {(d, m): [] for d, m, _ in keys}
    months: Months = defaultdict(dict)
    for row in (await context.session.execute(stmt, asked_data(keys))).all():
        kind, device_id, meter, day, value, pages = row[:6]
        if kind == 2:
            found[row.k] = Neighbours(
                (day, value) if day is not None else None,
                (row.later_day, row.later_value) if row.later_day is not None else None,
                row.same_id,
            )
        elif kind == 1:
            points[(device_id, MeterType(meter))].append((day, value))
        else:
            months[(device_id, MeterType(meter))][day] = pages
    return found, months, points


# --- the rules ------------------------------------------------------------------------------


def _shape_errors(row: RowIn, prefix: list[str]) -> list[UserError]:
    errors: list[UserError] = []
    if not row.readings:
        errors.append(UserError("READINGS_REQUIRED", [*prefix, "readings"]))
    if len(row.readings) > MAX_READINGS_PER_ROW:
        errors.append(
            UserError("TOO_MANY_READINGS", [*prefix, "readings"], max=MAX_READINGS_PER_ROW)
        )
    seen: set[MeterType] = set()
    for i, reading in enumerate(row.readings):
        if reading.meter in seen:
            errors.append(
                UserError(
                    "DUPLICATE_METER",
                    [*prefix, "readings", str(i), "meter"],
                    meter=reading.meter.value,
                )
            )
        seen.add(reading.meter)
        if reading.value < 0:
            errors.append(UserError("READING_NEGATIVE", [*prefix, "readings", str(i), "value"]))
    return errors


def order_errors(
    value: int, meter: str, neighbours: Neighbours, path: list[str]
) -> list[UserError]:
    """The reading-order rule: a meter never goes back, so a value lies between the reading
    before its day and the one after (submissions and agent corrections alike)."""
    errors: list[UserError] = []
    if neighbours.previous is not None and value < neighbours.previous[1]:
        prev_day, prev_value = neighbours.previous
        errors.append(
            UserError(
                "READING_BELOW_PREVIOUS",
                path,
                value=value,
                meter=meter,
                previous=prev_value,
                date=prev_day,
            )
        )
    if neighbours.later is not None and value > neighbours.later[1]:
        later_day, later_value = neighbours.later
        errors.append(
            UserError(
                "READING_ABOVE_LATER",
                path,
                value=value,
                meter=meter,
                later=later_value,
                date=later_day,
            )
        )
    return errors


def _value_errors(
    reading: ReadingIn,
    day: date,
    facts: DeviceFacts,
    neighbours: Neighbours,
    path: list[str],
) -> list[UserError]:
    meter = reading.meter.value
    if neighbours.same_day_id is not None:
        return [UserError("READING_ALREADY_TODAY", [*path[:-1], "meter"], meter=meter, date=day)]
    errors = order_errors(reading.value, meter, neighbours, path)
    if neighbours.previous is not None and reading.value >= neighbours.previous[1]:
        prev_day, prev_value = neighbours.previous
        most = facts.max_pages_per_day * (day - prev_day).days
        if reading.value - prev_value > most:
            implausible = UserError(
                "READING_IMPLAUSIBLE", path, value=reading.value, max=most, date=prev_day
            )
            errors.insert(0, implausible)
    return errors


async def check_rows(
    context: Context,
    rows: list[RowIn],
    *,
    permission: Permission,
    remote: bool,
    prefixes: list[list[str]],
    window: bool = False,
) -> list[RowOutcome]:
    """Applies every rule to every row; a row with any error stores nothing. `window`: also
    read the readings the usage rollup will need (`RowOutcome.points`), with the usual rates
    (one statement instead of one here and one once the readings are stored)."""
    scope = await context.require_scope()
    if not scope.holds_anywhere(permission):
        raise Forbidden(language=context.language, required=permission.value)
    outcomes = [RowOutcome(index=i) for i in range(len(rows))]
    for row, outcome, prefix in zip(rows, outcomes, prefixes, strict=True):
        outcome.device_id = decode_id_or_none(row.device_id, "Device")
        if outcome.device_id is None:
            outcome.errors.append(UserError("DEVICE_NOT_FOUND", [*prefix, "deviceId"]))
        outcome.errors += _shape_errors(row, prefix)

    wanted = sorted({o.device_id for o in outcomes if o.device_id is not None and not o.errors})
    facts = await load_device_facts(context, wanted, remote=remote, scope=scope)

    keys: list[tuple[int, MeterType, date]] = []
    key_owner: list[tuple[int, int]] = []  # (row index, reading index)
    for row, outcome, prefix in zip(rows, outcomes, prefixes, strict=True):
        if outcome.errors or outcome.device_id is None:
            continue
        fact = facts.get(outcome.device_id)
        if fact is None:
            outcome.errors.append(UserError("DEVICE_NOT_FOUND", [*prefix, "deviceId"]))
            continue
        if permission not in scope.permissions_on_device(fact.device):
            outcome.errors.append(UserError("FORBIDDEN", [*prefix, "deviceId"]))
            continue
        outcome.device = fact.device
        today = clock.today_in(fact.time_zone)
        day = row.reading_date or today
        outcome.reading_date = day
        if day > today:
            outcome.errors.append(
                UserError("READING_DATE_IN_FUTURE", [*prefix, "readingDate"], date=day, today=today)
            )
        if day < fact.device.installed_on:
            outcome.errors.append(
                UserError(
                    "READING_BEFORE_INSTALLATION",
                    [*prefix, "readingDate"],
                    date=day,
                    installed=fact.device.installed_on,
                )
            )
        for i, reading in enumerate(row.readings):
            if reading.meter not in fact.meters:
                outcome.errors.append(
                    UserError(
                        "METER_NOT_ON_MODEL",
                        [*prefix, "readings", str(i), "meter"],
                        meter=reading.meter.value,
                    )
                )
        if outcome.errors:
            continue
        for i, reading in enumerate(row.readings):
            keys.append((fact.device.id, reading.meter, day))
            key_owner.append((outcome.index, i))

    # Two rows of one upload for the same device, meter and day: the second is refused.
    claimed: dict[tuple[int, MeterType, date], int] = {}
    for key, (row_index, i) in zip(keys, key_owner, strict=True):
        first = claimed.setdefault(key, row_index)
        if first != row_index:
            outcomes[row_index].errors.append(
                UserError(
                    "READING_ALREADY_TODAY",
                    [*prefixes[row_index], "readings", str(i), "meter"],
                    meter=key[1].value,
                    date=key[2],
                )
            )

    # One row: the rollup's readings around its spans are read with the usual rates (and on
    # PostgreSQL with the neighbours, in one statement).
    with_window = window and len({(d, m) for d, m, _ in keys}) == len(keys)
    at_once = with_window and context.session.get_bind().dialect.name == "postgresql"
    if at_once:
        found_neighbours, months, points = await load_neighbours_window_and_usual(context, keys)
    else:
        found_neighbours = await load_neighbours(context, keys)
    # The usual rate is the one before the interval the reading closes (which a spike inflates).
    usual_keys = [
        (d, m, n.previous[0] if n.previous is not None else day)
        for (d, m, day), n in zip(keys, found_neighbours, strict=True)
    ]
    spans = [_span(key, n) for key, n in zip(keys, found_neighbours, strict=True)]
    if at_once:
        usual = usual_rates(usual_keys, months)
    elif with_window:
        usual, points = await load_window_and_usual_rates(context, usual_keys, spans)
    else:
        usual = await load_usual_rates(context, usual_keys)
    if with_window:
        for row_index in {owner for owner, _ in key_owner}:
            outcomes[row_index].points = points
    stale_after = context.settings.stale_device_days
    for key, usual_key, (row_index, i), neighbours, span in zip(
        keys, usual_keys, key_owner, found_neighbours, spans, strict=True
    ):
        outcome = outcomes[row_index]
        assert outcome.device_id is not None and outcome.reading_date is not None
        reading = rows[row_index].readings[i]
        outcome.errors += _value_errors(
            reading,
            key[2],
            facts[outcome.device_id],
            neighbours,
            [*prefixes[row_index], "readings", str(i), "value"],
        )
        outcome.spans.append(span)
        flags = reading_flags(
            previous=neighbours.previous,
            day=key[2],
            value=reading.value,
            usual_pages_per_day=usual.get(usual_key),
            max_pages_per_day=facts[outcome.device_id].max_pages_per_day,
            stale_after_days=stale_after,
            estimated=reading.estimated,
        )
        outcome.flags.append(flags_to_bits(flags))
    return outcomes


# How many whole months before a reading's month make a device's usual rate.
USUAL_RATE_MONTHS = 3


def _month_back(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


async def load_usual_rates(
    context: Context, keys: list[tuple[int, MeterType, date]]
) -> dict[tuple[int, MeterType, date], float]:
    """Per (device, meter, day): the pages per day of the meter over the whole months before
    the day's month (up to USUAL_RATE_MONTHS), from the monthly rollup: one statement, at most
    three rows per device and meter. Missing: no usual rate yet. (Called with the day of the
    reading before the one judged.)"""
    if not keys:
        return {}
    devices = sorted({k[0] for k in keys})
    meters = sorted({k[1] for k in keys}, key=lambda m: m.value)
    first = _month_back(min(k[2] for k in keys), USUAL_RATE_MONTHS)
    last = max(k[2] for k in keys).replace(day=1)
    months: dict[tuple[int, MeterType], dict[date, float]] = defaultdict(dict)
    stmt = select(
        MeterUsageMonth.device_id,
        MeterUsageMonth.meter,
        MeterUsageMonth.month,
        MeterUsageMonth.pages,
    ).where(
        MeterUsageMonth.device_id.in_(devices),
        MeterUsageMonth.meter.in_(meters),
        MeterUsageMonth.month >= first,
        MeterUsageMonth.month < last,
    )
    for device_id, meter, month, pages in (await context.session.execute(stmt)).tuples():
        months[(device_id, MeterType(meter))][month] = pages
    usual: dict[tuple[int, MeterType, date], float] = {}
    for key in keys:
        device_id, meter, day = key
        start = _month_back(day, USUAL_RATE_MONTHS)
        this_month = day.replace(day=1)
        found = {
            m: p for m, p in months.get((device_id, meter), {}).items() if start <= m < this_month
        }
        if not found:
            continue
        days = sum(_month_days(m) for m in found)
        usual[key] = sum(found.values()) / days
    return usual


async def load_window_and_usual_rates(
    context: Context, usual_keys: list[tuple[int, MeterType, date]], spans: list[Span]
) -> tuple[dict[tuple[int, MeterType, date], float], Points]:
    """`load_usual_rates` for keys of distinct (device, meter), and in the same statement the
    readings the usage rollup of their spans reads (`respread`), before the new ones."""
    if not usual_keys:
        return {}, {}
    asked = [
        (d, m, lo, hi, _month_back(usual_day, USUAL_RATE_MONTHS), usual_day.replace(day=1))
        for (d, m, usual_day), (_, _, lo, hi) in zip(usual_keys, spans, strict=True)
    ]
    stmt = window_and_usual_statement(len(asked))
    points: Points = {(d, m): [] for d, m, *_ in asked}
    months: Months = defaultdict(dict)
    for kind, device_id, meter, day, value, pages in (
        await context.session.execute(stmt, window_and_usual_data(asked))
    ).all():
        if kind:
            points[(device_id, MeterType(meter))].append((day, value))
        else:
            months[(device_id, MeterType(meter))][day] = pages
    return usual_rates(usual_keys, months), points


# Per (device, meter): pages of the rollup's months read for a usual rate.
Months = dict[tuple[int, MeterType], dict[date, float]]


def usual_rates(
    usual_keys: list[tuple[int, MeterType, date]], months: Months
) -> dict[tuple[int, MeterType, date], float]:
    """Per key of distinct (device, meter): pages per day over the months read for it."""
    usual: dict[tuple[int, MeterType, date], float] = {}
    for key in usual_keys:
        found = months.get(key[:2])
        if found:
            usual[key] = sum(found.values()) / sum(_month_days(m) for m in found)
    return usual


def _month_days(month: date) -> int:
    return (_month_back(month, -1) - month).days


def _span(key: tuple[int, MeterType, date], neighbours: Neighbours) -> Span:
    device_id, meter, day = key
    return (
        device_id,
        meter,
        neighbours.previous[0] if neighbours.previous is not None else day,
        neighbours.later[0] if neighbours.later is not None else day,
    )


# --- storing ----------------------------------------------------------------------------------


def _reading_rows(
    scope: Scope, row: RowIn, outcome: RowOutcome, source: ReadingSource
) -> list[dict[str, Any]]:
    now = clock.now()
    return [
        {
            "device_id": outcome.device_id,
            "meter": reading.meter,
            "reading_date": outcome.reading_date,
            "value": reading.value,
            "source": source,
            "submitted_by_user_id": scope.user_id,
            "submitted_by_client_id": scope.client.id if scope.client is not None else None,
            "created_at": now,
            "flags": flags,
        }
        for reading, flags in zip(row.readings, outcome.flags, strict=True)
    ]


READING_TABLE = cast(Table, MeterReading.__table__)
AUDIT_TABLE = cast(Table, AuditLogEntry.__table__)


def _newest_days(readings: Iterable[tuple[int, date]]) -> dict[int, date]:
    """Per device, the newest of the days given."""
    newest: dict[int, date] = {}
    for device_id, day in readings:
        if device_id not in newest or day > newest[device_id]:
            newest[device_id] = day
    return newest


def _bound(prefix: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {f"sub_{prefix}_{c}_{i}": v for i, row in enumerate(rows) for c, v in row.items()}


def _bound_rows(table: Table, prefix: str, columns: tuple[str, ...], rows: int) -> Any:
    """A SELECT of `rows` rows of bound values for an INSERT ... SELECT (SQLAlchemy does not
    cache a multi-row VALUES; one-row SELECTs under UNION ALL it does)."""
    selects = [
        select(
            *(bindparam(f"sub_{prefix}_{c}_{i}", type_=table.c[c].type).label(c) for c in columns)
        )
        for i in range(rows)
    ]
    return selects[0] if rows == 1 else union_all(*selects)


@lru_cache(maxsize=64)
def _one_statement(
    columns: tuple[str, ...],
    rows: int,
    devices: int,
    month_columns: tuple[str, ...],
    months: int,
    audit_columns: tuple[str, ...] | None,
) -> Any:
    """PostgreSQL: the readings' INSERT ... RETURNING with, as data-modifying CTEs, the
    devices' newest reading day, the usage rollup's upsert and the audit entry; every value a
    bound parameter (`_bound`), so the statement is built and compiled once per shape."""
    table = cast(Table, Device.__table__)
    ids = [bindparam(f"sub_nd_id_{j}", type_=table.c.id.type) for j in range(devices)]
    days = [bindparam(f"sub_nd_day_{j}", type_=Date()) for j in range(devices)]
    newest_day = case(*((table.c.id == i, d) for i, d in zip(ids, days, strict=True)))
    newest = (
        update(table)
        .where(
            table.c.id.in_(ids),
            or_(table.c.last_reading_date.is_(None), table.c.last_reading_date < newest_day),
        )
        .values(last_reading_date=newest_day)
    )
    month_table = cast(Table, MeterUsageMonth.__table__)
    upsert = upsert_months_statement(
        "postgresql", month_columns, _bound_rows(month_table, "m", month_columns, months)
    )
    stmt = (
        insert(READING_TABLE)
        .from_select(list(columns), _bound_rows(READING_TABLE, "r", columns, rows))
        .returning(*READING_TABLE.c)
        .add_cte(newest.cte("newest_day"))
        .add_cte(upsert.cte("usage_months"))
    )
    if audit_columns is not None:
        audit_insert = insert(AUDIT_TABLE).values(
            {c: bindparam(f"sub_a_{c}_0", type_=AUDIT_TABLE.c[c].type) for c in audit_columns}
        )
        stmt = stmt.add_cte(audit_insert.cte("audit_entry"))
    return stmt


def _with_new_points(points: Points, rows: list[dict[str, Any]]) -> Points:
    """The window's readings with the rows about to be stored, in day order."""
    merged = {key: list(found) for key, found in points.items()}
    for row in rows:
        insort(merged[(row["device_id"], row["meter"])], (row["reading_date"], row["value"]))
    return merged


async def _insert(
    context: Context,
    rows: list[dict[str, Any]],
    spans: list[Span],
    points: Points | None = None,
    audit_entry: dict[str, Any] | None = None,
) -> list[Any]:
    """One INSERT ... RETURNING for all rows (Core rows of `meter_readings`, in input order:
    not `sort_by_parameter_order`, SQLite would then insert row by row; the rows' own key gives
    the order back); then the devices' newest reading day and the usage rollup of the months
    around the readings. `points` (from `check_rows(..., window=True)`): the rollup's readings
    as read with the rules, so the rollup is computed without reading them again. On
    PostgreSQL with `points`, one statement writes it all (data-modifying CTEs), with
    `audit_entry` if given (then counted as written); elsewhere the entry is left to the
    caller."""
    session = context.session
    dated = [(r["device_id"], r["reading_date"]) for r in rows]
    months = (
        month_rows(span_windows(spans), _with_new_points(points, rows))
        if points is not None
        else None
    )
    returned = READING_TABLE.c
    if session.get_bind().dialect.name == "postgresql" and months:
        # One statement, built and compiled once per shape: the insert and, in data-modifying
        # CTEs, the devices' newest day, the rollup months and the audit entry.
        newest = _newest_days(dated)
        audit_columns = tuple(audit_entry) if audit_entry is not None else None
        stmt = _one_statement(
            tuple(rows[0]), len(rows), len(newest), tuple(months[0]), len(months), audit_columns
        )
        params = _bound("r", rows) | _bound("m", months) | _bound("a", [audit_entry or {}])
        for j, (device_id, day) in enumerate(newest.items()):
            params[f"sub_nd_id_{j}"] = device_id
            params[f"sub_nd_day_{j}"] = day
        found = (await session.execute(stmt, params)).all()
        if audit_entry is not None:
            count_written(context)
    elif session.get_bind().dialect.name == "postgresql":
        stmt = (
            insert(READING_TABLE)
            .values(rows)
            .returning(*returned)
            .add_cte(_newest_day_update(dated).cte("newest_day"))
        )
        found = (await session.execute(stmt)).all()
    else:
        found = (await session.execute(insert(READING_TABLE).returning(*returned), rows)).all()
        await record_reading_dates(session, dated)
    stored = {(r.device_id, r.meter, r.reading_date): r for r in found}
    if months is None:
        await respread(session, spans)
    elif session.get_bind().dialect.name != "postgresql":
        await upsert_months(session, months)
    return [stored[(row["device_id"], row["meter"], row["reading_date"])] for row in rows]


async def announce_refused(context: Context, outcomes: list[RowOutcome]) -> None:
    """The webhook event of each device whose readings the rules refused (not of devices the
    submitter could not name or reach: nothing happened to those)."""
    for outcome in outcomes:
        device = outcome.device
        codes = {e.code for e in outcome.errors}
        if device is None or not codes or codes & {"DEVICE_NOT_FOUND", "FORBIDDEN"}:
            continue
        await emit(
            context.session,
            WebhookEvent.READING_REFUSED,
            account_id=device.account_id,
            subject_id=device.id,
        )


async def submit_one(
    context: Context,
    row: RowIn,
    source: ReadingSource,
    audit_entry: dict[str, Any] | None = None,
) -> RowOutcome:
    """All readings of one device, accepted together or refused together: with any error the
    outcome carries every error found and nothing is written. `audit_entry`: the operation's
    audit entry, written with the readings when the database allows it in one statement
    (counted as written then, see `resolvers.audit.count_written`)."""
    [outcome] = await check_rows(
        context,
        [row],
        permission=P.SUBMIT_METER_READINGS,
        remote=False,
        prefixes=[[]],
        window=True,
    )
    if any(e.code == "FORBIDDEN" for e in outcome.errors):
        raise Forbidden(language=context.language, required=P.SUBMIT_METER_READINGS.value)
    if outcome.errors:
        await announce_refused(context, [outcome])
        return outcome
    scope = await context.require_scope()
    try:
        outcome.readings = await _insert(
            context,
            _reading_rows(scope, row, outcome, source),
            outcome.spans,
            outcome.points,
            audit_entry,
        )
    except IntegrityError as error:
        if not is_unique_day_violation(error):
            raise
        # Lost the race to a concurrent submission for the same day: the caller's transaction
        # is rolled back by the mutation wrapper.
        raise UserError(
            "READING_ALREADY_TODAY",
            ["readings"],
            meter=", ".join(r.meter.value for r in row.readings),
            date=outcome.reading_date,
        ) from None
    return outcome


async def submit_many(
    context: Context,
    rows: list[RowIn],
    source: ReadingSource,
    *,
    permission: Permission,
    remote: bool,
) -> list[RowOutcome]:
    """Good rows are stored, bad rows reported. One insert for all good rows; only when a
    concurrent writer wins a (device, meter, day) in between does it fall back to one
    savepoint per row to find out which."""
    if len(rows) > MAX_BATCH_ROWS:
        raise UserError("TOO_MANY_ROWS", ["rows"], max=MAX_BATCH_ROWS)
    outcomes = await check_rows(
        context,
        rows,
        permission=permission,
        remote=remote,
        prefixes=[["rows", str(i)] for i in range(len(rows))],
    )
    scope = await context.require_scope()
    good = [o for o in outcomes if not o.errors]
    await announce_refused(context, outcomes)
    if not good:
        return outcomes
    session = context.session
    try:
        async with session.begin_nested():
            inserted = await _insert(
                context,
                [r for o in good for r in _reading_rows(scope, rows[o.index], o, source)],
                [span for o in good for span in o.spans],
            )
        by_row = iter(inserted)
        for o in good:
            o.readings = [next(by_row) for _ in rows[o.index].readings]
        return outcomes
    except IntegrityError as error:
        if not is_unique_day_violation(error):
            raise
    for o in good:
        try:
            async with session.begin_nested():
                o.readings = await _insert(
                    context, _reading_rows(scope, rows[o.index], o, source), o.spans
                )
        except IntegrityError as error:
            if not is_unique_day_violation(error):
                raise
            o.errors.append(
                UserError(
                    "READING_ALREADY_TODAY",
                    ["rows", str(o.index), "readings"],
                    meter=", ".join(r.meter.value for r in rows[o.index].readings),
                    date=o.reading_date,
                )
            )
    return outcomes


async def correct_reading(
    context: Context, reading_gid: str, value: int, reason: str
) -> MeterReading:
    """An agent changes a reading's value in place; the original goes to the audit log. The
    neighbours' order (never lower than before, never higher than after) still holds."""
    scope = await context.require_scope()
    if not scope.holds_anywhere(P.CORRECT_METER_READINGS):
        raise Forbidden(language=context.language, required=P.CORRECT_METER_READINGS.value)
    reading_id = decode_id_or_none(reading_gid, "MeterReading")
    found = (
        await context.loaders[MeterReadingByIdLoader].load(reading_id)
        if reading_id is not None
        else None
    )
    if found is None:
        raise UserError("READING_NOT_FOUND", ["readingId"])
    reading: MeterReading = found[0]
    device: Device = found[1]
    if P.CORRECT_METER_READINGS not in scope.permissions_on_device(device):
        raise Forbidden(language=context.language, required=P.CORRECT_METER_READINGS.value)
    reason = reason.strip()
    if not reason:
        raise UserError("REASON_REQUIRED", ["reason"])
    if len(reason) > MAX_REASON_LENGTH:
        raise UserError("VALUE_TOO_LONG", ["reason"], max=MAX_REASON_LENGTH)
    if value < 0:
        raise UserError("READING_NEGATIVE", ["value"])
    await lock_devices(context.session, [device.id])
    key = (device.id, reading.meter, reading.reading_date)
    [neighbours] = await load_neighbours(context, [key])
    broken = order_errors(value, reading.meter.value, neighbours, ["value"])
    if broken:
        raise broken[0]
    audit(
        context,
        "meter_reading.corrected",
        "MeterReading",
        reading.id,
        {
            "device_id": device.id,
            "meter": reading.meter.value,
            "reading_date": reading.reading_date.isoformat(),
            "original_value": reading.value,
            "original_source": reading.source.value,
            "original_submitted_by_user_id": reading.submitted_by_user_id,
            "original_submitted_by_client_id": reading.submitted_by_client_id,
            "value": value,
            "reason": reason,
        },
    )
    reading.value = value
    reading.source = ReadingSource.AGENT_CORRECTION
    reading.correction_reason = reason
    reading.submitted_by_user_id = scope.user_id
    reading.submitted_by_client_id = None
    await context.session.flush()
    await respread(context.session, [_span(key, neighbours)])
    return reading


# --- reading ----------------------------------------------------------------------------------


async def meter_reading_connection(
    context: Context,
    device_id: int,
    *,
    meter: MeterType | None,
    from_: date | None,
    to: date | None,
    first: int | None,
    after: str | None,
    flags: Iterable[Flag] | None = None,
) -> Page:
    """A device's readings, newest first; keyset-paged on (reading_date, id). `flags`: only
    readings carrying one of them (none when empty)."""
    stmt = select(MeterReading).where(MeterReading.device_id == device_id)
    if flags is not None:
        bits = flags_to_bits(set(flags))
        stmt = stmt.where(MeterReading.flags.op("&")(bits) != 0)
    if meter is not None:
        stmt = stmt.where(MeterReading.meter == meter)
    if from_ is not None:
        stmt = stmt.where(MeterReading.reading_date >= from_)
    if to is not None:
        stmt = stmt.where(MeterReading.reading_date <= to)
    sort = [
        SortField(MeterReading.reading_date.expression, "date"),
        SortField(MeterReading.id.expression, "int"),
    ]
    return await paginate(
        context.session,
        stmt,
        sort,
        PageRequest(first, after),
        descending=True,
    )
