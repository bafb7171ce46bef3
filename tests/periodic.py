"""Running a periodic job's first pass as the app's lifespan does (started, then stopped)."""

from __future__ import annotations

import asyncio

from core.polling import PeriodicJob


async def first_pass(job: PeriodicJob) -> None:
    """Starts the job, waits (up to 10 s) for its first pass to end, stops it."""
    job.start()
    try:
        for _ in range(200):
            if job.passes:
                break
            await asyncio.sleep(0.05)
    finally:
        await job.stop()
    assert job.passes >= 1
