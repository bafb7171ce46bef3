"""The monthly usage rollup (`models.MeterUsageMonth`), kept right on every write of readings.

A reading stored, corrected or removed on day d of a meter changes the pages of the months
covered by its two intervals, from the reading before d to the one after (and the `prev_*` /
`next_*` points of those months and of the month of the reading before). Those months are
recomputed whole from the readings, never adjusted by a difference: a retried or overlapping
write cannot make the rollup drift from the readings.

Writers of one device take turns: the write paths lock the device rows first (PostgreSQL; SQLite
has one writer at a time), so whoever comes second recomputes with the first one's readings.
Code that writes `meter_readings` by hand (fixtures, clean-ups) calls `respread_around`."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import Any
from typing import cast as type_cast

from sqlalchemy import (
    ColumnElement,
    Date,
    Float,
    Integer,
    String,
    Table,
    and_,
    bindparam,
    cast,
    column,
    func,
    literal,
    null,
    select,
    union_all,
    values,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import aliased

from models import Device, MeterReading, MeterUsageMonth
from models.enums import MeterType

ONE_DAY = timedelta(days=1)

# The write paths pass their session; seeding, fixtures and clean-ups a connection.
Executor = AsyncSession | AsyncConnection

# (device id, meter, first day, last day): the months from the first day's to the last day's
# are to be recomputed.
Span = tuple[int, MeterType, date, date]


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)


def month_end(month: date) -> date:
    return next_month(month) - ONE_DAY


@dataclass(frozen=True)
class MonthRow:
    month: date
    pages: float
    prev: tuple[date, int] | None
    next: tuple[date, int] | None


def spread(points: Sequence[tuple[date, int]], first: date, last: date) -> list[MonthRow]:
    """The rows of the months `first`..`last` (first days) from a meter's readings in day
    order, which must reach from the last reading before `first` to the first one after the end
    of `last`. Each interval's pages go to the months it covers in proportion of its days, with
    the arithmetic of resolvers/usage.py: pages * days in the month / days of the interval.
    (Day ordinals, not dates, in the loops: seeding the large fleet runs this 60,000 times.)"""
    months = [first]
    while months[-1] < last:
        months.append(next_month(months[-1]))
    starts = [m.toordinal() for m in months]
    ends = [next_month(m).toordinal() - 1 for m in months]
    days = [day.toordinal() for day, _ in points]
    pages = [0.0] * len(months)
    for i in range(1, len(points)):
        p, e = days[i - 1], days[i]
        k = max(bisect_right(starts, p + 1) - 1, 0)
        while k < len(months) and starts[k] <= e:
            covered = min(e, ends[k]) - max(p + 1, starts[k]) + 1
            if covered > 0:
                pages[k] += float(points[i][1] - points[i - 1][1]) * covered / (e - p)
            k += 1
    rows = []
    for k, month in enumerate(months):
        before = bisect_left(days, starts[k])
        after = bisect_right(days, ends[k])
        rows.append(
            MonthRow(
                month,
                pages[k],
                points[before - 1] if before > 0 else None,
                points[after] if after < len(points) else None,
            )
        )
    return rows


def _dialect(session: Executor) -> str:
    if isinstance(session, AsyncConnection):
        return session.dialect.name
    return session.get_bind().dialect.name


def row_values(device_id: int, meter: MeterType, row: MonthRow) -> dict[str, Any]:
    return {
        "device_id": device_id,
        "meter": meter,
        "month": row.month,
        "pages": row.pages,
        "prev_day": row.prev[0] if row.prev else None,
        "prev_value": row.prev[1] if row.prev else None,
        "next_day": row.next[0] if row.next else None,
        "next_value": row.next[1] if row.next else None,
    }


async def lock_devices(session: Executor, device_ids: Iterable[int]) -> None:
    """Row locks on the devices whose readings are about to change, in id order (PostgreSQL;
    on SQLite the write lock already serialises writers, and no statement is sent)."""
    if _dialect(session) != "postgresql":
        return
    ids = sorted(set(device_ids))
    if ids:
        await session.execute(
            select(Device.id).where(Device.id.in_(ids)).order_by(Device.id).with_for_update()
        )


# Up to this many rows, a table of bound values is a UNION ALL of one-row SELECTs, which
# SQLAlchemy caches compiled (a VALUES clause it compiles anew every time); above, VALUES (SQLite
# allows 500 SELECTs in one compound).
CACHED_ROWS = 64


def bound_values(name: str, columns: Sequence[tuple[str, Any]], rows: int) -> Any:
    """A table `name` of `rows` rows whose every cell is a bound parameter (`bound_data` gives
    their values): a statement built on it for a number of rows is built once, and for up to
    CACHED_ROWS rows compiled once, not once per request."""
    cells = [tuple(bindparam(f"{name}_{c}_{i}", type_=t) for c, t in columns) for i in range(rows)]
    if rows > CACHED_ROWS:
        return values(*(column(c, t) for c, t in columns), name=name).data(cells).cte(name)
    selects = [
        select(*(cell.label(c) for cell, (c, _) in zip(row, columns, strict=True))) for row in cells
    ]
    return (selects[0] if rows == 1 else union_all(*selects)).cte(name)


def bound_data(
    name: str, columns: Sequence[tuple[str, Any]], data: Iterable[Sequence[Any]]
) -> dict[str, Any]:
    return {
        f"{name}_{c}_{i}": value
        for i, row in enumerate(data)
        for (c, _), value in zip(columns, row, strict=True)
    }


WINDOW_COLUMNS = (("device_id", Integer()), ("meter", String(32)), ("lo", Date()), ("hi", Date()))


@lru_cache(maxsize=64)
def _window_readings(rows: int) -> Any:
    """The readings `respread` needs for `rows` (device, meter, first month, last month)."""
    asked = bound_values("asked", WINDOW_COLUMNS, rows)
    r = MeterReading
    return (
        select(r.device_id, r.meter, r.reading_date, r.value)
        .select_from(asked)
        .join(r, _in_window(asked))
        .order_by(r.device_id, r.meter, r.reading_date)
    )


def _in_window(asked: Any) -> ColumnElement[bool]:
    """A reading of the asked (device, meter) from the reading before `lo` to the reading
    after `hi` (or from lo to hi where there is none): what respreading those months reads."""
    r, x = MeterReading, aliased(MeterReading, name="x")
    pair = (x.device_id == asked.c.device_id, x.meter == asked.c.meter)
    before = select(func.max(x.reading_date)).where(*pair, x.reading_date < asked.c.lo)
    after = select(func.min(x.reading_date)).where(*pair, x.reading_date > asked.c.hi)
    return and_(
        r.device_id == asked.c.device_id,
        r.meter == asked.c.meter,
        r.reading_date >= func.coalesce(before.scalar_subquery(), asked.c.lo),
        r.reading_date <= func.coalesce(after.scalar_subquery(), asked.c.hi),
    )


Windows = dict[tuple[int, MeterType], tuple[date, date]]
Points = dict[tuple[int, MeterType], list[tuple[date, int]]]


def span_windows(spans: Iterable[Span]) -> Windows:
    """The spans merged per (device, meter): first and last day whose months are recomputed."""
    windows: Windows = {}
    for device_id, meter, low, high in spans:
        key = (device_id, meter)
        if key in windows:
            low, high = min(low, windows[key][0]), max(high, windows[key][1])
        windows[key] = (low, high)
    return windows


def month_rows(windows: Windows, points: Points) -> list[dict[str, Any]]:
    """The rollup rows of the windows' months, from the readings `_window_readings` finds."""
    return [
        row_values(device_id, meter, row)
        for (device_id, meter), (lo, hi) in windows.items()
        for row in spread(points[(device_id, meter)], month_start(lo), month_start(hi))
    ]


async def respread(session: Executor, spans: Iterable[Span]) -> None:
    """Recomputes the months of the given spans from the readings: one statement reads the
    readings they need, one upserts a row per month."""
    windows = span_windows(spans)
    if not windows:
        return
    stmt = _window_readings(len(windows))
    params = bound_data(
        "asked",
        WINDOW_COLUMNS,
        (
            (d, m.value, month_start(lo), month_end(month_start(hi)))
            for (d, m), (lo, hi) in windows.items()
        ),
    )
    points: Points = {key: [] for key in windows}
    for device_id, meter, day, value in (await session.execute(stmt, params)).all():
        points[(device_id, MeterType(meter))].append((day, value))
    await upsert_months(session, month_rows(windows, points))


WINDOW_USUAL_COLUMNS = (*WINDOW_COLUMNS, ("ulo", Date()), ("uhi", Date()))


@lru_cache(maxsize=64)
def window_and_usual_statement(rows: int) -> Any:
    """For `rows` (device, meter, lo, hi, ulo, uhi): the readings `respread` would read for
    the months lo..hi (kind 1: day, value) and the rollup months from ulo up to (not
    including) uhi (kind 0: month, pages), in one statement, ordered by device, meter and day.
    Built and compiled once per size; `window_and_usual_data` gives its parameters."""
    return ordered_by_kind(
        *window_and_usual_parts(bound_values("asked", WINDOW_USUAL_COLUMNS, rows))
    )


def window_and_usual_parts(asked: Any, *extra: Any) -> tuple[Any, Any]:
    """`window_and_usual_statement`'s two selects over `asked`, a table of (device_id, meter,
    lo, hi, ulo, uhi) with lo and hi first and last days of months; `extra` columns (typed
    NULLs) are added to both, for a union with another kind of row."""
    r, u = MeterReading, MeterUsageMonth
    readings = (
        select(
            literal(1, Integer()).label("kind"),
            r.device_id,
            r.meter,
            r.reading_date.label("day"),
            r.value,
            cast(null(), Float()).label("pages"),
            *extra,
        )
        .select_from(asked)
        .join(r, _in_window(asked))
    )
    months = (
        select(
            literal(0, Integer()).label("kind"),
            u.device_id,
            u.meter,
            u.month,
            cast(null(), Integer()).label("value"),
            u.pages,
            *extra,
        )
        .select_from(asked)
        .join(
            u,
            and_(
                u.device_id == asked.c.device_id,
                u.meter == asked.c.meter,
                u.month >= asked.c.ulo,
                u.month < asked.c.uhi,
            ),
        )
    )
    return readings, months


def ordered_by_kind(*parts: Any) -> Any:
    both = union_all(*parts).subquery("both")
    return select(both).order_by(both.c.kind, both.c.device_id, both.c.meter, both.c.day)


def window_and_usual_data(
    asked: Sequence[tuple[int, MeterType, date, date, date, date]],
) -> dict[str, Any]:
    """Parameters of `window_and_usual_statement`: per (device, meter), the first and last
    day of the span (their months are recomputed) and the usual rate's months [ulo, uhi)."""
    return bound_data(
        "asked",
        WINDOW_USUAL_COLUMNS,
        (
            (d, m.value, month_start(lo), month_end(month_start(hi)), ulo, uhi)
            for d, m, lo, hi, ulo, uhi in asked
        ),
    )


async def upsert_months(session: Executor, rows: list[dict[str, Any]]) -> None:
    """One statement whatever the rows hold: the Core table, not the ORM entity, whose bulk
    insert would split the rows into one statement per pattern of null columns."""
    if not rows:
        return
    await session.execute(upsert_months_statement(_dialect(session), rows[0]), rows)


def upsert_months_statement(dialect: str, columns: Iterable[str], rows: Any = None) -> Any:
    """The upsert of rollup rows with these columns: the rows given with its execution, or
    those `rows` selects (for a data-modifying CTE on PostgreSQL)."""
    table = type_cast(Table, MeterUsageMonth.__table__)
    stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    if rows is not None:
        stmt = stmt.from_select(list(columns), rows)
    keys = ("device_id", "meter", "month")
    return stmt.on_conflict_do_update(
        index_elements=list(keys),
        set_={c: stmt.excluded[c] for c in columns if c not in keys},
    )


DAY_COLUMNS = (("k", Integer()), ("device_id", Integer()), ("meter", String(32)), ("day", Date()))


def asked_days(rows: int) -> Any:
    """A VALUES table `asked(k, device_id, meter, day)` of `rows` (device, meter, day) keys, k
    their position, for one statement to look up the readings around each; `asked_data` gives
    its parameters."""
    return bound_values("asked", DAY_COLUMNS, rows)


def asked_data(keys: Sequence[tuple[int, MeterType, date]]) -> dict[str, Any]:
    return bound_data(
        "asked", DAY_COLUMNS, ((k, d, m.value, day) for k, (d, m, day) in enumerate(keys))
    )


async def respread_around(session: Executor, keys: Iterable[tuple[int, MeterType, date]]) -> None:
    """After readings of (device, meter, day) were written or removed by hand: finds the
    readings around each day (one statement) and recomputes the months between them."""
    keys = list(keys)
    if not keys:
        return
    asked = asked_days(len(keys))
    x = aliased(MeterReading, name="x")
    pair = (x.device_id == asked.c.device_id, x.meter == asked.c.meter)
    stmt = select(
        asked.c.k,
        select(func.max(x.reading_date))
        .where(*pair, x.reading_date < asked.c.day)
        .scalar_subquery(),
        select(func.min(x.reading_date))
        .where(*pair, x.reading_date > asked.c.day)
        .scalar_subquery(),
    )
    found = {
        k: (prev, later) for k, prev, later in (await session.execute(stmt, asked_data(keys))).all()
    }
    await respread(
        session,
        [(d, m, found[k][0] or day, found[k][1] or day) for k, (d, m, day) in enumerate(keys)],
    )
