"""What a query selects below the field being resolved, so a list can fetch, with its page, the
relations its items will be asked for (`resolvers.joined`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField

from schema.context import Info


def _fields(selections: Iterable[Any]) -> Iterator[SelectedField]:
    """The fields of a selection set, fragments (named or inline) opened."""
    for selection in selections:
        if isinstance(selection, SelectedField):
            yield selection
        elif isinstance(selection, FragmentSpread | InlineFragment):
            yield from _fields(selection.selections)


def connection_node_fields(info: Info) -> frozenset[str]:
    """Names of the fields selected on the nodes of the connection being resolved, under
    `edges { node { ... } }` and `nodes { ... }`. A field skipped by a directive may be listed:
    what is listed is fetched ahead, never returned unasked."""
    names: set[str] = set()
    for connection in info.selected_fields:
        for part in _fields(connection.selections):
            if part.name == "nodes":
                names.update(f.name for f in _fields(part.selections))
            elif part.name == "edges":
                for edge_field in _fields(part.selections):
                    if edge_field.name == "node":
                        names.update(f.name for f in _fields(edge_field.selections))
    return frozenset(names)


def _paths(fields: Iterable[SelectedField], prefix: str, depth: int) -> Iterator[str]:
    for selected in fields:
        path = f"{prefix}{selected.name}"
        yield path
        if depth > 1 and selected.selections:
            yield from _paths(_fields(selected.selections), f"{path}.", depth - 1)


def connection_node_paths(info: Info, depth: int = 2) -> frozenset[str]:
    """Like `connection_node_fields`, with the fields selected below them too, as dotted
    paths (`device`, `device.site`), down to `depth` levels."""
    paths: set[str] = set()
    for connection in info.selected_fields:
        for part in _fields(connection.selections):
            if part.name == "nodes":
                paths.update(_paths(_fields(part.selections), "", depth))
            elif part.name == "edges":
                for edge_field in _fields(part.selections):
                    if edge_field.name == "node":
                        paths.update(_paths(_fields(edge_field.selections), "", depth))
    return frozenset(paths)
