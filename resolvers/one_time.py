"""Spending a one-time secret (an e-mail confirmation link, an invitation, a refresh token)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute


async def spend(
    session: AsyncSession,
    spent_at: InstrumentedAttribute[Any],
    moment: datetime,
    *where: ColumnElement[bool],
) -> bool:
    """Marks the row matching `where` spent at `moment` unless it already is, with one
    conditional UPDATE: of two requests presenting the same secret at once, exactly one gets
    True (PostgreSQL's row lock, SQLite's write lock), however they interleave."""
    result = await session.execute(
        update(spent_at.class_)
        .where(spent_at.is_(None), *where)
        .values({spent_at.key: moment})
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]
