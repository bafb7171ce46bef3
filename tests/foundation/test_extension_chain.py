"""The extension chain (schema/extension_chain.py) must behave as strawberry's own runner does
with the same extensions listed one by one: same hooks entered and left in the same order,
same exceptions let through, replaced or swallowed, same result and extension results. Each
case runs one schema of each kind and compares what they did.

One difference is deliberate: when a hook raises on entry, strawberry leaves the hooks of that
stage entered before it open (their code after `yield`, a `finally` closing a session, runs
whenever the garbage collector gets to them); the chain leaves them at once, with the
exception, as an exit stack does."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import strawberry
from strawberry.extensions import SchemaExtension

from schema.extension_chain import ChainedSchema, chain


@strawberry.type
class Query:
    @strawberry.field
    def hello(self) -> str:
        return "world"

    @strawberry.field
    def broken(self) -> str:
        raise ValueError("resolver failed")


class Boom(Exception):
    """Raised by a hook on purpose."""


def recording(name: str, log: list[str], **behaviour: str) -> type[SchemaExtension]:
    """An extension logging each hook's entry and exit; `behaviour` maps a hook name to what
    it does: "raise-before", "raise-after", "swallow" (an exception raised inside), "replace"
    (raises another one when an exception passes) or "async" (an async generator)."""

    def sync_hook(hook: str) -> Any:
        def run(self: SchemaExtension) -> Iterator[None]:
            yield from _body(hook)

        return run

    def async_hook(hook: str) -> Any:
        async def run(self: SchemaExtension) -> AsyncIterator[None]:
            for step in _body(hook):
                yield step

        return run

    def _body(hook: str) -> Iterator[None]:
        what = behaviour.get(hook, "")
        log.append(f"{name}.{hook} enter")
        if what == "raise-before":
            raise Boom(f"{name}.{hook}")
        try:
            yield
        except Boom as error:
            log.append(f"{name}.{hook} saw {error}")
            if what == "swallow":
                return
            if what == "replace":
                raise Boom(f"{name}.{hook} instead") from error
            raise
        log.append(f"{name}.{hook} leave")
        if what == "raise-after":
            raise Boom(f"{name}.{hook} on leaving")

    hooks: dict[str, Any] = {}
    for hook in ("on_operation", "on_execute"):
        hooks[hook] = (
            async_hook(hook) if behaviour.get(f"{hook}-kind") == "async" else sync_hook(hook)
        )
    for hook in ("on_parse", "on_validate"):
        hooks[hook] = sync_hook(hook)

    def get_results(self: SchemaExtension) -> dict[str, Any]:
        return {name: sorted(behaviour)}

    hooks["get_results"] = get_results
    return type(name, (SchemaExtension,), hooks)


CASES: dict[str, list[dict[str, str]]] = {
    "plain": [{}, {"on_operation-kind": "async"}, {}],
    "raise entering execution": [{}, {"on_execute": "raise-before"}, {}],
    "raise leaving execution": [{"on_execute-kind": "async"}, {}, {"on_execute": "raise-after"}],
    "swallowed": [{"on_execute": "swallow"}, {"on_execute": "raise-after"}, {}],
    "swallowed by the operation": [{"on_operation": "swallow"}, {"on_execute": "raise-after"}, {}],
    "replaced": [
        {},
        {"on_execute": "replace", "on_execute-kind": "async"},
        {"on_execute": "raise-after"},
    ],
    "raise parsing": [{}, {"on_parse": "raise-before"}, {}],
    "raise leaving validation": [{"on_validate": "swallow"}, {}, {"on_validate": "raise-after"}],
    "raise entering the operation": [{}, {}, {"on_operation": "raise-before"}],
}


async def outcome(behaviours: list[dict[str, str]], chained: bool, query: str) -> Any:
    """What `query` gives with the extensions listed one by one in strawberry's runner, or
    chained in a `ChainedSchema` (`chained`), and the hooks' log."""
    log: list[str] = []
    extensions = [recording(f"e{i}", log, **b) for i, b in enumerate(behaviours)]
    schema = (
        ChainedSchema(Query, extensions=[chain(*extensions)])
        if chained
        else strawberry.Schema(Query, extensions=list(extensions))
    )
    try:
        result = await schema.execute(query)
        answer: Any = (result.data, [e.message for e in result.errors or []], result.extensions)
    except Exception as error:  # what escapes the runner escapes both
        answer = (type(error).__name__, str(error))
    return answer, log


@pytest.mark.parametrize("query", ["{ hello }", "{ broken }", "{ nope }"])
@pytest.mark.parametrize("case", list(CASES))
async def test_the_chain_does_what_strawberry_does_with_the_extensions_listed(
    case: str, query: str
) -> None:
    # when
    expected, expected_log = await outcome(CASES[case], False, query)
    found, log = await outcome(CASES[case], True, query)
    # then
    assert found == expected
    left_at_once = _left_at_once(CASES[case], log)
    assert [line for line in log if line not in left_at_once] == expected_log


async def test_the_chain_refuses_to_run_under_strawberrys_own_runner() -> None:
    """Which would enter none of its members: no rate limit, no audit, no masking."""
    # given
    log: list[str] = []
    schema = strawberry.Schema(Query, extensions=[chain(recording("e0", log))])
    # when
    result = await schema.execute("{ hello }")
    # then
    assert result.data is None
    assert [e.message for e in result.errors or []] == [
        "run the extension chain with a ChainedSchema"
    ]
    assert log == []


def _left_at_once(behaviours: list[dict[str, str]], log: list[str]) -> list[str]:
    """The chain's lines for hooks left because a later hook of their stage raised on entry
    (the deliberate difference), checked to be there."""
    lines = []
    for raiser, behaviour in enumerate(behaviours):
        for hook, what in behaviour.items():
            if what == "raise-before" and f"e{raiser}.{hook} enter" in log:
                for earlier in range(raiser):
                    line = f"e{earlier}.{hook} saw e{raiser}.{hook}"
                    assert line in log
                    lines.append(line)
    return lines


def test_a_member_hooking_resolvers_is_refused() -> None:
    class Wrapping(SchemaExtension):
        def resolve(self, _next: Any, root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
            return _next(root, info, *args, **kwargs)

    with pytest.raises(TypeError, match="wraps resolvers"):
        chain(Wrapping)
