"""Per-request dataloaders, one class per relation (`<Target>By<Key>Loader`), each created on
first use: `info.context.loaders[DeviceByIdLoader].load(pk)`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from resolvers.context import Context

L = TypeVar("L")


class Loaders:
    """Lives on one request's context and dies with it: never shared between requests."""

    def __init__(self, context: Context) -> None:
        self._context = context
        self._made: dict[type[Any], Any] = {}

    def __getitem__(self, loader_class: type[L]) -> L:
        loader = self._made.get(loader_class)
        if loader is None:
            loader = self._made[loader_class] = loader_class(self._context)  # type: ignore[call-arg]
        return loader  # type: ignore[no-any-return,unused-ignore]
