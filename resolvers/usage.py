"""Usage analytics: pages printed per group and period, computed in SQL.

Pages are differences between consecutive readings of a meter (window function LAG), spread
evenly over the days between the two readings, then summed per group, meter and period. The
readings never travel to Python: only one row per (group, meter, period) does.

Dates become day numbers (days since EPOCH) so that the same arithmetic runs on SQLite and
PostgreSQL; the periods (at most MAX_PERIODS) are a VALUES table of day-number ranges, and the
share of an interval (p, e] that falls into a period [s, t] is plain arithmetic:
    pages * (min(e, t) - max(p + 1, s) + 1) / (e - p).

Which readings: those inside [from, to], plus the first reading after `to` of each meter (its
interval reaches back into the range), plus, for the first of each meter in that set, the
reading before `from` (its interval reaches forward into the range); both are index seeks on
(device_id, meter, reading_date)."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
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
    select,
    type_coerce,
    union_all,
    values,
)
from sqlalchemy.orm import aliased

from auth.policy import Permission
from models import Account, Device, MeterReading, ProductModel, ProductModelMeter, Site
from models.enums import MeterType
from resolvers.devices import account_tree
from schema.errors import BadUserInput
from schema.node import decode_id

if TYPE_CHECKING:
    from schema.context import Context

EPOCH = date(2000, 1, 3)
MAX_PERIODS = 400
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


async def meter_usage(
    context: Context, filter: UsageFilterIn, group_by: GroupBy, period: Period
) -> list[UsageRow]:
    scope = await context.require_scope()
    language = context.language
    to = filter.to or datetime.now(UTC).date()
    start = filter.from_ or (to - timedelta(days=364))
    if start > to:
        raise BadUserInput("`from` must not be after `to`.", language=language, argument="from")
    if (to - start).days > MAX_RANGE_DAYS:
        raise BadUserInput(
            f"At most {MAX_RANGE_DAYS} days per report.", language=language, argument="from"
        )
    spans = periods(start, to, period)
    if len(spans) > MAX_PERIODS:
        raise BadUserInput(
            f"At most {MAX_PERIODS} periods per report; choose a longer period.",
            language=language,
            argument="period",
        )

    # Devices in reach: those visible, on accounts where the viewer may see usage analytics.
    reach = scope.devices_clause()
    if not scope.is_global:
        reach = and_(
            reach,
            Device.account_id.in_(sorted(scope.accounts_with(Permission.VIEW_USAGE_ANALYTICS))),
        )
    group_key, group_name, join = {
        GroupBy.DEVICE: (Device.id, Device.serial_number, None),
        GroupBy.SITE: (Site.id, Site.name, (Site, Site.id == Device.site_id)),
        GroupBy.ACCOUNT: (Account.id, Account.name, (Account, Account.id == Device.account_id)),
        GroupBy.MODEL: (
            ProductModel.id,
            ProductModel.name,
            (ProductModel, ProductModel.id == Device.product_model_id),
        ),
    }[group_by]
    devices = select(
        Device.id.label("device_id"),
        Device.product_model_id.label("model_id"),
        group_key.label("g"),
        group_name.label("gname"),
    ).where(reach)
    if join is not None:
        devices = devices.join(*join)
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
    scoped = devices.cte("scoped")

    r, x = MeterReading, aliased(MeterReading, name="x")
    in_range = (
        select(scoped.c.device_id, scoped.c.g, scoped.c.gname, r.meter, r.reading_date, r.value)
        .join(scoped, scoped.c.device_id == r.device_id)
        .where(r.reading_date >= start, r.reading_date <= to)
    )
    first_after = select(func.min(x.reading_date)).where(
        x.device_id == scoped.c.device_id,
        x.meter == ProductModelMeter.meter,
        x.reading_date > to,
    )
    after = (
        select(scoped.c.device_id, scoped.c.g, scoped.c.gname, r.meter, r.reading_date, r.value)
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
    if filter.meters is not None:
        in_range = in_range.where(r.meter.in_(list(filter.meters)))
        after = after.where(ProductModelMeter.meter.in_(list(filter.meters)))
    base = union_all(in_range, after).cte("base")

    partition, order = (base.c.device_id, base.c.meter), base.c.reading_date
    lagged = select(
        *base.c,
        func.lag(base.c.reading_date)
        .over(partition_by=partition, order_by=order)
        .label("prev_date"),
        func.lag(base.c.value).over(partition_by=partition, order_by=order).label("prev_value"),
    ).cte("lagged")

    pair = (x.device_id == lagged.c.device_id, x.meter == lagged.c.meter, x.reading_date < start)
    before_date = select(func.max(x.reading_date)).where(*pair).scalar_subquery()
    before_value = (
        select(x.value).where(*pair).order_by(x.reading_date.desc()).limit(1).scalar_subquery()
    )
    dialect = context.session.get_bind().dialect.name
    intervals = select(
        lagged.c.g,
        lagged.c.gname,
        lagged.c.meter,
        _day_number(lagged.c.reading_date, dialect).label("e"),
        _day_number(func.coalesce(lagged.c.prev_date, before_date), dialect).label("p"),
        (lagged.c.value - func.coalesce(lagged.c.prev_value, before_value)).label("pages"),
    ).cte("intervals")

    table = (
        values(column("k", Integer), column("s", Integer), column("t", Integer), name="periods")
        .data([(k, _n(first), _n(last)) for k, (_, _, first, last) in enumerate(spans)])
        .cte("periods")
    )
    iv = intervals.c
    low = case((iv.p + 1 > table.c.s, iv.p + 1), else_=table.c.s)
    high = case((iv.e < table.c.t, iv.e), else_=table.c.t)
    share = cast(iv.pages, Float) * (high - low + 1) / (iv.e - iv.p)
    stmt = (
        select(iv.g, iv.gname, iv.meter, table.c.k, func.sum(share))
        .select_from(intervals)
        .join(table, and_(iv.p < table.c.t, iv.e >= table.c.s))
        .group_by(iv.g, iv.gname, iv.meter, table.c.k)
        .order_by(iv.gname, iv.g, iv.meter, table.c.k)
    )
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
