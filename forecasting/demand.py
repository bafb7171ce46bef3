"""How many cartridges a set of devices will need in a horizon, and the day a stock runs out:
each device's current cartridge runs out on its forecast day, every following one after a
cartridge's worth of pages at its usage rate."""

from __future__ import annotations

import math
from collections.abc import Iterable

# A cartridge lasting less than a day is taken to last a day (no runaway counts).
MIN_CYCLE_DAYS = 1.0


def needs(days_to_empty: int, cycle_days: float, horizon: int) -> list[int]:
    """The days (from today) on which a device needs a new cartridge within `horizon` days:
    when the current one runs out, then every `cycle_days`."""
    if days_to_empty > horizon:
        return []
    cycle = max(cycle_days, MIN_CYCLE_DAYS) if math.isfinite(cycle_days) else float(horizon + 1)
    found: list[int] = []
    day = float(days_to_empty)
    while day <= horizon:
        found.append(math.floor(day))
        day += cycle
    return found


def runs_out_after(need_days: Iterable[int], on_hand: int) -> int | None:
    """The day the stock of `on_hand` cartridges cannot serve a need any more (the need after
    the last cartridge), or None when it lasts the horizon."""
    ordered = sorted(need_days)
    if on_hand < 0:
        on_hand = 0
    return ordered[on_hand] if len(ordered) > on_hand else None
