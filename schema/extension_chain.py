"""The portal's schema extensions, run as one.

Strawberry wraps every hook of every extension in a context manager of its own on every
request (inspecting the hook, `functools.wraps`, an exit stack): for our eight extensions that
cost more than executing `{ __typename }` itself (bench/README.md). The chain is the only
extension the schema holds, and a `ChainedSchema` runs it with `ChainRunner`: each stage enters
the members' hooks directly, with strawberry's order and exception semantics: entered in list
order, left in reverse, an exception raised inside thrown into each hook still open (which may
let it through, replace it or swallow it; the stage's own exception goes on all the same).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import Any

import strawberry
from strawberry.extensions import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.types import ExecutionContext
from strawberry.utils.await_maybe import await_maybe

_GENERATOR, _ASYNC_GENERATOR, _COROUTINE, _PLAIN = range(4)


_HOOKS: dict[tuple[type, str], tuple[Callable[..., Any], int] | None] = {}


def _hook(extension: SchemaExtension, name: str) -> tuple[Callable[..., Any], int] | None:
    """The hook `name` of an extension's class and how it is entered; None when it keeps the
    base class's (which does nothing). Looked up once per class."""
    key = (type(extension), name)
    if key not in _HOOKS:
        function = getattr(key[0], name)
        kind = (
            None
            if function is getattr(SchemaExtension, name)
            else _GENERATOR
            if inspect.isgeneratorfunction(function)
            else _ASYNC_GENERATOR
            if inspect.isasyncgenfunction(function)
            else _COROUTINE
            if inspect.iscoroutinefunction(function)
            else _PLAIN
        )
        _HOOKS[key] = None if kind is None else (function, kind)
    return _HOOKS[key]


def _first_yield(generator: Any) -> None:
    try:
        next(generator)
    except StopIteration:
        raise RuntimeError("generator didn't yield") from None


async def _enter(
    members: Sequence[SchemaExtension], name: str, args: tuple[Any, ...]
) -> list[tuple[Any, bool]]:
    opened: list[tuple[Any, bool]] = []
    try:
        for member in members:
            hook = _hook(member, name)
            if hook is None:
                continue
            function, kind = hook
            if kind == _GENERATOR:
                generator = function(member, *args)
                _first_yield(generator)
                opened.append((generator, False))
            elif kind == _ASYNC_GENERATOR:
                generator = function(member, *args)
                try:
                    await generator.__anext__()
                except StopAsyncIteration:
                    raise RuntimeError("generator didn't yield") from None
                opened.append((generator, True))
            elif kind == _COROUTINE:
                await function(member, *args)
            else:
                function(member, *args)
    except BaseException as error:
        await _leave(opened, error)
        raise
    return opened


async def _leave(opened: list[tuple[Any, bool]], error: BaseException | None) -> None:
    for generator, is_async in reversed(opened):
        try:
            if is_async:
                await (generator.__anext__() if error is None else generator.athrow(error))
            elif error is None:
                next(generator)
            else:
                generator.throw(error)
        except (StopIteration, StopAsyncIteration):
            error = None
            continue
        except BaseException as raised:
            error = raised
            continue
        error = RuntimeError("generator didn't stop")
    if error is not None:
        raise error


class ExtensionChain(SchemaExtension):
    """One request's instances of the member extensions (`chain(...)` makes the factory)."""

    factories: tuple[Callable[[], SchemaExtension], ...] = ()

    def __init__(self) -> None:
        self.members = [factory() for factory in self.factories]

    @property
    def execution_context(self) -> ExecutionContext:
        return self._execution_context

    @execution_context.setter
    def execution_context(self, value: ExecutionContext) -> None:
        self._execution_context = value
        for member in self.members:
            member.execution_context = value

    def on_operation(self) -> Iterator[None]:
        """Only under strawberry's own runner, which would enter none of the members."""
        raise TypeError("run the extension chain with a ChainedSchema")
        yield  # a generator, as strawberry expects of the hook

    async def get_results(self) -> dict[str, Any]:
        results: dict[str, Any] = {}
        for member in self.members:
            if _hook(member, "get_results") is not None:
                results.update(await await_maybe(member.get_results()))
        return results


def chain(*factories: Callable[[], SchemaExtension]) -> type[ExtensionChain]:
    """The extension running `factories`' extensions (classes or factories) as one, in a
    `ChainedSchema`. None may wrap resolvers (`resolve`): the chain has no per-field hook."""
    for factory in factories:
        probe = factory()
        if _hook(probe, "resolve") is not None:
            raise TypeError(f"{type(probe).__name__} wraps resolvers: keep it out of the chain")
    return type("PortalExtensions", (ExtensionChain,), {"factories": tuple(factories)})


class _Stage:
    """One stage (`name`) of one request: the members' hooks entered on entry, left on exit,
    as strawberry's context managers would, without wrapping each hook. Asynchronous only, as
    strawberry's asynchronous execution enters every stage."""

    __slots__ = ("args", "members", "name", "opened")

    def __init__(self, members: Sequence[SchemaExtension], name: str, *args: Any) -> None:
        self.members = members
        self.name = name
        self.args = args

    async def __aenter__(self) -> None:
        self.opened = await _enter(self.members, self.name, self.args)

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: TracebackType | None
    ) -> bool:
        try:
            await _leave(self.opened, error)
        except BaseException as raised:
            if raised is not error:
                raise
        return False  # the stage's own exception goes on, as with strawberry's (even swallowed)


class ChainRunner(SchemaExtensionsRunner):
    """Strawberry's runner for a schema whose one extension is a chain: each stage is a
    `_Stage` over the chain's members (the results gathered as strawberry does)."""

    def __init__(self, execution_context: ExecutionContext, extension: ExtensionChain) -> None:
        super().__init__(execution_context, [extension])
        self.members = extension.members

    def operation(self) -> Any:
        return _Stage(self.members, "on_operation")

    def validation(self) -> Any:
        return _Stage(self.members, "on_validate")

    def parsing(self) -> Any:
        return _Stage(self.members, "on_parse")

    def executing(self) -> Any:
        return _Stage(self.members, "on_execute")

    def on_stream_result(self, result: Any) -> Any:
        return _Stage(self.members, "on_stream_result", result)


class ChainedSchema(strawberry.Schema):
    """A schema that runs a lone `ExtensionChain` with `ChainRunner`."""

    def create_extensions_runner(
        self, execution_context: ExecutionContext, extensions: list[SchemaExtension]
    ) -> SchemaExtensionsRunner:
        if len(extensions) == 1 and isinstance(extensions[0], ExtensionChain):
            return ChainRunner(execution_context, extensions[0])
        return super().create_extensions_runner(execution_context, extensions)
