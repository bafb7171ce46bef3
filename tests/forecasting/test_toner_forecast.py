"""The forecasting arithmetic (no database): hand-computed cases and properties."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from forecasting.demand import needs, runs_out_after
from forecasting.toner import (
    MAX_DAYS,
    RATED_YIELD_WEIGHT,
    Method,
    Reason,
    Replacement,
    Yield,
    cartridge_yields,
    current_cartridge_yield,
    effective_yield,
    forecast,
    is_replacement,
    meter_for,
)
from forecasting.usage import (
    OFFICE_WEEK,
    Reading,
    trimmed_mean,
    usage_rate,
    week_weight,
    weighted_median,
)

MONDAY = date(2027, 3, 1)


def weekly(pages_per_week: list[int], start: date = MONDAY, value: int = 10_000) -> list[Reading]:
    readings = [Reading(start, value)]
    for k, pages in enumerate(pages_per_week, start=1):
        value += pages
        readings.append(Reading(start + timedelta(days=7 * k), value))
    return readings


def test_week_weight_counts_the_days_after_the_start() -> None:
    # Monday to next Monday: Tue..Sun + Mon = 5 working days + a weekend
    assert week_weight(OFFICE_WEEK, MONDAY, MONDAY + timedelta(days=7)) == sum(OFFICE_WEEK)
    # Friday to Monday: Saturday, Sunday, Monday
    friday = MONDAY + timedelta(days=4)
    assert week_weight(OFFICE_WEEK, friday, friday + timedelta(days=3)) == 0.15 + 0.15 + 1.0
    assert week_weight(OFFICE_WEEK, friday, friday) == 0


def test_weighted_median_ignores_an_outlier() -> None:
    assert weighted_median([10, 11, 12, 900], [1, 1, 1, 1]) == 11
    assert weighted_median([10, 900], [3, 1]) == 10


def test_hand_computed_forecast() -> None:
    # given: 530 pages a week, every week (a working day is 100 pages, a weekend day 15)
    usage = usage_rate(weekly([530] * 8))
    assert usage is not None
    assert abs(usage.rate - 100) < 1e-9 and abs(usage.pages_per_day - 530 / 7) < 1e-9
    # when: 50 % of a 10,600-page cartridge (5,300 pages = 10 weeks) from a Monday
    result = forecast(
        percent=50,
        usage=usage,
        yield_=Yield(10_600, 0.0, Method.RATED_YIELD),
        today=MONDAY + timedelta(days=56),
    )
    # then
    assert result.reason is None and result.pages_left == 5_300
    assert result.days_to_empty == 70
    assert result.empty_on == MONDAY + timedelta(days=126)
    assert result.low is not None and result.high is not None
    assert result.low <= result.empty_on <= result.high


def test_a_level_reported_earlier_has_lost_the_pages_since() -> None:
    usage = usage_rate(weekly([530] * 8))
    today = MONDAY + timedelta(days=56)
    result = forecast(
        percent=50,
        usage=usage,
        yield_=Yield(10_600, 0.0, Method.RATED_YIELD),
        today=today,
        level_on=today - timedelta(days=7),
    )
    # a week (530 pages) of the 5,300 left went since the report
    assert result.pages_left == 4_770 and result.days_to_empty == 63


def test_the_office_week_decides_the_last_days() -> None:
    usage = usage_rate(weekly([530] * 4))
    assert usage is not None
    today = MONDAY + timedelta(days=28)  # a Monday
    # 550 pages: Tue-Fri 400 (Friday), Sat+Sun 30, next Monday 100 -> 530, Tuesday 630 >= 550
    result = forecast(
        percent=100, usage=usage, yield_=Yield(550, 0.0, Method.RATED_YIELD), today=today
    )
    assert result.days_to_empty == 8


def test_gaps_outliers_and_counter_resets() -> None:
    readings = [
        *weekly([530] * 6),
        # a reading six weeks later (a gap): same rate
        Reading(MONDAY + timedelta(days=84), 10_000 + 530 * 12),
    ]
    usage = usage_rate(readings)
    assert usage is not None and abs(usage.rate - 100) < 1e-9
    # one week with ten times the pages moves the median not at all
    spiked = usage_rate(weekly([530, 530, 5300, 530, 530]))
    assert spiked is not None and abs(spiked.rate - 100) < 1e-9
    # a counter reset (the board replaced) breaks the chain, no negative pages
    reset = [*weekly([530, 530]), Reading(MONDAY + timedelta(days=21), 40)]
    reset.append(Reading(MONDAY + timedelta(days=28), 570))
    after_reset = usage_rate(reset)
    assert after_reset is not None and abs(after_reset.rate - 100) < 1e-9


def test_recent_weeks_weigh_more() -> None:
    # given: ten weeks at 530 pages, then six at 1,060 (the office got busier)
    readings = weekly([530] * 10 + [1060] * 6)
    rates = [100.0] * 10 + [200.0] * 6
    # when
    usage = usage_rate(readings)
    # then: nearer the recent rate than the trimmed mean of all weeks alike (about 129), still
    # under it
    assert usage is not None
    alike = trimmed_mean(rates, [sum(OFFICE_WEEK)] * len(rates))
    assert alike + 20 < usage.rate < 200
    # the same weeks the other way round: nearer the old rate
    older = usage_rate(weekly([1060] * 6 + [530] * 10))
    assert older is not None and older.rate < alike - 20


def test_not_enough_history_says_why() -> None:
    one = usage_rate([Reading(MONDAY, 1000)])
    assert one is None
    rated = effective_yield(10_000, [])
    assert forecast(percent=50, usage=one, yield_=rated, today=MONDAY).reason is (
        Reason.NOT_ENOUGH_READINGS
    )
    assert (
        forecast(percent=None, usage=None, yield_=rated, today=MONDAY).reason
        is Reason.LEVEL_NOT_MEASURED
    )
    usage = usage_rate(weekly([530, 530]))
    assert forecast(percent=50, usage=usage, yield_=None, today=MONDAY).reason is Reason.NO_YIELD
    idle = usage_rate(weekly([0, 0]))
    assert forecast(percent=50, usage=idle, yield_=rated, today=MONDAY).reason is Reason.NO_USAGE
    assert (
        forecast(percent=50, usage=usage, yield_=rated, today=MONDAY, has_meter=False).reason
        is Reason.NO_METER
    )


def test_the_yield_learns_from_past_cartridges() -> None:
    # given: a cartridge fitted at 100 % and run out, its successor first seen at 98 % (2 %
    # printed before the counter was read): 10,200 pages; the next run out: 9,800 pages
    replacements = [
        Replacement(from_percent=4, to_percent=100, meter_value=1_000),
        Replacement(from_percent=5, to_percent=98, meter_value=11_200),
        Replacement(from_percent=3, to_percent=100, meter_value=21_000),
    ]
    # when
    observed = cartridge_yields(replacements)
    learned = effective_yield(12_000, observed)
    # then: 10,200 pages for 102 % and 9,800 for 98 % -> 10,000 per cartridge; the rating
    # counts as RATED_YIELD_WEIGHT cartridges
    assert [round(y) for y in observed] == [10_000, 10_000]
    assert learned is not None and learned.method is Method.LEARNED_YIELD
    w = RATED_YIELD_WEIGHT
    assert round(learned.pages) == round((w * 12_000 + 20_000) / (w + 2))
    only_observed = effective_yield(None, observed)
    assert only_observed is not None and only_observed.method is Method.OBSERVED_YIELD
    assert round(only_observed.pages) == 10_000
    # a counter reset between two replacements teaches nothing
    assert cartridge_yields([replacements[1], Replacement(3, 100, 500)]) == []


def test_the_cartridge_in_the_device_teaches_the_yield() -> None:
    # given: fitted at 100 % on counter 1,000, now at 60 % with the counter at 5,000 (530 pages
    # a week): 4,000 pages for 40 points -> 10,000 per cartridge
    usage = usage_rate(weekly([530] * 4, value=5_000 - 530 * 4))
    fitted = Replacement(from_percent=2, to_percent=100, meter_value=1_000)
    last_day = MONDAY + timedelta(days=28)
    # when
    current = current_cartridge_yield(fitted, usage, 60, last_day)
    too_early = current_cartridge_yield(fitted, usage, 90, last_day)
    learned = effective_yield(20_000, [], current)
    # then
    assert current is not None and round(current[0]) == 10_000 and current[1] == 0.4
    assert too_early is None
    assert learned is not None and learned.method is Method.LEARNED_YIELD
    assert round(learned.pages) == round(
        (RATED_YIELD_WEIGHT * 20_000 + 0.4 * 10_000) / (RATED_YIELD_WEIGHT + 0.4)
    )


def test_replacements_and_meters() -> None:
    assert is_replacement(3, 98) and not is_replacement(40, 60) and not is_replacement(None, 100)
    assert meter_for("BLACK", {"TOTAL", "BLACK", "COLOUR"}) == "BLACK"
    assert meter_for("CYAN", {"TOTAL", "BLACK", "COLOUR"}) == "COLOUR"
    assert meter_for("CYAN", {"TOTAL", "LARGE_BLACK", "LARGE_COLOUR"}) == "LARGE_COLOUR"
    assert meter_for("BLACK", {"TOTAL", "SCAN"}) == "TOTAL"
    assert meter_for("BLACK", {"SCAN"}) is None


readings_strategy = st.lists(
    st.tuples(st.integers(0, 400), st.integers(0, 2_000_000)), min_size=0, max_size=30
).map(lambda points: [Reading(MONDAY + timedelta(days=d), v) for d, v in points])


@given(
    readings=readings_strategy,
    low=st.integers(0, 100),
    high=st.integers(0, 100),
    rated=st.one_of(st.none(), st.integers(1, 100_000)),
    weekday=st.integers(0, 6),
)
def test_properties(
    readings: list[Reading], low: int, high: int, rated: int | None, weekday: int
) -> None:
    """Never a division by zero, days never negative nor past the cap, the interval around the
    forecast, and more toner never runs out sooner."""
    low, high = min(low, high), max(low, high)
    usage = usage_rate(readings)
    yield_ = effective_yield(rated, [])
    today = MONDAY + timedelta(days=500 + weekday)
    at_low = forecast(percent=low, usage=usage, yield_=yield_, today=today)
    at_high = forecast(percent=high, usage=usage, yield_=yield_, today=today)
    assert (at_low.reason is None) == (at_high.reason is None)
    if at_low.reason is not None:
        return
    assert at_low.days_to_empty is not None and at_high.days_to_empty is not None
    assert 0 <= at_low.days_to_empty <= at_high.days_to_empty <= MAX_DAYS
    for result in (at_low, at_high):
        assert result.low is not None and result.high is not None and result.empty_on is not None
        assert result.low <= result.empty_on <= result.high
        assert result.confidence is not None and 0 < result.confidence <= 1
        assert result.pages_per_day is not None and result.pages_per_day > 0


@given(
    yields=st.lists(st.integers(1, 200_000), min_size=0, max_size=5),
    percents=st.lists(st.integers(0, 100), min_size=0, max_size=6),
    rated=st.one_of(st.none(), st.integers(1, 100_000)),
)
def test_learned_yield_is_sane(yields: list[int], percents: list[int], rated: int | None) -> None:
    replacements = [
        Replacement(from_percent=p, to_percent=100, meter_value=v)
        for p, v in zip(percents, sorted(yields), strict=False)
    ]
    observed = cartridge_yields(replacements)
    assert all(y > 0 for y in observed)
    learned = effective_yield(rated, observed)
    if learned is None:
        assert rated is None and not observed
    else:
        assert learned.pages > 0 and learned.spread > 0


def test_demand_in_a_horizon() -> None:
    # a cartridge now empty in 10 days, then every 25 days: days 10, 35, 60 within 60
    assert needs(10, 25.0, 60) == [10, 35, 60]
    assert needs(61, 25.0, 60) == []
    assert needs(0, 0.01, 3) == [0, 1, 2, 3]
    # two cartridges on the shelf serve days 10 and 12; the third need (day 35) finds none
    assert runs_out_after([35, 10, 12, 60], 2) == 35
    assert runs_out_after([10], 1) is None


@given(
    first=st.integers(0, 400),
    cycle=st.floats(0, 1_000, allow_nan=False),
    horizon=st.integers(0, 400),
    stock=st.integers(0, 20),
)
def test_demand_properties(first: int, cycle: float, horizon: int, stock: int) -> None:
    days = needs(first, cycle, horizon)
    assert all(0 <= d <= horizon for d in days) and days == sorted(days)
    assert len(days) <= horizon + 1
    out = runs_out_after(days, stock)
    assert (out is None) == (len(days) <= stock)
