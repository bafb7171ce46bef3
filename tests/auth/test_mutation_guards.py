"""Every guarded mutation (found by introspection) refuses each demo user who holds its
permission nowhere, with FORBIDDEN and before anything is looked up or written."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    Undefined,
)
from strawberry import relay
from strawberry.permission import PermissionExtension
from strawberry.types.base import StrawberryObjectDefinition

from auth.policy import AGENT_PERMISSIONS, Permission, role_permissions
from demo.fleet import DEMO_USERS
from schema.permissions import Requires
from schema.root import schema
from tests.auth.oracle import World, load_world
from tests.auth.test_policy_matrix import USERS
from tests.graphql import GraphQLClient

GRAPHQL = schema._schema
SCALARS: dict[str, Any] = {
    "String": "x",
    "Int": 1,
    "Float": 1.0,
    "Boolean": False,
    "ID": str(relay.GlobalID("Device", "1")),
    "Date": "2026-01-05",
    "DateTime": "2026-01-05T10:00:00+00:00",
    "Decimal": "1",
    "Time": "10:00:00",
}


class Unsupported(Exception):
    pass


def _value(graphql_type: Any) -> Any:
    """A well-typed value for an input type (required fields only)."""
    if isinstance(graphql_type, GraphQLNonNull):
        return _value(graphql_type.of_type)
    if isinstance(graphql_type, GraphQLList):
        return [_value(graphql_type.of_type)]
    if isinstance(graphql_type, GraphQLEnumType):
        return next(iter(graphql_type.values))
    if isinstance(graphql_type, GraphQLScalarType):
        if graphql_type.name not in SCALARS:
            raise Unsupported(graphql_type.name)
        return SCALARS[graphql_type.name]
    if isinstance(graphql_type, GraphQLInputObjectType):
        return {
            name: _value(field.type)
            for name, field in graphql_type.fields.items()
            if isinstance(field.type, GraphQLNonNull) and field.default_value is Undefined
        }
    raise Unsupported(str(graphql_type))


def _guarded_mutations() -> list[tuple[str, Permission]]:
    definition = GRAPHQL.mutation_type.extensions["strawberry-definition"]  # type: ignore[union-attr]
    assert isinstance(definition, StrawberryObjectDefinition)
    found = []
    for field in definition.fields:
        for extension in field.extensions:
            if isinstance(extension, PermissionExtension):
                for permission in extension.permissions:
                    if isinstance(permission, Requires):
                        name = schema.config.name_converter.get_graphql_name(field)
                        found.append((name, permission.permission))
    return found


def _operation(name: str) -> tuple[str, dict[str, Any]]:
    field = GRAPHQL.mutation_type.fields[name]  # type: ignore[union-attr]
    declared, passed, variables = [], [], {}
    for arg_name, arg in field.args.items():
        if isinstance(arg.type, GraphQLNonNull) and arg.default_value is Undefined:
            declared.append(f"${arg_name}: {arg.type}")
            passed.append(f"{arg_name}: ${arg_name}")
            variables[arg_name] = _value(arg.type)
    head = f"({', '.join(declared)})" if declared else ""
    args = f"({', '.join(passed)})" if passed else ""
    return f"mutation{head} {{ {name}{args} {{ __typename }} }}", variables


def _held_anywhere(email: str) -> frozenset[Permission]:
    """From the demo users' roles and the policy table (a role's permissions reach its
    account and, for administrators, the sub-accounts: the same set)."""
    for demo_email, _, _, agent, memberships in DEMO_USERS:
        if demo_email == email:
            if agent:
                return AGENT_PERMISSIONS
            held: frozenset[Permission] = frozenset()
            for _, role in memberships:
                held |= role_permissions(role)
            return held
    raise KeyError(email)


CASES = [
    (email, name, perm)
    for name, perm in _guarded_mutations()
    for email in USERS
    if perm not in _held_anywhere(email)
]


@pytest.fixture
async def world(connection: Any) -> World:
    return await load_world(connection)


@pytest.mark.parametrize("email", USERS)
async def test_held_anywhere_agrees_with_the_database(world: World, email: str) -> None:
    assert world.expected(email).anywhere() == _held_anywhere(email)


def test_there_are_guarded_mutations() -> None:
    assert CASES


@pytest.mark.parametrize(("email", "mutation", "permission"), CASES)
async def test_guarded_mutation_refuses_who_holds_its_permission_nowhere(
    gql: GraphQLClient, email: str, mutation: str, permission: Permission
) -> None:
    # given
    try:
        query, variables = _operation(mutation)
    except Unsupported as error:
        pytest.fail(f"add a value for input scalar {error} to SCALARS")
    # when
    result = await gql(query, variables, as_user=email)
    # then
    assert result.error_codes == ["FORBIDDEN"], result.errors
    assert result.errors[0]["path"] == [mutation]
