"""The portal's schema extensions, run as one.

Strawberry wraps every hook of every extension in a context manager of its own on every
request (inspecting the hook, `functools.wraps`, an exit stack): for our eight extensions that
cost more than executing `{ __typename }` itself (bench/README.md). The chain is the only
extension the schema holds; it enters its members' hooks directly, with strawberry's order and
exception semantics: entered in list order, left in reverse, an exception raised inside thrown
into each hook still open (which may let it through, replace it or swallow it).

A schema made with `ChainedSchema` goes further: its stages enter the chain's members
directly (`ChainRunner`), so not even the chain's own hooks are wrapped per request.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from types import TracebackType
from typing import Any

import strawberry
from strawberry.extensions import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.types import ExecutionContext
from strawberry.utils.await_maybe import await_maybe

# The hooks strawberry enters around a stage; `on_parse`, `on_validate` and
# `on_stream_result` are entered synchronously too (strawberry's sync execution), so their
# members' hooks must be generators or plain functions.
ASYNC_HOOKS = ("on_operation", "on_execute")
SYNC_HOOKS = ("on_parse", "on_validate", "on_stream_result")

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


def _enter_sync(members: Sequence[SchemaExtension], name: str, args: tuple[Any, ...]) -> list[Any]:
    opened: list[Any] = []
    try:
        for member in members:
            hook = _hook(member, name)
            if hook is None:
                continue
            function, kind = hook
            if kind == _GENERATOR:
                generator = function(member, *args)
                _first_yield(generator)
                opened.append(generator)
            else:
                function(member, *args)
    except BaseException as error:
        _leave_sync(opened, error)
        raise
    return opened


def _leave_sync(opened: list[Any], error: BaseException | None) -> None:
    for generator in reversed(opened):
        try:
            if error is None:
                next(generator)
            else:
                generator.throw(error)
        except StopIteration:
            error = None  # finished, or swallowed what was thrown in
            continue
        except BaseException as raised:
            error = raised  # the same exception let through, or another one
            continue
        error = RuntimeError("generator didn't stop")
    if error is not None:
        raise error


async def _enter(members: Sequence[SchemaExtension], name: str) -> list[tuple[Any, bool]]:
    opened: list[tuple[Any, bool]] = []
    try:
        for member in members:
            hook = _hook(member, name)
            if hook is None:
                continue
            function, kind = hook
            if kind == _GENERATOR:
                generator = function(member)
                _first_yield(generator)
                opened.append((generator, False))
            elif kind == _ASYNC_GENERATOR:
                generator = function(member)
                try:
                    await generator.__anext__()
                except StopAsyncIteration:
                    raise RuntimeError("generator didn't yield") from None
                opened.append((generator, True))
            elif kind == _COROUTINE:
                await function(member)
            else:
                function(member)
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


def _around(name: str) -> Callable[[Any], AsyncIterator[None]]:
    """The chain's async hook `name`: its members' hooks entered, the stage run, then left."""

    async def hook(self: Any) -> AsyncIterator[None]:
        opened = await _enter(self.members, name)
        try:
            yield
        except BaseException as error:
            await _leave(opened, error)
            return  # a member swallowed it (else _leave raised)
        await _leave(opened, None)

    hook.__name__ = name
    return hook


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

    on_operation = _around("on_operation")
    on_execute = _around("on_execute")

    def on_parse(self) -> Iterator[None]:
        yield from self._around_sync("on_parse", ())

    def on_validate(self) -> Iterator[None]:
        yield from self._around_sync("on_validate", ())

    def on_stream_result(self, result: Any) -> Iterator[None]:
        yield from self._around_sync("on_stream_result", (result,))

    def _around_sync(self, name: str, args: tuple[Any, ...]) -> Iterator[None]:
        opened = _enter_sync(self.members, name, args)
        try:
            yield
        except BaseException as error:
            _leave_sync(opened, error)
            return
        _leave_sync(opened, None)

    async def get_results(self) -> dict[str, Any]:
        results: dict[str, Any] = {}
        for member in self.members:
            if _hook(member, "get_results") is not None:
                results.update(await await_maybe(member.get_results()))
        return results


def chain(*factories: Callable[[], SchemaExtension]) -> type[ExtensionChain]:
    """The extension running `factories`' extensions (classes or factories) as one. Their
    `on_parse`, `on_validate` and `on_stream_result` must not be async, and none may wrap
    resolvers (`resolve`): the chain has no per-field hook."""
    for factory in factories:
        probe = factory()
        if _hook(probe, "resolve") is not None:
            raise TypeError(f"{type(probe).__name__} wraps resolvers: keep it out of the chain")
        for name in SYNC_HOOKS:
            hook = _hook(probe, name)
            if hook is not None and hook[1] in (_ASYNC_GENERATOR, _COROUTINE):
                raise TypeError(f"{type(probe).__name__}.{name} must not be async in the chain")
    return type("PortalExtensions", (ExtensionChain,), {"factories": tuple(factories)})


class _Stage:
    """One stage (`name`) of one request: the members' hooks entered on entry, left on exit,
    as strawberry's context managers would, without wrapping each hook. Asynchronous only:
    so is the chain (its `on_operation`, `on_execute` and `get_results` are async)."""

    __slots__ = ("members", "name", "opened")

    def __init__(self, members: Sequence[SchemaExtension], name: str) -> None:
        self.members = members
        self.name = name

    async def __aenter__(self) -> None:
        self.opened = await _enter(self.members, self.name)

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
    `_Stage` over the chain's members (results and streamed results as strawberry does)."""

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


class ChainedSchema(strawberry.Schema):
    """A schema that runs a lone `ExtensionChain` with `ChainRunner`."""

    def create_extensions_runner(
        self, execution_context: ExecutionContext, extensions: list[SchemaExtension]
    ) -> SchemaExtensionsRunner:
        if len(extensions) == 1 and isinstance(extensions[0], ExtensionChain):
            return ChainRunner(execution_context, extensions[0])
        return super().create_extensions_runner(execution_context, extensions)
