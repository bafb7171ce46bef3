"""A shorter execution path for plain fields: graphql-core's executor with a plan per selection.

A dashboard page is 100 objects times a few dozen fields, most of them plain attributes of
the object (a name, a date, an enum): for each, the standard executor builds a path, a resolve
info, calls strawberry's resolver (which reads the attribute) and dispatches on the field's type
to serialise the value. Here each selection set (a parent type and its collected fields, once
per operation, whatever the number of objects) gets a plan that marks those fields, and
`execute_fields` serialises their values directly, in the same order, into the same result.

Only what cannot differ is taken this way: a field strawberry resolves by reading an attribute
(no resolver, no extension, so no permission check), with no arguments and no directive
besides `@skip` / `@include` (already applied when the fields were collected), whose type is a
scalar or an enum (non-null or not), outside any `@defer` / `@stream` and without graphql-core
middleware. Its value goes through the type's own `coerce_output_value`, as in the standard
path. Anything unusual on one object (an exception, an awaitable, null for a non-null field, a
value the scalar refuses) sends that field of that object through the standard
`execute_field`, which reads the attribute again and raises, locates and records the error
exactly as it always does. Every other field (resolvers, guarded fields, objects, lists,
abstract types) takes the standard path, and its own selection set gets its own plan.

`Settings.compiled_execution` (environment `COMPILED_EXECUTION`) turns it off: the executor
then does exactly what strawberry's does.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from graphql import (
    GraphQLField,
    GraphQLLeafType,
    GraphQLObjectType,
    Undefined,
    get_nullable_type,
    is_leaf_type,
    is_non_null_type,
)
from graphql.execution.collect_fields import FieldDetails
from graphql.pyutils import AwaitableOrValue, Path, gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

# Directives that are applied when fields are collected and mean nothing afterwards.
_COLLECTION_DIRECTIVES = frozenset({"skip", "include"})

# strawberry's resolver for a field with no resolver and no extension (`is_basic_field`):
# reads the attribute, ignores the resolve info.
_BASIC_RESOLVER = "_get_basic_result"


class PlainField(NamedTuple):
    """A field whose value is an attribute of its object, serialised by its leaf type."""

    read: Any  # strawberry's basic resolver: (source, info) -> the attribute
    leaf: GraphQLLeafType
    non_null: bool


# One entry per response key: (key, its field details, the plain field or None).
Plan = list[tuple[str, list[FieldDetails], PlainField | None]]


def enabled(context: Any) -> bool:
    settings = getattr(context, "settings", None)
    return bool(getattr(settings, "compiled_execution", False))


class CompiledExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """strawberry's executor, with plain fields of each selection set written directly."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # strawberry always passes a manager; it holds the schema extensions with a `resolve`
        # hook (none in this API): with any, every field goes through them
        middleware = self.middleware_manager
        self._compiled = enabled(self.context_value) and not (
            middleware is not None and middleware.middlewares
        )
        # (parent type, id of the grouped field set) -> (that field set, kept alive; its plan)
        self._plans: dict[tuple[GraphQLObjectType, int], tuple[Any, Plan | None]] = {}

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: Any,
        position_context: Any,
    ) -> AwaitableOrValue[dict[str, Any]]:
        if not self._compiled or position_context is not None:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        key = (parent_type, id(grouped_field_set))
        cached = self._plans.get(key)
        if cached is None:
            cached = self._plans[key] = (grouped_field_set, plan(parent_type, grouped_field_set))
        steps = cached[1]
        if steps is None:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        return self._execute_planned(parent_type, source_value, path, steps)

    def _execute_planned(
        self, parent_type: GraphQLObjectType, source_value: Any, path: Path | None, steps: Plan
    ) -> AwaitableOrValue[dict[str, Any]]:
        """`Executor.execute_fields`, with the plain fields' values written directly."""
        results: dict[str, Any] = {}
        is_awaitable = self.is_awaitable
        awaitable_fields: list[str] = []
        try:
            for response_name, field_details_list, plain in steps:
                if plain is not None:
                    value = _plain_value(plain, source_value, is_awaitable)
                    if value is not _STANDARD:
                        results[response_name] = value
                        continue
                field_path = Path(path, response_name, parent_type.name)
                result = self.execute_field(
                    parent_type, source_value, field_details_list, field_path, None
                )
                if result is not Undefined:
                    results[response_name] = result
                    if is_awaitable(result):
                        awaitable_fields.append(response_name)
        except Exception:
            if awaitable_fields:
                self.settle_in_background([results[field] for field in awaitable_fields])
            raise

        if not awaitable_fields:
            return results

        async def get_results() -> dict[str, Any]:
            if len(awaitable_fields) == 1:
                field = awaitable_fields[0]
                results[field] = await results[field]
            else:
                awaited = await gather_with_cancel(*(results[f] for f in awaitable_fields))
                results.update(zip(awaitable_fields, awaited, strict=True))
            return results

        return get_results()


class _Standard:
    """Marks a value the standard path must produce (with its error, if any)."""


_STANDARD: Any = _Standard()


def _plain_value(plain: PlainField, source: Any, is_awaitable: Any) -> Any:
    """The serialised attribute, or `_STANDARD` when anything about it is not plain."""
    try:
        value = plain.read(source, None)
    except Exception:
        return _STANDARD
    if value is None:
        return _STANDARD if plain.non_null else None
    if value is Undefined or isinstance(value, Exception) or is_awaitable(value):
        return _STANDARD
    try:
        coerced = plain.leaf.coerce_output_value(value)
    except Exception:
        return _STANDARD
    if coerced is None or coerced is Undefined:
        return _STANDARD
    return coerced


def plan(parent_type: GraphQLObjectType, grouped_field_set: Any) -> Plan | None:
    """Each response key of the selection set with its plain field (None: standard path);
    None when no field is plain."""
    steps: Plan = []
    for response_name, field_details_list in grouped_field_set.items():
        steps.append((response_name, field_details_list, _plain(parent_type, field_details_list)))
    return steps if any(plain is not None for _, _, plain in steps) else None


def _plain(parent_type: GraphQLObjectType, field_details_list: list[FieldDetails]) -> Any:
    for details in field_details_list:
        if details.defer_usage is not None or details.fragment_variable_values is not None:
            return None
        node = details.node
        if node.arguments or any(
            d.name.value not in _COLLECTION_DIRECTIVES for d in node.directives or ()
        ):
            return None
    name = field_details_list[0].node.name.value
    field: GraphQLField | None = parent_type.fields.get(name)
    if field is None or field.args:
        return None
    read = field.resolve
    if read is None or getattr(read, "__name__", None) != _BASIC_RESOLVER:
        return None
    definition = (field.extensions or {}).get("strawberry-definition")
    if definition is None or not definition.is_basic_field:
        return None
    leaf = get_nullable_type(field.type)
    if not is_leaf_type(leaf):
        return None
    return PlainField(read=read, leaf=leaf, non_null=is_non_null_type(field.type))
