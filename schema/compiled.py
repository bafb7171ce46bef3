"""A shorter execution path for plain fields: graphql-core's executor with a plan per selection.

A dashboard page is 100 objects times a few dozen fields, most of them attributes of the
object (a name, a date, an enum) or relations its page already loaded. For each, the standard
executor builds a path and a resolve info, strawberry builds its `Info`, maps arguments, runs
the field extensions (the permission check) and the resolver, and the executor dispatches on
the field's type to complete the value. Here each selection set (a parent type and its
collected fields; once per operation, whatever the number of objects) gets a plan that marks
the fields it can read directly, and `execute_fields` writes their values in the same order
into the same result:

- an attribute strawberry reads itself (no resolver, no extension) of scalar or enum type:
  read and serialised by the type's own `coerce_output_value`, inline;
- such an attribute of object type, or a list of objects;
- a resolver declared with `direct` (a plain `def` whose value is `read(self, context)`,
  typically a loader's primed value), guarded or not: its `Requires` is decided with the scope
  already read, exactly as `schema.permissions.Guard` decides it.

A planned field has no arguments and no directive besides `@skip` / `@include` (applied when the
fields were collected), is outside any `@defer` / `@stream`, and the operation has no
graphql-core middleware. Anything unusual on one object sends that field of that object through
the standard `execute_field`, which reads it again (readers only read) and raises, locates and
records the error exactly as it always does: a permission refused or not decidable yet (the
scope not read), an exception, null in a non-null position, a value the scalar refuses, a list
that is not a list of objects of the type. An awaitable value (a relation not loaded yet) is
completed as `execute_field` completes it. Everything else (resolvers not declared `direct`,
arguments, abstract types) takes the standard path, and its own selection set gets its own plan.

`Settings.compiled_execution` (environment `COMPILED_EXECUTION`) turns it off: the executor
then does exactly what strawberry's does. `tests/fuzz/test_compiled_execution.py` holds the two
paths to the same answers.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

from graphql import (
    GraphQLBoolean,
    GraphQLField,
    GraphQLID,
    GraphQLInt,
    GraphQLObjectType,
    GraphQLString,
    Undefined,
    get_nullable_type,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
)
from graphql.execution.collect_fields import FieldDetails
from graphql.execution.executor import to_nodes
from graphql.pyutils import AwaitableOrValue, Path, gather_with_cancel
from strawberry.relay import GlobalID, Node
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import CustomGraphQLEnumType

from schema.permissions import Guard

ResolverT = TypeVar("ResolverT")

# Directives that are applied when fields are collected and mean nothing afterwards.
_COLLECTION_DIRECTIVES = frozenset({"skip", "include"})

# strawberry's resolver for a field with no resolver and no extension (`is_basic_field`):
# reads the attribute, ignores the resolve info.
_BASIC_RESOLVER = "_get_basic_result"
# strawberry's resolver for a synchronous field with a resolver.
_STRAWBERRY_RESOLVER = "_resolver"


LEAF, OBJECT, OBJECTS = range(3)


class PlainField(NamedTuple):
    """A field the plan reads directly: its value is `read(source, context)`; a leaf is
    serialised by its type, an object (or a list of objects) completed by the executor."""

    read: Callable[[Any, Any], Any]
    guard: Any  # the field's `schema.permissions.Requires`, checked first; None: unguarded
    shape: int  # LEAF, OBJECT or OBJECTS
    named: Any  # the leaf or object type
    non_null: bool
    item_non_null: bool  # (OBJECTS) the items are non-null
    field: GraphQLField
    serialize: Callable[[Any], Any] | None  # (LEAF) `_serializer(named)`


# One entry per response key: (key, its field details, the plain field or None).
Plan = list[tuple[str, list[FieldDetails], PlainField | None]]

# Where a resolver declared with `direct` keeps its (source, context) reader.
_DIRECT = "__portal_direct__"


def direct(read: Callable[[Any, Any], Any]) -> Callable[[ResolverT], ResolverT]:
    """Declares that a field resolver (a plain `def` taking `self` and `info` only) returns
    `read(self, info.context)`, so that the compiled path may call `read` without building
    the resolve info. `read` must only read (it may be called again by the standard path: a
    loader's `load` is), and return what the resolver returns."""

    def mark(resolver: ResolverT) -> ResolverT:
        setattr(resolver, _DIRECT, read)
        return resolver

    return mark


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
        """`Executor.execute_fields`, with the planned fields' values written directly."""
        results: dict[str, Any] = {}
        is_awaitable = self.is_awaitable
        awaitable_fields: list[str] = []
        try:
            for response_name, field_details_list, plain in steps:
                if plain is not None and plain.guard is None and plain.shape == LEAF:
                    # an attribute of scalar or enum type: the commonest field, read inline
                    result = _leaf(plain, source_value, is_awaitable)
                    if result is not _STANDARD:
                        results[response_name] = result
                        continue
                    plain = None  # anything unusual: the standard way
                if plain is None:
                    result = self.execute_field(
                        parent_type,
                        source_value,
                        field_details_list,
                        Path(path, response_name, parent_type.name),
                        None,
                    )
                else:
                    result = self._planned(
                        plain, parent_type, source_value, field_details_list, path, response_name
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

    def _planned(
        self,
        plain: PlainField,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: list[FieldDetails],
        path: Path | None,
        response_name: str,
    ) -> Any:
        """One planned field: its completed value, or what `execute_field` gives when the
        value is not one the plan writes (read again there: readers only read)."""
        value = _read(plain, source, self.context_value, self.is_awaitable)
        if value is _STANDARD:
            return self.execute_field(
                parent_type,
                source,
                field_details_list,
                Path(path, response_name, parent_type.name),
                None,
            )
        field_path = Path(path, response_name, parent_type.name)
        return_type = plain.field.type
        if self.is_awaitable(value):  # not loaded yet: as `execute_field` does
            info = self.build_resolve_info(
                plain.field, to_nodes(field_details_list), parent_type, field_path
            )
            return self.complete_awaitable_value(
                return_type, field_details_list, info, field_path, value, None
            )
        if value is None or plain.shape == LEAF:
            return value  # (None only where the field is nullable)
        # What `execute_field` does once the resolver has returned. The resolve info is left
        # out: the executor reads it only to word errors about nulls in non-null positions
        # and values that are not lists, which `_read` sent the standard way.
        try:
            if plain.shape == OBJECT:  # (`_read` checked `is_type_of`)
                completed = self.collect_and_execute_subfields(
                    plain.named, field_details_list, field_path, value, None
                )
            else:
                completed = self._complete_objects(plain, field_details_list, field_path, value)
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, field_details_list, field_path)
            return None
        if self.is_awaitable(completed):
            return self._await_completed(completed, return_type, field_details_list, field_path)
        return completed

    def _complete_objects(
        self, plain: PlainField, field_details_list: list[FieldDetails], path: Path, items: Any
    ) -> Any:
        """What `complete_value` does with a list `_read` checked (objects of the item type,
        None only where items may be null): each item's fields executed, an item's error
        recorded at the item (or raised on, for non-null items) as `complete_list_item_value`
        does, without its five calls and type dispatch per item."""
        item_type = plain.named
        grouped_field_set, new_defer_usages, _ = self.collect_subfields(
            item_type, field_details_list
        )
        if new_defer_usages:  # a `@defer` below: the standard way
            return self.complete_value(
                plain.field.type, field_details_list, _NO_INFO, path, items, None
            )
        list_type: Any = get_nullable_type(plain.field.type)
        item_return_type = list_type.of_type
        is_awaitable = self.is_awaitable
        execute_fields = self.execute_fields
        completed: list[Any] = []
        awaitable_indices: list[int] = []
        for index, item in enumerate(items):
            if item is None:
                completed.append(None)
                continue
            item_path = path.add_key(index, None)
            try:
                result = execute_fields(item_type, item, item_path, grouped_field_set, None)
            except Exception as raw_error:
                self.handle_field_error(raw_error, item_return_type, field_details_list, item_path)
                completed.append(None)
                continue
            if type(result) is not dict and is_awaitable(result):
                result = self._await_completed(
                    result, item_return_type, field_details_list, item_path
                )
                awaitable_indices.append(index)
            completed.append(result)
        if not awaitable_indices:
            return completed

        async def get_completed() -> list[Any]:
            awaited = await gather_with_cancel(*(completed[i] for i in awaitable_indices))
            for index, value in zip(awaitable_indices, awaited, strict=True):
                completed[index] = value
            return completed

        return get_completed()

    async def _await_completed(
        self,
        completed: Any,
        return_type: Any,
        field_details_list: list[FieldDetails],
        path: Path,
    ) -> Any:
        try:
            return await completed
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, field_details_list, path)
            return None


_NO_INFO: Any = None


class _Standard:
    """Marks a value the standard path must produce (with its error, if any)."""


_STANDARD: Any = _Standard()


def _read(plain: PlainField, source: Any, context: Any, is_awaitable: Any) -> Any:
    """The planned field's value (serialised, for a leaf; as is when awaitable), or
    `_STANDARD` when anything about it is not plain: a permission not decided now or refused,
    an exception, null where it may not be, a value the scalar refuses, a list that is not a
    list of objects of the type."""
    if plain.guard is not None:
        scope = context.scope_now()
        if scope is None or not scope.is_authenticated:
            return _STANDARD
        try:
            plain.guard.decide(scope, source, context)
        except Exception:
            return _STANDARD  # FORBIDDEN: raised again, and recorded, by the standard path
    try:
        value = plain.read(source, context)
    except Exception:
        return _STANDARD
    if value is None:
        return _STANDARD if plain.non_null else None
    shape = plain.shape
    if shape == LEAF:
        return _coerced(plain, value, is_awaitable)
    if is_awaitable(value):
        return value
    if value is Undefined or isinstance(value, Exception):
        return _STANDARD
    is_type_of = plain.named.is_type_of
    if shape == OBJECT:
        if is_type_of is not None and not is_type_of(value, None):
            return _STANDARD
        return value
    if not isinstance(value, list | tuple):
        return _STANDARD
    for item in value:
        if item is None:
            if plain.item_non_null:
                return _STANDARD
        elif (
            isinstance(item, Exception)
            or is_awaitable(item)
            or (is_type_of is not None and not is_type_of(item, None))
        ):
            return _STANDARD
    return value


def _leaf(plain: PlainField, source: Any, is_awaitable: Any) -> Any:
    """An unguarded leaf field: its serialised value, None, or `_STANDARD`."""
    try:
        value = plain.read(source, None)
    except Exception:
        return _STANDARD
    if value is None:
        return _STANDARD if plain.non_null else None
    return _coerced(plain, value, is_awaitable)


def _coerced(plain: PlainField, value: Any, is_awaitable: Any) -> Any:
    serialize = plain.serialize
    assert serialize is not None
    coerced = serialize(value)
    if coerced is not _UNUSUAL:
        return coerced
    if value is Undefined or isinstance(value, Exception) or is_awaitable(value):
        return _STANDARD
    try:
        coerced = plain.named.coerce_output_value(value)
    except Exception:
        return _STANDARD
    if coerced is None or coerced is Undefined:
        return _STANDARD
    return coerced


class _Unusual:
    """A value a serialiser's shortcut does not take (its type's own serialiser decides)."""


_UNUSUAL: Any = _Unusual()
_MIN_INT, _MAX_INT = -(2**31), 2**31 - 1
# Leaf type -> its shortcut (kept for the process: the audiences' schemas are).
_SERIALIZERS: dict[Any, Callable[[Any], Any]] = {}


def _serializer(named: Any) -> Callable[[Any], Any]:
    """The commonest values of a leaf type serialised without graphql-core's dispatch, giving
    what its `coerce_output_value` gives: a `str` for String and ID, a `bool` for Boolean, an
    `int` in range for Int, a member of a strawberry enum (the name of the first value equal
    to it); `_UNUSUAL` for anything else."""
    found = _SERIALIZERS.get(named)
    if found is not None:
        return found
    serializer: Callable[[Any], Any]
    if named is GraphQLString or named is GraphQLID:
        serializer = _exactly(str)
    elif named is GraphQLBoolean:
        serializer = _exactly(bool)
    elif named is GraphQLInt:

        def serializer(value: Any) -> Any:
            if type(value) is int and _MIN_INT <= value <= _MAX_INT:
                return value
            return _UNUSUAL

    elif isinstance(named, CustomGraphQLEnumType):
        names: dict[Any, str] = {}
        member: Any
        for name, definition in named.values.items():
            for member in named.wrapped_cls:
                if member.value == definition.value:
                    names.setdefault(member, name)
        enum_class = named.wrapped_cls

        def serializer(value: Any) -> Any:
            if type(value) is enum_class:
                return names.get(value, _UNUSUAL)
            return _UNUSUAL

    else:

        def serializer(value: Any) -> Any:
            return _UNUSUAL

    _SERIALIZERS[named] = serializer
    return serializer


def _exactly(kind: type) -> Callable[[Any], Any]:
    def serializer(value: Any) -> Any:
        return value if type(value) is kind else _UNUSUAL

    return serializer


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
    definition = (field.extensions or {}).get("strawberry-definition")
    if definition is None or field.resolve is None:
        return None
    read, guard = _reader(definition, field.resolve, parent_type.name)
    if read is None:
        return None
    non_null = is_non_null_type(field.type)
    nullable = get_nullable_type(field.type)
    if is_leaf_type(nullable):
        return PlainField(
            read, guard, LEAF, nullable, non_null, False, field, _serializer(nullable)
        )
    if isinstance(nullable, GraphQLObjectType) and _plain_is_type_of(nullable):
        return PlainField(read, guard, OBJECT, nullable, non_null, False, field, None)
    if is_list_type(nullable):
        item = nullable.of_type
        item_type = get_nullable_type(item)
        if isinstance(item_type, GraphQLObjectType) and _plain_is_type_of(item_type):
            return PlainField(
                read, guard, OBJECTS, item_type, non_null, is_non_null_type(item), field, None
            )
    return None


def _reader(definition: Any, resolve: Any, type_name: str) -> tuple[Any, Any]:
    """(source, context) -> the field's value, and its guard: for an attribute strawberry
    reads itself, a Relay node's `id`, and a resolver declared `direct` whose only extension
    is a `Guard`."""
    resolve_name = getattr(resolve, "__name__", None)
    if resolve_name == _BASIC_RESOLVER and definition.is_basic_field:
        # what strawberry's basic resolver calls: the config's default resolver (getattr)
        default_resolver, python_name = definition.default_resolver, definition.python_name
        return (lambda source, _context: default_resolver(source, python_name)), None
    resolver = definition.base_resolver
    if resolver is None or resolve_name != _STRAWBERRY_RESOLVER or definition.is_async:
        return None, None
    if getattr(resolver.wrapped_func, "__func__", None) is _RELAY_ID and not definition.extensions:
        return _relay_id(type_name), None
    read = getattr(resolver.wrapped_func, _DIRECT, None)
    if read is None or definition.arguments:
        return None, None
    guards = [e for e in definition.extensions if isinstance(e, Guard)]
    if len(guards) != len(definition.extensions) or len(guards) > 1:
        return None, None
    return read, (guards[0].requires if guards else None)


# strawberry's resolver of a Relay node's `id` (`Node._id`, a classmethod).
_RELAY_ID = Node.__dict__["_id"].__func__


class _NotPlain(Exception):
    """Raised by a reader for a value only the standard path may produce."""


def _relay_id(type_name: str) -> Callable[[Any, Any], Any]:
    """What `Node._id` returns for a node of the type `type_name`, when the node's class keeps
    strawberry's `resolve_id` and `resolve_typename` (the typename is then the parent type's
    name, and the id its `NodeID` attribute)."""

    def read(source: Any, _context: Any) -> GlobalID:
        cls = type(source)
        if (
            not isinstance(source, Node)
            or cls.resolve_id.__func__ is not _RESOLVE_ID
            or cls.resolve_typename.__func__ is not _RESOLVE_TYPENAME
        ):
            raise _NotPlain
        node_id = getattr(source, cls.resolve_id_attr())
        if node_id is None or inspect.isawaitable(node_id):
            raise _NotPlain
        return GlobalID(type_name=type_name, node_id=str(node_id))

    return read


_RESOLVE_ID = Node.__dict__["resolve_id"].__func__
_RESOLVE_TYPENAME = Node.__dict__["resolve_typename"].__func__


def _plain_is_type_of(object_type: GraphQLObjectType) -> bool:
    """No `is_type_of`, or strawberry's own (an isinstance check that ignores the info)."""
    is_type_of = object_type.is_type_of
    return is_type_of is None or getattr(is_type_of, "__qualname__", "").endswith(
        "_get_is_type_of.<locals>.is_type_of"
    )
