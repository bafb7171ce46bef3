"""Cursor connections (Relay), with an exact `totalCount` computed only when asked for."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Generic, Self, TypeVar

import strawberry
from strawberry import relay

from resolvers.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page

NodeT = TypeVar("NodeT")

# The arguments of every connection, described once: `filter: Annotated[XFilter | None, FILTER]`,
# `orderBy: Annotated[XOrder | None, ORDER_BY]`, and `first: First = None, after: After = None,
# last: Last = None, before: Before = None`.
First = Annotated[
    int | None,
    strawberry.argument(
        description=f"How many items to return from the start of the list (or after `after`), "
        f"0 to {MAX_PAGE_SIZE}; {DEFAULT_PAGE_SIZE} when neither `first` nor `last` is given."
    ),
]
After = Annotated[
    str | None,
    strawberry.argument(
        description="Returns the items after this cursor (the previous page's "
        "`pageInfo.endCursor`, or an edge's `cursor`)."
    ),
]
Last = Annotated[
    int | None,
    strawberry.argument(
        description=f"How many items to return from the end of the list (or before `before`), "
        f"0 to {MAX_PAGE_SIZE}; not together with `first`."
    ),
]
Before = Annotated[
    str | None,
    strawberry.argument(
        description="Returns the items before this cursor (the next page's "
        "`pageInfo.startCursor`, or an edge's `cursor`)."
    ),
]

FILTER = strawberry.argument(
    description="Only the items that meet every condition given (all of them without it)."
)
ORDER_BY = strawberry.argument(
    description="How the items are sorted (the list's own order without it)."
)


@strawberry.enum(name="OrderDirection", description="Sort direction of a list.")
class Direction(enum.Enum):
    ASC = strawberry.enum_value("ASC", description="Ascending (A to Z, oldest first).")
    DESC = strawberry.enum_value("DESC", description="Descending (Z to A, newest first).")


@strawberry.type(description="An edge of a connection: one node and its cursor.")
class Edge(Generic[NodeT]):
    cursor: str = strawberry.field(description="Opaque cursor of this node, for after/before.")
    node: NodeT = strawberry.field(description="The item at the end of the edge.")


@strawberry.type(
    description="A page of a list, with keyset cursors that stay stable as rows are added."
)
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]] = strawberry.field(description="The items of this page, with cursors.")
    page_info: relay.PageInfo = strawberry.field(description="Where this page stands in the list.")
    _count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="The items of this page, without cursors.")
    def nodes(self) -> list[NodeT]:
        return [edge.node for edge in self.edges]

    @strawberry.field(description="How many items the whole list holds (exact).")
    async def total_count(self) -> int:
        return await self._count()

    @classmethod
    def of(cls, page: Page, wrap: Callable[[Any], NodeT] | None = None) -> Self:
        """The connection of a page of rows, each made a node by `wrap` (rows as they are
        without it)."""
        cursors = page.cursors
        edges = [
            Edge(cursor=cursor, node=wrap(row) if wrap is not None else row)
            for cursor, row in zip(cursors, page.rows, strict=True)
        ]
        page_info = relay.PageInfo(
            has_next_page=page.has_next_page,
            has_previous_page=page.has_previous_page,
            start_cursor=cursors[0] if cursors else None,
            end_cursor=cursors[-1] if cursors else None,
        )
        return cls(edges=edges, page_info=page_info, _count=page.count)
