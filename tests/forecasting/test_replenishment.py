"""The just-in-time ordering rule (no database): hand-computed cases."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from forecasting.replenishment import (
    MAX_CADENCE_DAYS,
    cartridges_in_hand,
    order_quantity,
    reporting_cadence,
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
