"""Anonymous callers may sign in, register, confirm and accept invitations; every other root
field (found by introspection, so new ones are covered) answers UNAUTHENTICATED or nothing."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import GraphQLEnumType, Undefined, get_named_type, is_leaf_type, is_non_null_type

from schema.root import schema
from tests.graphql import GraphQLClient

GRAPHQL = schema._schema
# Root fields any caller may use, and what "public" returns for an anonymous one.
PUBLIC_QUERIES = {"viewer", "node", "nodes"}


def _selection(field: Any) -> str:
    named = get_named_type(field.type)
    return "" if is_leaf_type(named) else " { __typename }"


def _arguments(field: Any) -> str | None:
    """Values for required enum / scalar arguments, and a page size for lists."""
    given = ["first: 1"] if "first" in field.args else []
    for name, arg in field.args.items():
        if not (is_non_null_type(arg.type) and arg.default_value is Undefined):
            continue
        named = get_named_type(arg.type)
        if isinstance(named, GraphQLEnumType):
            given.append(f"{name}: {list(named.values)[-1]}")
        elif named.name in SCALAR_VALUES:
            given.append(f"{name}: {SCALAR_VALUES[named.name]}")
        else:
            return None
    return f"({', '.join(given)})" if given else ""


SCALAR_VALUES = {"Int": "1", "String": '"x"', "Boolean": "false", "ID": '"x"'}


def _root_queries() -> list[str]:
    return [
        name
        for name, field in GRAPHQL.query_type.fields.items()  # type: ignore[union-attr]
        if name not in PUBLIC_QUERIES and _arguments(field) is not None
    ]


@pytest.mark.parametrize("name", _root_queries())
async def test_anonymous_caller_reads_nothing(gql: GraphQLClient, name: str) -> None:
    # given
    field = GRAPHQL.query_type.fields[name]  # type: ignore[union-attr]
    # when
    result = await gql(f"query {{ {name}{_arguments(field)}{_selection(field)} }}")
    # then
    assert result.status == 200
    if result.errors:
        assert result.error_codes == ["UNAUTHENTICATED"], result.errors
    else:
        assert result.data[name] in (None, []), result.data


async def test_anonymous_viewer_is_empty(gql: GraphQLClient) -> None:
    # when
    result = await gql("query { viewer { authenticated user { id } memberships { role } } }")
    # then: and what a viewer holds is not even in the anonymous schema
    assert not result.errors
    assert result.data["viewer"] == {"authenticated": False, "user": None, "memberships": []}
    held = await gql("query { viewer { permissions } }")
    assert held.error_codes == ["UNAUTHENTICATED"]
