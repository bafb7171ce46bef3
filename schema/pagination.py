"""Cursor connections (Relay), with an exact `totalCount` computed only when asked for."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import strawberry
from strawberry import relay

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
