"""Keyset pagination: cursors carry the sort key of a row, so a page is one indexed range
query however deep it is, and pages stay stable when rows are added."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

import orjson
from sqlalchemy import ColumnElement, Select, func, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry import relay

from schema.errors import BadUserInput
from schema.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Connection, Edge

Kind = Literal["str", "int", "date", "datetime"]


@dataclass(frozen=True)
class SortField:
    """A non-null sort expression and how its values travel in a cursor."""

    expression: ColumnElement[Any]
    kind: Kind

    def encode(self, value: Any) -> Any:
        if isinstance(value, datetime | date):
            return value.isoformat()
        return value

    def decode(self, raw: Any) -> Any:
        if self.kind == "date":
            return date.fromisoformat(raw)
        if self.kind == "datetime":
            return datetime.fromisoformat(raw)
        if self.kind == "int":
            return int(raw)
        return str(raw)


@dataclass(frozen=True)
class PageRequest:
    first: int | None = None
    after: str | None = None
    last: int | None = None
    before: str | None = None

    def validated(self) -> PageRequest:
        for name, value in (("first", self.first), ("last", self.last)):
            if value is not None and not 0 <= value <= MAX_PAGE_SIZE:
                raise BadUserInput(
                    f"`{name}` must be between 0 and {MAX_PAGE_SIZE}.", argument=name
                )
        if self.first is not None and self.last is not None:
            raise BadUserInput("Give `first` or `last`, not both.", argument="last")
        return self


def encode_cursor(values: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(values))).decode().rstrip("=")


def decode_cursor(cursor: str, sort: Sequence[SortField]) -> list[Any]:
    try:
        raw = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(raw, list) or len(raw) != len(sort):
            raise ValueError("shape")
        return [field.decode(value) for field, value in zip(sort, raw, strict=True)]
    except (ValueError, TypeError) as error:
        raise BadUserInput("Invalid cursor.", argument="after/before") from error


async def paginate(
    session: AsyncSession,
    stmt: Select[Any],
    sort: Sequence[SortField],
    request: PageRequest,
    *,
    descending: bool = False,
    wrap: Any = None,
    connection: type[Connection[Any]] = Connection,
) -> Connection[Any]:
    """One statement for the page (plus one for `totalCount` when it is asked for).

    `stmt` selects one entity; `sort` must end with a unique key (the primary key)."""
    request = request.validated()
    keys = [field.expression for field in sort]
    backwards = request.last is not None or (request.before is not None and request.first is None)
    limit = request.last if backwards and request.last is not None else request.first
    limit = DEFAULT_PAGE_SIZE if limit is None else limit

    page = stmt.add_columns(*[k.label(f"_sort{i}") for i, k in enumerate(keys)])
    for cursor, after_side in ((request.after, True), (request.before, False)):
        if cursor is None:
            continue
        values = decode_cursor(cursor, sort)
        bound = tuple_(*[literal(v, type_=k.type) for k, v in zip(keys, values, strict=True)])
        forward = after_side != descending
        page = page.where(tuple_(*keys) > bound if forward else tuple_(*keys) < bound)
    reverse = backwards != descending
    page = page.order_by(*[k.desc() if reverse else k.asc() for k in keys]).limit(limit + 1)

    rows = (await session.execute(page)).all()
    has_more = len(rows) > limit
    rows = rows[:limit]
    if backwards:
        rows.reverse()

    edges = [
        Edge(
            cursor=encode_cursor([f.encode(v) for f, v in zip(sort, row[1:], strict=True)]),
            node=wrap(row[0]) if wrap is not None else row[0],
        )
        for row in rows
    ]
    page_info = relay.PageInfo(
        has_next_page=has_more if not backwards else request.before is not None,
        has_previous_page=has_more if backwards else request.after is not None,
        start_cursor=edges[0].cursor if edges else None,
        end_cursor=edges[-1].cursor if edges else None,
    )

    async def count() -> int:
        total = await session.scalar(
            select(func.count()).select_from(stmt.order_by(None).subquery())
        )
        return int(total or 0)

    return connection(edges=edges, page_info=page_info, _count=count)
