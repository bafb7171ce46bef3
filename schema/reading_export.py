"""Bulk exports of `meterReadings` without GraphQL execution per row.

A million readings through GraphQL execution (a page of 100 nodes at a time, every field a
resolver call) runs at about 1,500 rows a second. For a query over `meterReadings` whose node
selection is plain enough, the export runner asks this module instead: the readings are read in
keyset chunks of `CHUNK` rows (one statement each, the list's own scope and filter clauses:
`resolvers.meter_readings`), the next chunk while this one is written. A reading's fields are
read off its row as `MeterReading.from_row` sets them; the objects it refers to are built with
their own `from_row` and rendered once each; every value goes through the schema's own scalar
and enum serializers, so the lines are byte for byte those of the GraphQL path
(tests/integrations/test_reading_exports.py compares them for every role).

What is handled (anything else: `plan` answers None and the runner uses the GraphQL path):
fields without arguments, aliases, `__typename`, no fragments nor directives; on a reading, its
columns, `id` and `device`; on the objects below, fields read off the object (no resolver),
synchronous resolvers of the object alone, the global `id`, the to-one relations of RELATIONS (a
device's site, model and account, a site's account) and the loader figures of FIGURES (a
device's open-ticket count). Related objects are read through their loaders (same scope
clauses) and rendered once while the owner's scope stays the same. Field permissions are
checked as `schema.permissions.Requires` checks them: a guarded field the viewer may not read is
null, and the FORBIDDEN message goes to the export's errors, as in a query's result.
"""

from __future__ import annotations

import asyncio
from base64 import b64encode
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import orjson
from graphql import (
    FieldNode,
    GraphQLEnumType,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
    get_nullable_type,
    is_list_type,
    is_non_null_type,
    parse,
)
from graphql.execution.values import get_argument_values
from strawberry import relay
from strawberry.permission import PermissionExtension
from strawberry.types.arguments import convert_arguments
from strawberry.types.field import StrawberryField

from auth.policy import Permission
from auth.requirements import Requirement
from core.errors import Forbidden
from core.ids import global_id
from forecasting.meters import bits_to_flags
from models import MeterReading as MeterReadingRow
from resolvers.context import Context
from resolvers.loaders.accounts import AccountByIdLoader, SiteByIdLoader
from resolvers.loaders.devices import DeviceByIdLoader, ProductModelByIdLoader
from resolvers.loaders.tickets import OpenTicketCountByDeviceIdLoader
from resolvers.meter_readings import ReadingFilterIn, reading_count, reading_rows
from resolvers.scoping import Scope
from schema.audiences import PortalSchema
from schema.bulk_exports import PreparedExport
from schema.meter_readings import reading_filter
from schema.permissions import requirement_of

ROOT_FIELD = "meterReadings"
# Rows per statement: large enough that the statements cost little next to the rows, small
# enough that a chunk (its rows and its lines) stays a few megabytes.
CHUNK = 5000
SLICE = 250  # rows written between two turns of the event loop

# (type, field) -> (loader, attribute of the object's row holding the key, related type)
RELATIONS: dict[tuple[str, str], tuple[Any, str, str]] = {
    ("MeterReading", "device"): (DeviceByIdLoader, "device_id", "Device"),
    ("Device", "site"): (SiteByIdLoader, "site_id", "Site"),
    ("Device", "model"): (ProductModelByIdLoader, "product_model_id", "ProductModel"),
    ("Device", "account"): (AccountByIdLoader, "account_id", "Account"),
    ("Site", "account"): (AccountByIdLoader, "account_id", "Account"),
}
# (type, field) -> (loader, attribute of the object's row holding the key)
FIGURES: dict[tuple[str, str], tuple[Any, str]] = {
    ("Device", "openTicketCount"): (OpenTicketCountByDeviceIdLoader, "id"),
}

# Columns of a reading that `MeterReading.from_row` does not copy as they are: column value ->
# the object's value.
ROW_VALUES: dict[str, Callable[[Any], Any]] = {"flags": bits_to_flags}


class Unhandled(Exception):
    """The selection (or a value) holds something this path does not write: the GraphQL path
    writes the export instead (from its start)."""


def _serializer(gql_type: Any) -> Callable[[Any], Any]:
    """What the executor does to a resolved leaf value (`complete_leaf_value`)."""
    if is_non_null_type(gql_type):
        return _serializer(gql_type.of_type)
    if is_list_type(gql_type):
        inner = _serializer(gql_type.of_type)
        return lambda value: None if value is None else [inner(v) for v in value]
    serialize = gql_type.serialize
    return lambda value: None if value is None else serialize(value)


@dataclass
class _Field:
    key: str
    guard: Requirement | None
    # exactly one of these
    read: Callable[[Any], Any] | None = None  # sync: object -> JSON value
    relation: tuple[Any, str, _Shape] | None = None  # (loader, key attribute, shape)
    figure: tuple[Any, str] | None = None  # (loader, key attribute)


@dataclass
class _Shape:
    """How to write one object type for one selection set."""

    type_name: str
    origin: Any  # the strawberry class: `origin.from_row(row)`
    fields: list[_Field] = field(default_factory=list)


def _shape(schema: GraphQLSchema, type_name: str, selection: SelectionSetNode | None) -> _Shape:
    gql_type = schema.get_type(type_name)
    if not isinstance(gql_type, GraphQLObjectType) or selection is None:
        raise Unhandled(type_name)
    definition = gql_type.extensions["strawberry-definition"]
    shape = _Shape(type_name, definition.origin)
    keys: set[str] = set()
    for node in selection.selections:
        if not isinstance(node, FieldNode) or node.directives or node.arguments:
            raise Unhandled("fragment, directive or argument")
        name = node.name.value
        key = (node.alias or node.name).value
        if key in keys:
            raise Unhandled("a response key twice")
        keys.add(key)
        if name == "__typename":
            shape.fields.append(_Field(key, None, read=lambda _obj, n=type_name: n))
            continue
        gql_field = gql_type.fields.get(name)
        if gql_field is None:
            raise Unhandled(name)
        strawberry_field: StrawberryField = gql_field.extensions["strawberry-definition"]
        guarded = any(isinstance(e, PermissionExtension) for e in strawberry_field.extensions)
        guard = requirement_of(strawberry_field) if guarded else None
        if (type_name, name) in RELATIONS:
            loader, attribute, target = RELATIONS[(type_name, name)]
            nested = _shape(schema, target, node.selection_set)
            shape.fields.append(_Field(key, guard, relation=(loader, attribute, nested)))
            continue
        if (type_name, name) in FIGURES:
            loader, attribute = FIGURES[(type_name, name)]
            serialize = _serializer(gql_field.type)
            shape.fields.append(_Field(key, guard, figure=(loader, attribute), read=serialize))
            continue
        if node.selection_set is not None or gql_field.args:
            raise Unhandled(name)
        serialize = _serializer(gql_field.type)
        resolver = strawberry_field.base_resolver
        if name == "id" and issubclass(definition.origin, relay.Node):
            shape.fields.append(
                _Field(key, guard, read=lambda obj, n=type_name: global_id(n, obj.id))
            )
        elif resolver is None:
            attribute = strawberry_field.python_name
            shape.fields.append(
                _Field(key, guard, read=lambda obj, a=attribute, s=serialize: s(getattr(obj, a)))
            )
        elif (
            not resolver.is_async
            and not resolver.arguments
            and resolver.info_parameter is None
            and resolver.root_parameter is None
        ):
            function = resolver.wrapped_func
            shape.fields.append(
                _Field(key, guard, read=lambda obj, f=function, s=serialize: s(f(obj)))
            )
        else:
            raise Unhandled(name)
    return shape


def _key(obj: Any, attribute: str) -> Any:
    """The key of a related object: an attribute of the object's row (`row`), or of the object
    itself for types that keep only their keys (a site's account)."""
    row = getattr(obj, "row", None)
    return getattr(row if row is not None else obj, attribute)


def _forbidden(requirement: Requirement, language: str) -> str:
    required = " | ".join(p.value for p in requirement.sorted_permissions)
    return str(Forbidden(language=language, required=required))


def _allowed(requirement: Requirement, obj: Any, scope: Scope) -> bool:
    """`schema.permissions.Requires.has_permission`, for one object."""
    if requirement.person and scope.user is None:
        return False
    if not requirement.any_of:
        return True
    granted: Callable[[Scope], frozenset[Permission]] | None = getattr(obj, "granted", None)
    if granted is not None:
        return requirement.met_by(granted(scope))
    return any(scope.holds_anywhere(p) for p in requirement.any_of)


@dataclass
class _Top:
    """How to write a reading, straight from its row (no object per reading): `pairs` of
    (response key, row -> JSON value), the relations whose rendered objects it takes, and the
    columns to read (in this order: the getters read rows by position)."""

    pairs: tuple[tuple[str, Callable[[Any], Any]], ...]
    relations: list[tuple[str, Any, str, _Shape]]  # (key, loader, row attribute, shape)
    columns: tuple[str, ...]
    # rendered related objects: type -> key -> JSON value (None: not visible)
    rendered: dict[str, dict[int, Any]]


class _Memo(dict[Any, Any]):
    """Values computed once per distinct key."""

    def __init__(self, compute: Callable[[Any], Any]) -> None:
        super().__init__()
        self.compute = compute

    def __missing__(self, key: Any) -> Any:
        value = self[key] = self.compute(key)
        return value


def _top(shape: _Shape, selection: SelectionSetNode, schema: GraphQLSchema) -> _Top:
    """The reading's fields, read off its row as `MeterReading.from_row` sets them (the tests
    compare the two paths): columns as they are (ROW_VALUES: as from_row turns them), `id`,
    `__typename` and the relations; a guard or a resolver of the reading itself: Unhandled."""
    gql_type = schema.get_type(shape.type_name)
    assert isinstance(gql_type, GraphQLObjectType)
    table_columns = set(MeterReadingRow.__table__.c.keys())
    names = [n.name.value for n in selection.selections if isinstance(n, FieldNode)]
    columns = {"id", "reading_date"}  # the keyset
    plans: list[tuple[str, str, Any]] = []  # (key, kind, detail)
    relations: list[tuple[str, Any, str, _Shape]] = []
    for spec, name in zip(shape.fields, names, strict=True):
        if spec.guard is not None or spec.figure is not None:
            raise Unhandled(name)
        if spec.relation is not None:
            loader, attribute, nested = spec.relation
            relations.append((spec.key, loader, attribute, nested))
            columns.add(attribute)
            plans.append((spec.key, "relation", (attribute, nested.type_name)))
        elif name == "__typename":
            plans.append((spec.key, "constant", shape.type_name))
        elif name == "id":
            plans.append((spec.key, "id", f"{shape.type_name}:".encode()))
        else:
            strawberry_field = gql_type.fields[name].extensions["strawberry-definition"]
            column = strawberry_field.python_name
            if strawberry_field.base_resolver is not None or column not in table_columns:
                raise Unhandled(name)
            columns.add(column)
            plans.append((spec.key, "column", (column, gql_type.fields[name].type)))
    order = tuple(sorted(columns))
    index = {column: i for i, column in enumerate(order)}
    rendered: dict[str, dict[int, Any]] = {nested.type_name: {} for *_, nested in relations}
    pairs: list[tuple[str, Callable[[Any], Any]]] = []
    for key, kind, detail in plans:
        if kind == "relation":
            attribute, type_name = detail
            pairs.append((key, _lookup(index[attribute], rendered[type_name])))
        elif kind == "constant":
            pairs.append((key, lambda _row, c=detail: c))
        elif kind == "id":
            position = index["id"]
            pairs.append(
                (
                    key,
                    lambda row, p=detail, i=position: b64encode(p + str(row[i]).encode()).decode(),
                )
            )
        else:
            column, gql_field_type = detail
            pairs.append((key, _column(index[column], column, gql_field_type)))
    return _Top(tuple(pairs), relations, order, rendered)


def _lookup(position: int, rendered: dict[int, Any]) -> Callable[[Any], Any]:
    get = rendered.get
    return lambda row: get(row[position])


def _column(position: int, column: str, gql_type: Any) -> Callable[[Any], Any]:
    """row -> the column's JSON value: computed once per distinct value for enums, days and
    columns that `from_row` turns (flags); serialized per row otherwise."""
    serialize = _serializer(gql_type)
    transform = ROW_VALUES.get(column)
    named = get_named_type(gql_type)
    if transform is not None or isinstance(named, GraphQLEnumType) or named.name == "Date":
        turn = transform or (lambda value: value)
        memo = _Memo(lambda value: serialize(turn(value)))
        return lambda row: memo[row[position]]
    return lambda row: serialize(row[position])


@dataclass
class ReadingExport:
    """The plan of one export over `meterReadings`, and what it has rendered of the objects
    the readings refer to (for the scope it was rendered with)."""

    filter: ReadingFilterIn | None
    top: _Top
    _scope_key: Any = None
    # type -> key -> errors of its fields
    _erring: dict[str, dict[int, list[str]]] = field(default_factory=lambda: defaultdict(dict))
    _ahead: tuple[Any, Any, list[Any]] | None = None  # (scope key, after, rows)

    # --- the runner's interface ----------------------------------------------------------

    async def total(self, context: Context) -> int:
        scope = await context.require_scope()
        stmt = reading_count(scope, self.filter, context.language)
        return int(await context.session.scalar(stmt) or 0)

    async def chunk(
        self, context: Context, after: tuple[date, int] | None
    ) -> tuple[bytes, int, list[str], tuple[date, int] | None]:
        """The lines of the next chunk after `after`, how many, the errors of its fields, and
        where the next chunk starts (None: this was the last).

        The following chunk is read (on a connection of its own) while this one is written,
        and kept for the next call, which reads it again if the owner's scope has changed
        since (the runner reads the scope again every heartbeat)."""
        scope = await context.require_scope()
        key = (scope.user_id, scope.global_permissions, scope.grants, scope.account_permissions)
        if key != self._scope_key:  # another scope sees other objects: render them again
            self._scope_key = key
            for rendered in self.top.rendered.values():
                rendered.clear()
            self._erring.clear()
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead[:2] == (key, after):
            rows = ahead[2]
        else:
            rows = await self._read(context, scope, after)
        last = rows[-1] if rows else None
        following = (
            (last.reading_date, last.id) if last is not None and len(rows) == CHUNK else None
        )
        await self._prepare(rows, context, scope)
        errors: list[str] = []
        if self._erring:
            for _, _, attribute, nested in self.top.relations:
                erring = self._erring.get(nested.type_name) or {}
                for row in rows:
                    errors += erring.get(getattr(row, attribute), ())
        task = (
            asyncio.ensure_future(self._read(context, scope, following))
            if following is not None
            else None
        )
        try:
            try:
                lines = await self._lines(rows)
            except (GraphQLError, TypeError, ValueError) as error:
                # a value the query would refuse (an Int beyond 32 bits): its error and nulls
                # are the GraphQL path's to write
                raise Unhandled(str(error)) from error
            if task is not None:
                self._ahead = (key, following, await task)
        finally:
            if task is not None and not task.done():
                task.cancel()
        return lines, len(rows), errors, following

    async def _lines(self, rows: list[Any]) -> bytes:
        """The rows' lines, written in slices between which the event loop runs (the next
        chunk's rows arrive meanwhile)."""
        pairs = self.top.pairs
        dumps = orjson.dumps
        parts: list[bytes] = []
        for start in range(0, len(rows), SLICE):
            parts.extend(
                dumps({k: get(row) for k, get in pairs}) + b"\n"
                for row in rows[start : start + SLICE]
            )
            await asyncio.sleep(0)
        return b"".join(parts)

    async def _read(
        self, context: Context, scope: Scope, after: tuple[date, int] | None
    ) -> list[Any]:
        """One chunk of rows, in a session of its own (plain rows, no ORM objects)."""
        stmt = reading_rows(
            scope, self.filter, context.language, after, CHUNK, columns=self.top.columns
        )
        async with context.services.sessionmaker() as session:
            connection = await session.connection()
            return list((await connection.execute(stmt)).all())

    # --- rendering ---------------------------------------------------------------------------

    async def _prepare(self, rows: list[Any], context: Context, scope: Scope) -> None:
        """Renders the related objects of these rows not rendered yet (through their loaders:
        concurrent loads of one loader are one statement)."""
        tasks: list[Awaitable[Any]] = []
        for _, loader, attribute, nested in self.top.relations:
            rendered = self.top.rendered[nested.type_name]
            wanted = {getattr(row, attribute) for row in rows} - {None} - rendered.keys()
            for pk in wanted:
                rendered[pk] = None  # claimed
                tasks.append(self._render_related(loader, nested, pk, context, scope))
        if tasks:
            await asyncio.gather(*tasks)

    async def _render_related(
        self, loader: Any, shape: _Shape, pk: int, context: Context, scope: Scope
    ) -> None:
        row = await context.loaders[loader].load(pk)
        if row is None:
            return
        errors: list[str] = []
        value = await self._render(shape, shape.origin.from_row(row), context, scope, errors)
        self.top.rendered[shape.type_name][pk] = value
        if errors:
            self._erring[shape.type_name][pk] = errors

    async def _render(
        self, shape: _Shape, obj: Any, context: Context, scope: Scope, errors: list[str]
    ) -> dict[str, Any]:
        rendered: dict[str, Any] = {}
        for spec in shape.fields:
            if spec.guard is not None and not _allowed(spec.guard, obj, scope):
                errors.append(_forbidden(spec.guard, context.language))
                rendered[spec.key] = None
            elif spec.relation is not None:
                loader, attribute, nested = spec.relation
                pk = _key(obj, attribute)
                row = await context.loaders[loader].load(pk) if pk is not None else None
                rendered[spec.key] = (
                    None
                    if row is None
                    else await self._render(
                        nested, nested.origin.from_row(row), context, scope, errors
                    )
                )
            elif spec.figure is not None:
                loader, attribute = spec.figure
                assert spec.read is not None
                rendered[spec.key] = spec.read(
                    await context.loaders[loader].load(_key(obj, attribute))
                )
            else:
                assert spec.read is not None
                rendered[spec.key] = spec.read(obj)
        return rendered


def plan(schema: PortalSchema, prepared: PreparedExport) -> ReadingExport | None:
    """The direct path for this export, or None when it is not one this module writes."""
    document = parse(prepared.document)
    if len(document.definitions) != 1:
        return None  # fragments
    operation = document.definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    [root] = operation.selection_set.selections
    if not isinstance(root, FieldNode) or root.name.value != ROOT_FIELD or root.directives:
        return None
    graphql_schema = schema._schema
    query_type = graphql_schema.query_type
    assert query_type is not None
    root_field = query_type.fields[ROOT_FIELD]
    if get_nullable_type(root_field.type).name != "MeterReadingConnection":
        return None
    container: FieldNode = root
    for key in prepared.nodes_path:
        assert container.selection_set is not None
        matches = [
            s
            for s in container.selection_set.selections
            if isinstance(s, FieldNode) and (s.alias or s.name).value == key
        ]
        if len(matches) != 1 or matches[0].directives:
            return None
        container = matches[0]
    try:
        assert container.selection_set is not None
        shape = _shape(graphql_schema, "MeterReading", container.selection_set)
        top = _top(shape, container.selection_set, graphql_schema)
    except Unhandled:
        return None
    # The arguments as written (the export's own `first`/`after` left out: it has no
    # variables of its own).
    given = FieldNode(
        name=root.name,
        arguments=tuple(a for a in root.arguments or () if a.name.value not in {"first", "after"}),
        directives=(),
    )
    values = get_argument_values(root_field, given)
    values = {k: v for k, v in values.items() if k not in {"first", "after"}}
    strawberry_field = root_field.extensions["strawberry-definition"]
    arguments = [a for a in strawberry_field.arguments if a.python_name not in {"first", "after"}]
    converted = convert_arguments(
        values, arguments, schema.schema_converter.scalar_registry, schema.config
    )
    return ReadingExport(reading_filter(converted.get("filter")), top)
