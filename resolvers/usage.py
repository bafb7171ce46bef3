"""Usage analytics: pages printed per group and period, computed in SQL.

MONTH reports read the usage rollup (`meter_usage_months`, one row per device, meter and month,
kept by every write of readings: resolvers/usage_rollup.py) for the months they count whole,
and the month's readings plus the rollup's points around it for a month counted in part (see
`_rollup_shares`); a 12-month report of 20,000 devices reads ~0.8 M rollup rows and a month of
readings instead of a year of them. DAY and WEEK reports are computed from the readings as
follows; both give the same figures (tests/meters/test_meter_usage_rollup.py).

Pages are differences between consecutive readings of a meter, spread evenly over the days
between the two readings, then summed per group, meter and period. The readings never travel to
Python: only one row per (group, meter, period) does.

Dates become day numbers (days since EPOCH) so that the same arithmetic runs on SQLite and
PostgreSQL, and each reading gets the index of its period by arithmetic (months by a CASE on
their first days). Then:
- inside one period, consecutive readings telescope: the pages are its last minus its first
  reading (max - min, counters never go down), a hash aggregate over the readings;
- the interval from a period's last reading to the next one's first (LAG over the per-period
  rows, a window over a few rows per meter instead of every reading) is spread over the periods
  it overlaps: pages * (min(e, t) - max(p + 1, s) + 1) / (e - p), with the periods a VALUES
  table of day-number ranges (at most MAX_PERIODS).

Which readings: those inside [from, to], plus the first reading after `to` of each meter (its
interval reaches back into the range), plus, for the first period of each meter, the reading
before `from` (its interval reaches forward into the range); both are index seeks on
(device_id, meter, reading_date)."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Date,
    Float,
    Integer,
    and_,
    case,
    cast,
    column,
    func,
    literal,
    null,
    select,
    text,
    type_coerce,
    union_all,
    values,
)
from sqlalchemy.orm import aliased

from auth.policy import Permission
from core import clock
from core.errors import BadUserInput
from core.ids import decode_id
from models import (
    Account,
    Device,
    MeterReading,
    MeterUsageMonth,
    ProductModel,
    ProductModelMeter,
    Site,
)
from models.enums import MeterType
from resolvers.accounts import account_tree

if TYPE_CHECKING:
    from resolvers.context import Context

EPOCH = date(2000, 1, 3)
MAX_PERIODS = 400
# Report days outside these are refused (the period arithmetic would leave the calendar).
FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(2099, 12, 31)
MAX_RANGE_DAYS = 3 * 366


class GroupBy(enum.Enum):
    DEVICE = "DEVICE"
    SITE = "SITE"
    ACCOUNT = "ACCOUNT"
    MODEL = "MODEL"


class Period(enum.Enum):
    DAY = "DAY"
    WEEK = "WEEK"
    MONTH = "MONTH"


# Periods answered from the usage rollup; the others from the readings alone (bench/meters.py
# empties it to time the readings' path against the rollup's).
ROLLUP_PERIODS = frozenset({Period.MONTH})

GROUP_TYPE_NAMES = {
    GroupBy.DEVICE: "Device",
    GroupBy.SITE: "Site",
    GroupBy.ACCOUNT: "Account",
    GroupBy.MODEL: "ProductModel",
}


@dataclass(frozen=True)
class UsageFilterIn:
    account_ids: Sequence[str] | None = None
    site_ids: Sequence[str] | None = None
    device_ids: Sequence[str] | None = None
    meters: Sequence[MeterType] | None = None
    from_: date | None = None
    to: date | None = None


@dataclass(frozen=True)
class UsageRow:
    group_type: str
    group_id: int
    group_name: str
    meter: MeterType
    period_start: date
    period_end: date
    pages: float


def periods(start: date, end: date, period: Period) -> list[tuple[date, date, date, date]]:
    """(calendar start, calendar end, first day counted, last day counted) of each period
    covering [start, end] (the first and last are counted only inside the range)."""
    result: list[tuple[date, date, date, date]] = []
    cursor = {
        Period.DAY: start,
        Period.WEEK: start - timedelta(days=start.weekday()),
        Period.MONTH: start.replace(day=1),
    }[period]
    while cursor <= end:
        if period is Period.DAY:
            following = cursor + timedelta(days=1)
        elif period is Period.WEEK:
            following = cursor + timedelta(days=7)
        else:
            following = (cursor.replace(day=28) + timedelta(days=4)).replace(day=1)
        last = following - timedelta(days=1)
        result.append((cursor, last, max(cursor, start), min(last, end)))
        cursor = following
    return result


def _day_number(expr: Any, dialect: str) -> Any:
    if dialect == "postgresql":
        return type_coerce(expr - literal(EPOCH, Date), Integer)
    return cast(func.julianday(expr) - func.julianday(EPOCH.isoformat()), Integer)


def _n(day: date) -> int:
    return (day - EPOCH).days


def _period_index(day: Any, spans: list[tuple[date, date, date, date]], period: Period) -> Any:
    """Which period a day number falls in, by arithmetic (months by a CASE on their first
    days): -1 before the range, len(spans) after it."""
    first, last = _n(spans[0][2]), _n(spans[-1][3])
    inner: Any
    if period is Period.DAY:
        inner = day - first
    elif period is Period.WEEK:
        inner = (day - _n(spans[0][0])) // 7
    elif len(spans) == 1:
        inner = literal(0)
    else:
        inner = case(
            *[(day < _n(spans[k + 1][0]), k) for k in range(len(spans) - 1)],
            else_=len(spans) - 1,
        )
    return case((day.is_(None), null()), (day < first, -1), (day > last, len(spans)), else_=inner)


async def meter_usage(
    context: Context, filter: UsageFilterIn, group_by: GroupBy, period: Period
) -> list[UsageRow]:
    scope = await context.require_scope()
    language = context.language
    for day in (filter.from_, filter.to):
        if day is not None and not FIRST_DAY <= day <= LAST_DAY:
            raise BadUserInput(
                message_code="DATE_OUT_OF_RANGE",
                params={"min": FIRST_DAY.isoformat(), "max": LAST_DAY.isoformat()},
                language=language,
                argument="from" if day is filter.from_ else "to",
            )
    to = filter.to or clock.utc_today()
    start = filter.from_ or (to - timedelta(days=364))
    if start > to:
        raise BadUserInput(message_code="FROM_AFTER_TO", language=language, argument="from")
    if (to - start).days > MAX_RANGE_DAYS:
        raise BadUserInput(
            message_code="USAGE_RANGE_TOO_LONG",
            params={"maximum": MAX_RANGE_DAYS},
            language=language,
            argument="from",
        )
    spans = periods(start, to, period)
    if len(spans) > MAX_PERIODS:
        raise BadUserInput(
            message_code="USAGE_TOO_MANY_PERIODS",
            params={"maximum": MAX_PERIODS},
            language=language,
            argument="period",
        )

    # Devices in reach: those visible, on accounts where the viewer may see usage analytics.
    reach = scope.devices_clause(requiring=Permission.VIEW_USAGE_ANALYTICS)
    group_key: Any
    group_table: Any
    group_name: Any
    group_key, group_table, group_name = {
        GroupBy.DEVICE: (Device.id, Device, Device.serial_number),
        GroupBy.SITE: (Device.site_id, Site, Site.name),
        GroupBy.ACCOUNT: (Device.account_id, Account, Account.name),
        GroupBy.MODEL: (Device.product_model_id, ProductModel, ProductModel.name),
    }[group_by]
    devices = select(
        Device.id.label("device_id"),
        Device.product_model_id.label("model_id"),
        group_key.label("g"),
    ).where(reach)
    if filter.account_ids is not None:
        ids = [decode_id(i, "Account", language=language) for i in filter.account_ids]
        tree = account_tree(ids)
        devices = devices.where(Device.account_id.in_(select(tree.c.id)))
    if filter.site_ids is not None:
        devices = devices.where(
            Device.site_id.in_([decode_id(i, "Site", language=language) for i in filter.site_ids])
        )
    if filter.device_ids is not None:
        devices = devices.where(
            Device.id.in_([decode_id(i, "Device", language=language) for i in filter.device_ids])
        )
    dialect = context.session.get_bind().dialect.name
    meters = list(filter.meters) if filter.meters is not None else None
    # The rollup's parts join the devices each on their own (the planner hashes the 20,000
    # devices and streams the rollup rows past them); the readings' CTEs share one list.
    shares = (
        _rollup_shares(devices.subquery("scoped"), meters, spans, dialect)
        if period in ROLLUP_PERIODS
        else _raw_shares(devices.cte("scoped"), meters, start, to, spans, period, dialect)
    ).subquery("shares")
    totals = (
        select(
            shares.c.g,
            shares.c.meter,
            shares.c.k,
            func.sum(shares.c.share).label("pages"),
        )
        .group_by(shares.c.g, shares.c.meter, shares.c.k)
        .subquery("totals")
    )
    stmt = (
        select(totals.c.g, group_name, totals.c.meter, totals.c.k, totals.c.pages)
        .join(group_table, group_table.id == totals.c.g)
        .order_by(group_name, totals.c.g, totals.c.meter, totals.c.k)
    )
    if dialect == "postgresql":
        # An analytic statement: sort in memory rather than on disk, and skip JIT compilation
        # (seconds for a statement this size), for this transaction only.
        await context.session.execute(text("SET LOCAL work_mem = '256MB'"))
        await context.session.execute(text("SET LOCAL jit = off"))
    type_name = GROUP_TYPE_NAMES[group_by]
    return [
        UsageRow(
            group_type=type_name,
            group_id=int(g),
            group_name=str(name),
            meter=MeterType(meter),
            period_start=spans[k][0],
            period_end=spans[k][1],
            pages=round(float(pages or 0), 3),
        )
        for g, name, meter, k, pages in (await context.session.execute(stmt)).all()
    ]


def _raw_shares(
    scoped: Any,
    meters: list[MeterType] | None,
    start: date,
    to: date,
    spans: list[tuple[date, date, date, date]],
    period: Period,
    dialect: str,
) -> Any:
    """(g, meter, k, share) rows from the readings themselves (module docstring)."""
    # The readings: in range, plus the first one after `to` of each meter (narrow rows: the
    # window sort is the expensive step).
    r, x = MeterReading, aliased(MeterReading, name="x")
    in_range = (
        select(r.device_id, scoped.c.g, r.meter, r.reading_date, r.value)
        .join(scoped, scoped.c.device_id == r.device_id)
        .where(r.reading_date >= start, r.reading_date <= to)
    )
    first_after = select(func.min(x.reading_date)).where(
        x.device_id == scoped.c.device_id,
        x.meter == ProductModelMeter.meter,
        x.reading_date > to,
    )
    after = (
        select(r.device_id, scoped.c.g, r.meter, r.reading_date, r.value)
        .select_from(scoped)
        .join(ProductModelMeter, ProductModelMeter.product_model_id == scoped.c.model_id)
        .join(
            r,
            and_(
                r.device_id == scoped.c.device_id,
                r.meter == ProductModelMeter.meter,
                r.reading_date == first_after.scalar_subquery(),
            ),
        )
    )
    if meters is not None:
        in_range = in_range.where(r.meter.in_(meters))
        after = after.where(ProductModelMeter.meter.in_(meters))
    base = union_all(in_range, after).subquery("base")
    day = _day_number(base.c.reading_date, dialect)

    # One row per device, meter and period: its first and last reading. Between readings of one
    # period the pages are last - first (counters never go down: the submission rules and
    # corrections keep every meter in order), so most readings only go through a hash
    # aggregate; the after-`to` reading makes a period of its own (index len(spans)).
    located = select(
        base.c.device_id,
        base.c.g,
        base.c.meter,
        base.c.value,
        day.label("day"),
        _period_index(day, spans, period).label("k"),
    ).subquery("located")
    lo = located.c
    grouped = (
        select(
            lo.device_id,
            lo.g,
            lo.meter,
            lo.k,
            func.min(lo.day).label("first_day"),
            func.max(lo.day).label("last_day"),
            func.min(lo.value).label("low"),
            func.max(lo.value).label("high"),
        )
        .group_by(lo.device_id, lo.g, lo.meter, lo.k)
        .cte("grouped")
    )
    gc = grouped.c
    within = select(gc.g, gc.meter, gc.k, cast(gc.high - gc.low, Float).label("share")).where(
        gc.k < len(spans), gc.high > gc.low
    )

    # The interval from a period's last reading to the next period's first one (LAG over the
    # per-period rows); the first one of each meter starts at its reading before `from`.
    partition, order = (gc.device_id, gc.meter), gc.k
    lagged = select(
        gc.g,
        gc.device_id,
        gc.meter,
        gc.first_day,
        gc.low,
        func.lag(gc.last_day).over(partition_by=partition, order_by=order).label("prev_day"),
        func.lag(gc.high).over(partition_by=partition, order_by=order).label("prev_value"),
    ).cte("lagged")
    lc = lagged.c
    pair = (x.device_id == lc.device_id, x.meter == lc.meter, x.reading_date < start)
    before_date = select(func.max(x.reading_date)).where(*pair).scalar_subquery()
    before_value = (
        select(x.value).where(*pair).order_by(x.reading_date.desc()).limit(1).scalar_subquery()
    )
    crossing = select(
        lc.g,
        lc.meter,
        lc.first_day.label("e"),
        func.coalesce(lc.prev_day, _day_number(before_date, dialect)).label("p"),
        (lc.low - func.coalesce(lc.prev_value, before_value)).label("pages"),
    ).cte("crossing")

    # Periods as day-number ranges; a crossing interval is spread over those it overlaps.
    table = (
        values(column("k", Integer), column("s", Integer), column("t", Integer), name="periods")
        .data([(k, _n(first), _n(last)) for k, (_, _, first, last) in enumerate(spans)])
        .cte("periods")
    )
    cc = crossing.c
    low = case((cc.p + 1 > table.c.s, cc.p + 1), else_=table.c.s)
    high = case((cc.e < table.c.t, cc.e), else_=table.c.t)
    across = (
        select(
            cc.g,
            cc.meter,
            table.c.k,
            (cast(cc.pages, Float) * (high - low + 1) / (cc.e - cc.p)).label("share"),
        )
        .select_from(crossing)
        .join(table, and_(cc.p < table.c.t, cc.e >= table.c.s))
        .where(cc.pages > 0)
    )
    return union_all(within, across)


def _rollup_shares(
    scoped: Any,
    meters: list[MeterType] | None,
    spans: list[tuple[date, date, date, date]],
    dialect: str,
) -> Any:
    """(g, meter, k, share) rows of a MONTH report from the usage rollup: whole months are its
    rows; a month counted only in part (the first and last of most ranges) is V(last day) -
    V(day before the first), V being the counter interpolated between the readings around a day
    (the same pages as spreading each interval over its days). Those readings are the month's
    own plus the rollup's `prev_*` / `next_*` points; counters never go down, so the reading
    before a day has the largest value up to it and the one after the smallest beyond it: one
    hash aggregate, no window and no seek per meter."""
    u, r = MeterUsageMonth, MeterReading
    whole = [(k, first) for k, (first, last, s, t) in enumerate(spans) if (s, t) == (first, last)]
    parts: list[Any] = []
    if whole:
        months = (
            values(column("k", Integer), column("month", Date), name="months")
            .data(whole)
            .cte("months")
        )
        rows = (
            select(scoped.c.g, u.meter, months.c.k, func.sum(u.pages).label("share"))
            .join(scoped, scoped.c.device_id == u.device_id)
            .join(months, months.c.month == u.month)
            .where(u.pages > 0)
            .group_by(scoped.c.g, u.meter, months.c.k)
        )
        parts.append(rows.where(u.meter.in_(meters)) if meters is not None else rows)
    for k, (first, last, s, t) in enumerate(spans):
        if (s, t) == (first, last):
            continue
        own = (
            select(
                r.device_id,
                scoped.c.g,
                r.meter,
                _day_number(r.reading_date, dialect).label("day"),
                r.value,
            )
            .join(scoped, scoped.c.device_id == r.device_id)
            .where(r.reading_date >= first, r.reading_date <= last)
        )
        around = [
            select(
                u.device_id,
                scoped.c.g,
                u.meter,
                _day_number(day_column, dialect),
                value_column,
            )
            .join(scoped, scoped.c.device_id == u.device_id)
            .where(u.month == first, day_column.is_not(None))
            for day_column, value_column in ((u.prev_day, u.prev_value), (u.next_day, u.next_value))
        ]
        if meters is not None:
            own = own.where(r.meter.in_(meters))
            around = [q.where(u.meter.in_(meters)) for q in around]
        points = union_all(own, *around).subquery(f"points_{k}")
        day = points.c.day
        ends = {"a": _n(s) - 1, "b": _n(t)}
        around_ends = (
            select(
                points.c.g,
                points.c.meter,
                *[
                    column
                    for name, x in ends.items()
                    for column in (
                        func.max(case((day <= x, day))).label(f"{name}_pd"),
                        func.max(case((day <= x, points.c.value))).label(f"{name}_pv"),
                        func.min(case((day > x, day))).label(f"{name}_nd"),
                        func.min(case((day > x, points.c.value))).label(f"{name}_nv"),
                    )
                ],
            )
            .group_by(points.c.device_id, points.c.g, points.c.meter)
            .subquery(f"ends_{k}")
        )

        def counter(name: str, x: int, e: Any = around_ends.c) -> Any:
            pd, pv, nd, nv = (e[f"{name}_{c}"] for c in ("pd", "pv", "nd", "nv"))
            return case(
                (pd.is_(None), cast(nv, Float)),
                (nd.is_(None), cast(pv, Float)),
                else_=pv + cast(nv - pv, Float) * (x - pd) / (nd - pd),
            )

        share = counter("b", ends["b"]) - counter("a", ends["a"])
        parts.append(
            select(
                around_ends.c.g, around_ends.c.meter, literal(k).label("k"), share.label("share")
            ).where(share > 0)
        )
    return parts[0] if len(parts) == 1 else union_all(*parts)
