"""Relay global IDs and the `node` / `nodes` root fields."""

from __future__ import annotations

from asyncio import Future
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Self

import strawberry
from aiodataloader import DataLoader
from strawberry import relay

from auth.requirements import SIGNED_IN
from core.errors import BadUserInput
from core.ids import parse_global_id
from resolvers.context import Context
from schema.context import Info
from schema.permissions import shown_to


class LoadedNode(relay.Node):
    """A node type fetched through its by-id loader, which applies the viewer's scope: an ID
    that does not exist or that the viewer may not see gives None."""

    by_id_loader: ClassVar[type[DataLoader[Any, Any]]]
    # Reference data (no scope filter in the loader) is still only for signed-in callers.
    requires_sign_in: ClassVar[bool] = False

    @classmethod
    def from_row(cls, row: Any) -> Self:
        raise NotImplementedError

    @classmethod
    def from_loaded(cls, loaded: Any) -> Self:
        """The node from what `by_id_loader` returns (a row, unless the loader says otherwise)."""
        return cls.from_row(loaded)

    @classmethod
    async def resolve_nodes(
        cls, *, info: Info, node_ids: Any, required: bool = False
    ) -> list[Self | None]:
        if cls.requires_sign_in:
            await info.context.require_scope()
        found = await info.context.loaders[cls.by_id_loader].load_many([int(i) for i in node_ids])
        return [cls.from_loaded(r) if r is not None else None for r in found]

    @classmethod
    async def load(cls, info: Info, pk: int | None) -> Self | None:
        """One related node by key: None without a key or when the viewer may not see it."""
        if pk is None:
            return None
        found = await info.context.loaders[cls.by_id_loader].load(pk)
        return cls.from_loaded(found) if found is not None else None

    @classmethod
    def related(cls, context: Context, pk: int | None) -> Any:
        """What `load` gives, without a coroutine: the node (or None) when the loader has it
        already, else an awaitable of it (for field resolvers declared with `def`)."""
        if pk is None:
            return None
        return converted(context.loaders[cls.by_id_loader], pk, cls._from_found)

    @classmethod
    def _from_found(cls, found: Any) -> Self | None:
        return cls.from_loaded(found) if found is not None else None


def converted(loader: Any, key: Any, convert: Callable[[Any], Any]) -> Any:
    """`then(loader.load(key), convert)`, converting each loaded value once per operation: a
    page's devices share a few models, sites and accounts, each then one object (an object is
    only read, and a loader's values do not change within an operation)."""
    made: dict[tuple[Any, Any], Any] | None = getattr(loader, "_converted", None)
    if made is None:
        made = loader._converted = {}
    found = made.get((convert, key), _NOT_YET)
    if found is not _NOT_YET:
        return found
    future = loader.load(key)
    if not future.done():
        return then(future, convert)
    value = made[(convert, key)] = convert(future.result())
    return value


_NOT_YET: Any = object()


def then(future: Future[Any], convert: Callable[[Any], Any]) -> Any:
    """`convert` of what a loader's future holds: now when it holds it already (primed, or
    loaded earlier in the operation), else a future settled with it when the batch is in.
    A field resolver that returns this stays synchronous for what is already loaded: no
    coroutine, no task (graphql-core awaits whatever is awaitable)."""
    if future.done():
        return convert(future.result())
    converted: Future[Any] = future.get_loop().create_future()

    def settle(done: Future[Any]) -> None:
        if converted.done():
            return
        if done.cancelled():
            converted.cancel()
            return
        try:
            converted.set_result(convert(done.result()))
        except Exception as error:  # the loader's error, or the conversion's
            converted.set_exception(error)

    future.add_done_callback(settle)
    return converted


async def _resolve_many(info: Info, ids: list[str]) -> list[Any]:
    by_type: dict[str, list[tuple[int, int]]] = {}
    for index, raw in enumerate(ids):
        parsed = parse_global_id(raw)
        if parsed is not None:
            by_type.setdefault(parsed[0], []).append((index, parsed[1]))
    results: list[Any] = [None] * len(ids)
    for type_name, entries in by_type.items():
        definition = info.schema.get_type_by_name(type_name)
        origin = getattr(definition, "origin", None)
        if origin is None or not issubclass(origin, relay.Node):
            continue
        nodes = await origin.resolve_nodes(
            info=info, node_ids=[str(pk) for _, pk in entries], required=False
        )
        for (index, _), node in zip(entries, nodes, strict=True):
            results[index] = node
    return results


@strawberry.type
class NodeQuery:
    @strawberry.field(
        **shown_to(
            SIGNED_IN,
            "Any object by its global ID; null when it does not exist or the viewer "
            "may not see it (the two are indistinguishable).",
        )
    )
    async def node(
        self,
        info: Info,
        id: Annotated[
            strawberry.ID,
            strawberry.argument(description="The object's global ID (its `id` field)."),
        ],
    ) -> relay.Node | None:
        node: relay.Node | None = (await _resolve_many(info, [str(id)]))[0]
        return node

    @strawberry.field(
        **shown_to(SIGNED_IN, "Several objects by global ID, in the order asked (max 100).")
    )
    async def nodes(
        self,
        info: Info,
        ids: Annotated[
            list[strawberry.ID], strawberry.argument(description="Up to 100 global IDs.")
        ],
    ) -> list[relay.Node | None]:
        if len(ids) > 100:
            raise BadUserInput(
                message_code="TOO_MANY_IDS", params={"maximum": 100}, language=info.context.language
            )
        return await _resolve_many(info, [str(i) for i in ids])
