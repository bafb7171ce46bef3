"""The just-in-time ordering rule (no database): hand-computed cases."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from forecasting.replenishment import (
    MAX_CADENCE_DAYS,
    MAX_SILENT_DAYS,
    cartridges_in_hand,
    is_silent,
    order_quantity,
    projected_order_days,
    reporting_cadence,
    silent_order_quantity,
)

MONDAY = date(2027, 3, 1)
AT = datetime(2027, 3, 1, 12, tzinfo=UTC)


def test_reporting_cadence_is_the_longest_recent_gap() -> None:
    # weekly reports with a replacement reported mid-week: the next report may be a week away
    days = [MONDAY + timedelta(days=d) for d in (0, 7, 10, 14, 21)]
    assert reporting_cadence(days) == 7
    # only the last five report days count; a long silence is capped; one day says nothing
    assert reporting_cadence([MONDAY - timedelta(days=60), *days]) == 7
    assert reporting_cadence([MONDAY, MONDAY + timedelta(days=40)]) == MAX_CADENCE_DAYS
    assert reporting_cadence([MONDAY, MONDAY]) == 0


def test_cartridges_in_hand_are_ordered_and_not_yet_fitted() -> None:
    day = timedelta(days=1)
    # two ordered, one fitted since
    assert cartridges_in_hand([(AT, 2)], [AT + day]) == 1
    # a replacement before the order used a cartridge from elsewhere
    assert cartridges_in_hand([(AT + day, 1)], [AT]) == 1
    # fitted twice with one ordered: none in hand, not minus one
    assert cartridges_in_hand([(AT, 1)], [AT + day, AT + 2 * day]) == 0
    assert cartridges_in_hand([(AT, 1)], [AT + day, AT + 2 * day, AT + 3 * day]) == 0
    assert cartridges_in_hand([(AT, 1), (AT + 4 * day, 1)], [AT + day, AT + 2 * day]) == 1


def test_order_quantity() -> None:
    plan = {"lead_days": 5, "safety_days": 3, "cadence_days": 7}
    # window 15 days: a cartridge running out on day 20 (every 60 days after) waits
    assert (
        order_quantity(order_days=20, order_cycle_days=60, at_threshold=False, in_hand=0, **plan)
        == 0
    )
    # on day 15: one
    assert (
        order_quantity(order_days=15, order_cycle_days=60, at_threshold=False, in_hand=0, **plan)
        == 1
    )
    # already ordered and not fitted: none
    assert (
        order_quantity(order_days=15, order_cycle_days=60, at_threshold=False, in_hand=1, **plan)
        == 0
    )
    # cartridges lasting 4 days: needed on days 2, 6, 10, 14 of the window and 18 before an order
    # raised at the next chance (window + lead time = 20 days) could arrive
    assert (
        order_quantity(order_days=2, order_cycle_days=4, at_threshold=False, in_hand=0, **plan) == 5
    )
    assert (
        order_quantity(order_days=2, order_cycle_days=4, at_threshold=False, in_hand=2, **plan) == 3
    )
    # at the threshold without a forecast: one, unless one is in hand
    assert (
        order_quantity(order_days=None, order_cycle_days=None, at_threshold=True, in_hand=0, **plan)
        == 1
    )
    assert (
        order_quantity(order_days=None, order_cycle_days=None, at_threshold=True, in_hand=1, **plan)
        == 0
    )
    assert (
        order_quantity(
            order_days=None, order_cycle_days=None, at_threshold=False, in_hand=0, **plan
        )
        == 0
    )


def test_a_device_is_silent_once_its_next_report_is_overdue() -> None:
    # a weekly reporter: a week to the minute is on time, a minute more is overdue
    week = timedelta(days=7)
    assert not is_silent(AT, AT + week, 7)
    assert is_silent(AT, AT + week + timedelta(minutes=1), 7)
    # no cadence yet (one report day): a day at least
    assert not is_silent(AT, AT + timedelta(hours=23), 0)
    assert is_silent(AT, AT + timedelta(hours=25), 0)
    # a device silent for longer than a forecast's history is left to people
    assert is_silent(AT, AT + timedelta(days=MAX_SILENT_DAYS), 7)
    assert not is_silent(AT, AT + timedelta(days=MAX_SILENT_DAYS, minutes=1), 7)


def test_projected_order_days_count_down_from_the_report() -> None:
    assert projected_order_days(20, MONDAY, MONDAY + timedelta(days=8)) == 12
    # passed: the cartridge needed since counts as a need
    assert projected_order_days(5, MONDAY, MONDAY + timedelta(days=8)) == -3
    assert projected_order_days(None, MONDAY, MONDAY) is None


@pytest.mark.parametrize(
    ("order_days", "cycle_days", "days_since", "in_hand", "at_threshold", "expected"),
    [
        # the forecast made on Monday ran out on day 30; 20 days on it is 10 days away: the
        # window is lead + safety + the pass's next day (9), so it waits one more day
        (30, 60, 20, 0, False, 0),
        (30, 60, 21, 0, False, 1),
        # two cartridges ran out since the report (days 10 and 40) and a third is due: one in
        # hand (ordered since) leaves two to order
        (10, 30, 65, 1, False, 2),
        # no forecast: the last level at the threshold, nothing in hand
        (None, None, 3, 0, True, 1),
    ],
    ids=["not-yet", "due", "two-past-one-in-hand", "threshold-without-forecast"],
)
def test_silent_order_quantity(
    order_days: int | None,
    cycle_days: float | None,
    days_since: int,
    in_hand: int,
    at_threshold: bool,
    expected: int,
) -> None:
    found = silent_order_quantity(
        order_days=order_days,
        order_cycle_days=cycle_days,
        reported_on=MONDAY,
        today=MONDAY + timedelta(days=days_since),
        in_hand=in_hand,
        lead_days=5,
        safety_days=3,
        at_threshold=at_threshold,
    )
    assert found == expected
