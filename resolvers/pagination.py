"""Keyset pagination: cursors carry the sort key of a row, so a page is one indexed range
query however deep it is, and pages stay stable when rows are added.

Two shapes:
- `paginate(...)`: one list (a root field, or a nested field asked with a cursor);
- `first_pages(...)`: the first page of many lists at once (a nested connection under each of
  many parents), one statement for all parents with `row_number() over (partition by ...)`.
"""

from __future__ import annotations

import base64
from collections import OrderedDict, defaultdict
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

import orjson
from sqlalchemy import ColumnElement, Select, bindparam, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from core.errors import BadUserInput
from models.session import execute_core
from resolvers.joined import PlainRows, Ride

Kind = Literal["str", "int", "date", "datetime"]

# Every list is paged; a page holds at most MAX_PAGE_SIZE items (the API conventions).
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20


@dataclass(frozen=True)
class SortField:
    """A non-null sort expression (wrap a nullable one in `coalesce`) and how its values travel
    in a cursor."""

    expression: Any  # a mapped column or any SQL expression
    kind: Kind

    def encode(self, value: Any) -> Any:
        # `date` covers `datetime`; a `datetime | date` union here would be built at each call
        # (three per row of every page)
        if isinstance(value, date):
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
                    message_code="PAGE_ARGUMENT_OUT_OF_RANGE",
                    params={"argument": name, "maximum": MAX_PAGE_SIZE},
                    argument=name,
                )
        if self.first is not None and self.last is not None:
            raise BadUserInput(message_code="FIRST_AND_LAST", argument="last")
        return self

    @property
    def backwards(self) -> bool:
        return self.last is not None or (self.before is not None and self.first is None)

    @property
    def limit(self) -> int:
        limit = self.last if self.backwards and self.last is not None else self.first
        return DEFAULT_PAGE_SIZE if limit is None else limit

    @property
    def is_first_page(self) -> bool:
        """A plain `first: N` (or nothing): the shape `first_pages` serves for many parents."""
        return self.after is None and self.before is None and self.last is None


def encode_cursor(values: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(values))).decode().rstrip("=")


def decode_cursor(cursor: str, sort: Sequence[SortField]) -> list[Any]:
    try:
        raw = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(raw, list) or len(raw) != len(sort):
            raise ValueError("shape")
        return [field.decode(value) for field, value in zip(sort, raw, strict=True)]
    except (ValueError, TypeError) as error:
        raise BadUserInput(message_code="INVALID_CURSOR", argument="after/before") from error


def _ordered(keys: Sequence[Any], reverse: bool) -> list[Any]:
    return [k.desc() if reverse else k.asc() for k in keys]


@dataclass(frozen=True)
class Page:
    """A page of a list: its rows in display order with their cursors, and where it stands;
    the schema turns it into a connection (`schema.pagination.Connection.of`)."""

    rows: list[Any]
    cursors: list[str]
    has_next_page: bool
    has_previous_page: bool
    count: Callable[[], Awaitable[int]]


def build_page(
    rows: Sequence[Any],
    sort: Sequence[SortField],
    request: PageRequest,
    has_more: bool,
    count: Callable[[], Awaitable[int]],
) -> Page:
    """`rows` are (row, *sort values) in display order."""
    n = len(sort)
    backwards = request.backwards
    return Page(
        rows=[row[0] for row in rows],
        cursors=[
            encode_cursor([f.encode(v) for f, v in zip(sort, row[1 : n + 1], strict=True)])
            for row in rows
        ],
        has_next_page=has_more if not backwards else request.before is not None,
        has_previous_page=has_more if backwards else request.after is not None,
        count=count,
    )


async def _zero() -> int:
    return 0


EMPTY_PAGE = Page(rows=[], cursors=[], has_next_page=False, has_previous_page=False, count=_zero)


def counter(session: AsyncSession, stmt: Select[Any]) -> Callable[[], Awaitable[int]]:
    """`totalCount` of a list: one statement, run only when the field is asked for."""

    async def count() -> int:
        total = await session.scalar(_count_statement(stmt))
        return int(total or 0)

    return count


@dataclass
class PagePlan:
    """A page's statement with its values bound (`page_limit`, `after_<i>`, `before_<i>`), the
    shape of its plain rows, and its count statement once one was asked for: built once per
    shape (`paginate(shape=...)`), then only executed, the statement's cache key memoized with
    it."""

    statement: Select[Any]
    plain: PlainRows | None
    count: Select[Any] | None = None


# The plans of this process, least recently used first. A plan of the dashboard's page holds
# ~115 KB of statement objects: bounded for the whole process (~30 MB), not per viewer.
MAX_PLANS = 256
_PLANS: OrderedDict[Hashable, PagePlan] = OrderedDict()


def _page_plan(
    stmt: Select[Any],
    keys: Sequence[Any],
    request: PageRequest,
    descending: bool,
    ride: Ride | None,
) -> PagePlan:
    backwards = request.backwards
    page = stmt.add_columns(*[k.label(f"_sort{i}") for i, k in enumerate(keys)])
    for cursor, side, after_side in (
        (request.after, "after", True),
        (request.before, "before", False),
    ):
        if cursor is None:
            continue
        bound = [bindparam(f"{side}_{i}", type_=k.type) for i, k in enumerate(keys)]
        forward = after_side != descending
        page = page.where(
            tuple_(*keys) > tuple_(*bound) if forward else tuple_(*keys) < tuple_(*bound)
        )
        # Implied by the row comparison, but usable by an index on the first key alone (e.g.
        # sites by name when devices are sorted by site).
        page = page.where(keys[0] >= bound[0] if forward else keys[0] <= bound[0])
    page = page.order_by(*_ordered(keys, backwards != descending)).limit(bindparam("page_limit"))
    if not ride:
        return PagePlan(page, None)
    # the page first, then the joins, for its rows only; plain rows (`resolvers.joined`)
    inner = page.subquery("page")
    plain = PlainRows()
    plain.add(stmt.column_descriptions[0]["entity"], inner)
    sort_columns = [inner.c[f"_sort{i}"] for i in range(len(keys))]
    for column in sort_columns:
        plain.add(column)
    joined = ride.extend(select().select_from(inner), inner, plain)
    page = joined.add_columns(*plain.columns).order_by(
        *_ordered(sort_columns, backwards != descending)
    )
    return PagePlan(page, plain)


def _count_statement(stmt: Select[Any]) -> Select[Any]:
    return select(func.count()).select_from(stmt.order_by(None).subquery())


def _planned_counter(
    session: AsyncSession, plan: PagePlan, stmt: Select[Any]
) -> Callable[[], Awaitable[int]]:
    async def count() -> int:
        if plan.count is None:
            plan.count = _count_statement(stmt)
        return int(await session.scalar(plan.count) or 0)

    return count


async def paginate(
    session: AsyncSession,
    stmt: Select[Any],
    sort: Sequence[SortField],
    request: PageRequest,
    *,
    descending: bool = False,
    count: Callable[[], Awaitable[int]] | None = None,
    count_stmt: Select[Any] | None = None,
    ride: Ride | None = None,
    shape: Hashable = None,
) -> Page:
    """One statement for the page (plus one for `totalCount` when it is asked for, unless
    `count` comes from a batching loader).

    `stmt` selects one entity (joins for the sort keys may be part of it); `sort` must end with
    a unique key (the primary key); `descending` orders every key the other way. `count_stmt`
    (default `stmt`) is what `totalCount` counts: it may leave out joins used only to sort.
    `ride` joins related rows to the page's rows and primes their loaders (`resolvers.joined`).

    With a `shape` (what, besides the request's cursors, page size and the ride's relations,
    makes `stmt` and `count_stmt` what they are: the caller vouches that one shape always
    gives the same statements), the statements are built once and kept in this process's
    plans."""
    request = request.validated()
    keys = [field.expression for field in sort]
    backwards = request.backwards
    limit = request.limit

    plan: PagePlan | None = None
    key: Hashable = None
    if shape is not None:
        key = (
            shape,
            backwards,
            request.after is not None,
            request.before is not None,
            descending,
            tuple(id(relation) for relation in ride.relations) if ride else (),
        )
        plan = _PLANS.get(key)
        if plan is not None:
            _PLANS.move_to_end(key)
    if plan is None:
        plan = _page_plan(stmt, keys, request, descending, ride)
        if key is not None:
            _PLANS[key] = plan
            while len(_PLANS) > MAX_PLANS:
                _PLANS.popitem(last=False)
    params: dict[str, Any] = {"page_limit": limit + 1}
    for cursor, side in ((request.after, "after"), (request.before, "before")):
        if cursor is not None:
            for i, value in enumerate(decode_cursor(cursor, sort)):
                params[f"{side}_{i}"] = value

    if limit <= 0:
        rows: list[Any] = []
    elif plan.plain is not None:
        rows = plan.plain.rows((await execute_core(session, plan.statement, params)).all())
    else:
        rows = list((await session.execute(plan.statement, params)).all())
    has_more = len(rows) > limit
    rows = rows[:limit]
    if ride:
        ride.prime(rows)
    if ride is not None and ride.preloaded and rows:
        await ride.preload([row[0] for row in rows])
    if backwards:
        rows.reverse()
    return build_page(
        rows,
        sort,
        request,
        has_more,
        count or _planned_counter(session, plan, count_stmt if count_stmt is not None else stmt),
    )


async def first_pages(
    session: AsyncSession,
    stmt: Select[Any],
    partition: ColumnElement[Any],
    parents: Sequence[Any],
    sort: Sequence[SortField],
    limit: int,
    *,
    descending: bool = False,
) -> dict[Any, tuple[list[Any], bool]]:
    """The first `limit` rows of `stmt` for each parent (rows whose `partition` is one of
    `parents`), in one statement: {parent: ([(entity, *sort values), ...], has_more)}.

    `stmt` selects one entity; the window numbers the rows of each parent in sort order."""
    keys = [field.expression for field in sort]
    rank = func.row_number().over(partition_by=partition, order_by=_ordered(keys, descending))
    inner = (
        stmt.where(partition.in_(parents))
        .add_columns(partition.label("page_parent"), rank.label("page_rank"))
        .add_columns(*[k.label(f"_sort{i}") for i, k in enumerate(keys)])
        .subquery()
    )
    alias = aliased(stmt.column_descriptions[0]["entity"], inner)
    query = (
        select(alias, *[inner.c[f"_sort{i}"] for i in range(len(keys))], inner.c["page_parent"])
        .where(inner.c["page_rank"] <= limit + 1)
        .order_by(inner.c["page_parent"], inner.c["page_rank"])
    )
    groups: dict[Any, list[Any]] = defaultdict(list)
    if limit > 0:
        for row in (await session.execute(query)).all():
            groups[row[-1]].append(tuple(row[:-1]))
    return {
        parent: (groups.get(parent, [])[:limit], len(groups.get(parent, [])) > limit)
        for parent in parents
    }
