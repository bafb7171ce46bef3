"""Cursor connections (Relay), with an exact `totalCount` computed only when asked for."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from typing import Any, Generic, Self, TypeVar

import strawberry
from strawberry import relay

from resolvers.pagination import Page

NodeT = TypeVar("NodeT")


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
