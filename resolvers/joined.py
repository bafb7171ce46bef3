"""Relations fetched with the page that lists their parents, straight into their loaders.

A dashboard page of 100 devices asks for each device's model, site, account, contract, stock
location and open-ticket count. Each relation's loader would batch its keys into one statement
of its own; joined here, the page's one statement brings them all and primes those loaders, so
the field resolvers find their values already loaded (no statement, no wait). The loader stays
the one place that says what a relation returns: a joined row is kept only where the loader's
own scope clause would return it, and only relations the query selects are joined.

The joins wrap the page (`SELECT ... FROM (the page, limited) LEFT JOIN ...`), so they run for
the rows of the page only, whatever the planner thinks of the filter's selectivity.

The page comes back as plain rows (`PlainRows`): each entity of a row (the parent, each joined
relation) is a named tuple of its table's columns, read by attribute as the ORM's object would be,
without the ORM's per-object work (identity map, instance state); nothing writes them.

A per-parent list (a device's latest readings) would multiply the page's rows if joined: it is
`Preloaded` instead, its loader's one batch for the page's parents run as soon as the page is
in, so that its field resolvers too find their values at hand rather than an awaitable each.
"""

from __future__ import annotations

import collections
import contextlib
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Select, and_

if TYPE_CHECKING:
    from auth.policy import Permission
    from resolvers.loaders import Loaders
    from resolvers.loaders.base import ByIdLoader
    from resolvers.scoping import Scope


class Joined(Protocol):
    """One relation that can ride along with the parents' page."""

    def joined(
        self, stmt: Select[Any], page: Any, scope: Scope, loaders: Loaders
    ) -> tuple[Select[Any], Any]:
        """`stmt` (which selects from `page`, the subquery of the page's rows, whose columns
        are the listed entity's) with what the relation needs joined, and the column (or
        entity) to select."""
        ...

    def prime(self, loaders: Loaders, parent: Any, value: Any) -> None:
        """Hands the selected value for one parent to the relation's loader."""
        ...


@dataclass(frozen=True)
class ToOne:
    """A to-one relation read by a by-id loader with the parent's foreign key: its model joined
    on that key and on the loader's own scope clause, so a row the loader would not return
    comes back as None."""

    loader: type[ByIdLoader[Any]]
    foreign_key: Any  # a mapped column of the parent's entity

    def joined(
        self, stmt: Select[Any], page: Any, scope: Scope, loaders: Loaders
    ) -> tuple[Select[Any], Any]:
        # `page.c` (the subquery's own columns), not an aliased entity's attributes: adapting
        # those costs more than the rest of the statement. The model is joined as itself: any
        # join of the same table that sorts the page is inside the subquery.
        model = self.loader.model
        condition = and_(
            model.id == page.c[self.foreign_key.key], loaders[self.loader].scope_clause(scope)
        )
        return stmt.outerjoin(model, condition), model

    def prime(self, loaders: Loaders, parent: Any, value: Any) -> None:
        key = getattr(parent, self.foreign_key.key)
        if key is not None:
            loaders[self.loader].prime(key, value)


@dataclass(frozen=True)
class Through:
    """A to-one relation of a to-one relation (a reading's device's site): its model joined on
    `foreign_key`, a column of the intermediate model as `ToOne` joins it (listed before this
    one, under the same parent), and on the loader's scope clause. Primed by the row's own id
    (a row the loader would not return is not primed: its loader reads it, and finds None)."""

    loader: type[ByIdLoader[Any]]
    foreign_key: Any  # a mapped column of the intermediate entity

    def joined(
        self, stmt: Select[Any], page: Any, scope: Scope, loaders: Loaders
    ) -> tuple[Select[Any], Any]:
        model = self.loader.model
        condition = and_(model.id == self.foreign_key, loaders[self.loader].scope_clause(scope))
        return stmt.outerjoin(model, condition), model

    def prime(self, loaders: Loaders, parent: Any, value: Any) -> None:
        if value is not None:
            loaders[self.loader].prime(value.id, value)


@dataclass(frozen=True)
class Computed:
    """A per-parent figure a loader computes by the parent's id (a count): a correlated scalar
    subquery built by `column(scope, page)`, which must say what the loader's statement says."""

    loader: type[Any]
    column: Callable[[Scope, Any], Any]

    def joined(
        self, stmt: Select[Any], page: Any, scope: Scope, loaders: Loaders
    ) -> tuple[Select[Any], Any]:
        return stmt, self.column(scope, page)

    def prime(self, loaders: Loaders, parent: Any, value: Any) -> None:
        loaders[self.loader].prime(parent.id, value)


# Per mapped class: its table's column keys, the index of its primary key among them, and what
# makes a row of those keys from a sequence of values.
_ROW_SHAPES: dict[Any, tuple[list[str], int, Callable[[Sequence[Any]], Any]]] = {}


def _row_shape(entity: Any) -> tuple[list[str], int, Callable[[Sequence[Any]], Any]]:
    shape = _ROW_SHAPES.get(entity)
    if shape is None:
        table = entity.__table__
        keys = [column.key for column in table.c]
        (pk,) = table.primary_key.columns
        shape = _ROW_SHAPES[entity] = (keys, keys.index(pk.key), _row_maker(entity, keys))
    return shape


def _row_maker(entity: Any, keys: list[str]) -> Callable[[Sequence[Any]], Any]:
    """A named tuple of `keys` that also has the model's own public methods
    (`Contract.is_active_on`), which read its columns as attributes (a named tuple's attributes
    are read in C, about ten times faster than a `Row`'s)."""
    methods = {
        name: value
        for klass in reversed(entity.__mro__)
        if not klass.__module__.startswith(("sqlalchemy", "builtins"))
        for name, value in vars(klass).items()
        if inspect.isfunction(value) and not name.startswith("_")
    }
    fields = collections.namedtuple(f"{entity.__name__}Fields", keys)  # type: ignore[misc]
    row_class = type(f"{entity.__name__}Row", (fields,), {"__slots__": (), **methods})
    make: Callable[[Sequence[Any]], Any] = row_class._make  # type: ignore[attr-defined]
    return make


class PlainRows:
    """What a statement selects, entities as their tables' columns: `columns` to select, and
    `rows` turns the flat rows back into one value per selected thing (an entity as a named
    tuple of its columns, None where an outer join found none; an expression as its value)."""

    def __init__(self) -> None:
        self.columns: list[Any] = []
        self._parts: list[tuple[int, int, Callable[[Sequence[Any]], Any] | None, int]] = []

    def add(self, selected: Any, source: Any = None) -> None:
        """An entity (its table's columns, or those of `source`, a subquery of its rows), or
        a column expression."""
        start = len(self.columns)
        if hasattr(selected, "__table__"):
            keys, pk, make = _row_shape(selected)
            table_columns = selected.__table__.c
            self.columns += [
                source.c[key] if source is not None else table_columns[key] for key in keys
            ]
            self._parts.append((start, len(self.columns), make, start + pk))
        else:
            self.columns.append(selected)
            self._parts.append((start, start + 1, None, start))

    def rows(self, flat: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
        parts = self._parts
        return [
            tuple(
                row[start] if make is None else (None if row[pk] is None else make(row[start:end]))
                for start, end, make, pk in parts
            )
            for row in flat
        ]


@dataclass(frozen=True)
class Preloaded:
    """A per-parent value its own loader reads by the parent's id in a statement of its own:
    loaded for the page's parents once the page is in (the one batch the field resolvers would
    have made, no more statements), for the parents on which `granted(scope, parent)` holds
    `requiring`, the permission the field's guard asks. The guard still decides what is shown:
    a parent left out here is only left to its resolver."""

    loader: type[Any]
    requiring: Permission | None = None
    granted: Callable[[Scope, Any], frozenset[Permission]] | None = None

    async def load(self, loaders: Loaders, scope: Scope, parents: Sequence[Any]) -> None:
        requiring, granted = self.requiring, self.granted
        keys = [
            parent.id
            for parent in parents
            if requiring is None or granted is None or requiring in granted(scope, parent)
        ]
        if keys:
            # The loader forgets keys whose batch failed: each field then loads again and
            # reports its own error, as it would have without this preload.
            with contextlib.suppress(Exception):
                await loaders[self.loader].load_many(keys)


@dataclass
class Ride:
    """The relations joined to one page: `extend` adds them to the statement that wraps the
    page, `prime` hands their values to the loaders once the page's rows are in; `preload`
    then runs the batches of the `preloaded` ones."""

    relations: list[Joined]
    scope: Scope
    loaders: Loaders
    preloaded: list[Preloaded] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.relations)

    def extend(self, stmt: Select[Any], page: Any, plain: PlainRows) -> Select[Any]:
        """`stmt` with the relations joined; what each selects is added to `plain`."""
        for relation in self.relations:
            stmt, column = relation.joined(stmt, page, self.scope, self.loaders)
            plain.add(column)
        return stmt

    def prime(self, rows: Sequence[Any]) -> None:
        """`rows` are (parent, ..., *one value per relation)."""
        n = len(self.relations)
        for row in rows:
            parent = row[0]
            for relation, value in zip(self.relations, row[-n:], strict=True):
                relation.prime(self.loaders, parent, value)

    async def preload(self, parents: Sequence[Any]) -> None:
        for preloaded in self.preloaded:
            await preloaded.load(self.loaders, self.scope, parents)


def selected_joins(
    relations: Mapping[str, Joined],
    selected: frozenset[str],
    scope: Scope,
    loaders: Loaders,
    preloaded: Mapping[str, Preloaded] | None = None,
) -> Ride:
    """The relations (by GraphQL field name) that the query selects."""
    chosen = [relation for name, relation in relations.items() if name in selected]
    loads = [load for name, load in (preloaded or {}).items() if name in selected]
    return Ride(relations=chosen, scope=scope, loaders=loaders, preloaded=loads)
