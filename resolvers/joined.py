"""Relations fetched with the page that lists their parents, straight into their loaders.

A dashboard page of 100 devices asks for each device's model, site, account, contract, stock
location and open-ticket count. Each relation's loader would batch its keys into one statement
of its own; joined here, the page's one statement brings them all and primes those loaders, so
the field resolvers find their values already loaded (no statement, no wait). The loader stays
the one place that says what a relation returns: a joined row is kept only where the loader's
own scope clause would return it, and only relations the query selects are joined.

The joins wrap the page (`SELECT ... FROM (the page, limited) LEFT JOIN ...`), so they run for
the rows of the page only, whatever the planner thinks of the filter's selectivity.

A per-parent list (a device's latest readings) would multiply the page's rows if joined: it is
`Preloaded` instead, its loader's one batch for the page's parents run as soon as the page is
in, so that its field resolvers too find their values at hand rather than an awaitable each.
"""

from __future__ import annotations

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

    def extend(self, stmt: Select[Any], page: Any) -> Select[Any]:
        columns = []
        for relation in self.relations:
            stmt, column = relation.joined(stmt, page, self.scope, self.loaders)
            columns.append(column)
        return stmt.add_columns(*columns)

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
