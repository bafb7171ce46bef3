"""Reading flags and billing estimates (no database)."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from forecasting.meters import (
    Basis,
    Flag,
    bits_to_flags,
    estimate_on,
    flags_to_bits,
    reading_flags,
)
from forecasting.usage import Reading

MONDAY = date(2027, 3, 1)


def _flags(days: int, pages: int, usual: float | None = 100.0, **kw: object) -> set[Flag]:
    return reading_flags(
        previous=(MONDAY, 1000),
        day=MONDAY + timedelta(days=days),
        value=1000 + pages,
        usual_pages_per_day=usual,
        max_pages_per_day=kw.get("max_pages", 3000),  # type: ignore[arg-type]
        stale_after_days=45,
        estimated=bool(kw.get("estimated", False)),
    )


def test_flags() -> None:
    assert _flags(7, 700) == set()
    assert _flags(7, 7 * 301) == {Flag.SPIKE}  # over three times the usual 100 a day
    assert _flags(7, 7 * 299) == set()
    assert _flags(1, 450, usual=10) == set()  # too few pages to call a spike
    assert _flags(1, 3000, usual=None) == {Flag.SPIKE}  # all the model can print in a day
    assert _flags(1, 2999, usual=None) == set()
    assert _flags(46, 4600) == {Flag.STALE_DEVICE}
    assert _flags(45, 4500) == set()
    assert _flags(7, 700, estimated=True) == {Flag.ESTIMATED}
    assert (
        reading_flags(
            previous=None,
            day=MONDAY,
            value=5,
            usual_pages_per_day=None,
            max_pages_per_day=10,
            stale_after_days=1,
        )
        == set()
    )


def test_flag_bits_round_trip() -> None:
    for flags in ({Flag.SPIKE}, {Flag.STALE_DEVICE, Flag.ESTIMATED}, set(Flag), set()):
        assert set(bits_to_flags(flags_to_bits(flags))) == flags


def test_estimates() -> None:
    readings = [Reading(MONDAY + timedelta(days=7 * k), 1000 + 530 * k) for k in range(5)]
    # a reading that day
    read = estimate_on(readings, MONDAY + timedelta(days=7))
    assert read is not None and (read.value, read.basis) == (1530, Basis.READ)
    # between two readings: Friday holds Tue-Fri, 4 working days of 100
    friday = estimate_on(readings, MONDAY + timedelta(days=11))
    assert friday is not None and friday.basis is Basis.INTERPOLATED
    assert (friday.value, friday.low, friday.high) == (1930, 1530, 2060)
    # after the last reading: two more weeks of the trend
    later = estimate_on(readings, MONDAY + timedelta(days=42))
    assert later is not None and later.basis is Basis.EXTRAPOLATED
    assert later.value == 1000 + 530 * 6 and later.low <= later.value <= later.high
    assert estimate_on(readings, MONDAY - timedelta(days=1)) is None
    assert estimate_on(readings[:1], MONDAY + timedelta(days=3)) is None


@given(
    points=st.lists(st.tuples(st.integers(0, 300), st.integers(0, 10**6)), min_size=1, max_size=20),
    offset=st.integers(-10, 400),
)
def test_estimates_are_ordered(points: list[tuple[int, int]], offset: int) -> None:
    by_day = {d: v for d, v in points}
    values = sorted(by_day.values())
    readings = [
        Reading(MONDAY + timedelta(days=d), v) for d, v in zip(sorted(by_day), values, strict=True)
    ]
    found = estimate_on(readings, MONDAY + timedelta(days=offset))
    if found is not None:
        assert found.low <= found.value <= found.high
        last = max(r.day for r in readings)
        if MONDAY + timedelta(days=offset) > last:
            assert found.low >= values[-1]
