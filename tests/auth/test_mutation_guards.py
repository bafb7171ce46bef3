"""Every guarded mutation (found by introspection) refuses each demo user who holds its
permission nowhere, with FORBIDDEN and before anything is looked up or written."""

from __future__ import annotations

import re
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
from strawberry.types.base import StrawberryObjectDefinition

from auth.policy import Permission
from auth.requirements import Audience, Requirement
from schema.permissions import REQUIREMENT, requirement_of
from schema.root import schema
from tests.audiences import held_anywhere
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


def _mutations() -> list[tuple[str, Requirement, bool]]:
    """Every mutation: its GraphQL name, what it declared, and whether it declared it (rather
    than defaulting to PUBLIC)."""
    definition = GRAPHQL.mutation_type.extensions["strawberry-definition"]  # type: ignore[union-attr]
    assert isinstance(definition, StrawberryObjectDefinition)
    return [
        (
            schema.config.name_converter.get_graphql_name(field),
            requirement_of(field),
            REQUIREMENT in (field.metadata or {}),
        )
        for field in definition.fields
    ]


def _guarded_mutations() -> list[tuple[str, Requirement]]:
    return [(name, needs) for name, needs, _ in _mutations() if needs.any_of]


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


_held_anywhere = held_anywhere  # from the demo users' roles and the policy table


CASES = [
    (email, name, needs)
    for name, needs in _guarded_mutations()
    for email in USERS
    if not needs.met_by(_held_anywhere(email))
]


@pytest.fixture
async def world(connection: Any) -> World:
    return await load_world(connection)


@pytest.mark.parametrize("email", USERS)
async def test_held_anywhere_agrees_with_the_database(world: World, email: str) -> None:
    assert world.expected(email).anywhere() == _held_anywhere(email)


def test_there_are_guarded_mutations() -> None:
    assert CASES


def test_every_mutation_declares_what_it_requires_in_one_style() -> None:
    undeclared = [name for name, _, declared in _mutations() if not declared]
    assert undeclared == [], "declare them with schema.permissions.mutation(...)"
    unsaid = [
        name
        for name, needs, _ in _mutations()
        if not (GRAPHQL.mutation_type.fields[name].description or "").endswith(needs.text())  # type: ignore[union-attr]
    ]
    assert unsaid == []


def assert_suggests_only_what_the_caller_may_see(result: Any, held: frozenset[Permission]) -> None:
    """Like any unknown name, the answer may suggest names, but only of the caller's own schema."""
    own = schema.for_audience(Audience(held, signed_in=True, person=True))._schema
    mutations = own.mutation_type.fields if own.mutation_type else {}
    for error in result.errors:
        _, _, suggested = error["message"].partition("Did you mean")
        for name in re.findall(r"'([^']+)'", suggested):
            assert own.get_type(name) is not None or name in mutations, (name, error)


def _operation_or_fail(mutation: str) -> tuple[str, dict[str, Any]]:
    try:
        return _operation(mutation)
    except Unsupported as error:
        pytest.fail(f"add a value for input scalar {error} to SCALARS")


@pytest.mark.parametrize(("email", "mutation", "needs"), CASES)
async def test_a_mutation_is_not_in_the_schema_of_who_holds_its_permission_nowhere(
    gql: GraphQLClient, email: str, mutation: str, needs: Requirement
) -> None:
    # given
    query, variables = _operation_or_fail(mutation)
    # when
    result = await gql(query, variables, as_user=email)
    # then: refused as an unknown field would be, before anything runs
    assert result.data is None
    assert set(result.error_codes) == {"GRAPHQL_VALIDATION_FAILED"}, result.errors
    assert_suggests_only_what_the_caller_may_see(result, _held_anywhere(email))


@pytest.mark.parametrize(("email", "mutation", "needs"), CASES)
async def test_the_field_guard_still_refuses_when_the_schema_would_let_it_through(
    gql: GraphQLClient,
    monkeypatch: pytest.MonkeyPatch,
    email: str,
    mutation: str,
    needs: Requirement,
) -> None:
    # given: every caller gets the full schema (as a stale audience would)
    monkeypatch.setattr(schema, "for_audience", lambda audience: schema)
    query, variables = _operation_or_fail(mutation)
    # when
    result = await gql(query, variables, as_user=email)
    # then: the declaration is checked when the mutation runs, before anything is looked up
    assert result.error_codes == ["FORBIDDEN"], result.errors
    assert result.errors[0]["path"] == [mutation]
