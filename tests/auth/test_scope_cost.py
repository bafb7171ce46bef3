"""The viewer's scope is computed once per request, in a fixed, small number of statements."""

from __future__ import annotations

import pytest

from tests.conftest import StatementCounter
from tests.graphql import GraphQLClient

QUERY_VIEWER = "query { viewer { permissions memberships { role } } }"
QUERY_TWICE = """
query {
  viewer { permissions }
  a: accounts(first: 5) { nodes { id } }
  b: accounts(first: 5) { nodes { id } }
}
"""


@pytest.mark.parametrize(
    ("email", "statements_at_most"),
    [
        ("agent@vendor.example", 1),  # the user row: agents hold global permissions
        ("admin@acme.example", 1),  # user, memberships and sub-accounts in one statement
        ("admin.fr@acme.example", 1),
        ("devices@acme.example", 2),  # user + memberships, assignments
        ("stock@acme.example", 2),
        ("devstock@acme.example", 2),
        ("kb@acme.example", 1),
        ("admin@globex.example", 1),
    ],
)
async def test_scope_costs_few_statements(
    gql: GraphQLClient, statements: StatementCounter, email: str, statements_at_most: int
) -> None:
    # given
    token = await gql.token_for(email)
    statements.reset()
    # when
    result = await gql(QUERY_VIEWER, token=token)
    # then
    assert not result.errors, result.errors
    assert statements.count <= statements_at_most, statements.statements


async def test_scope_is_computed_once_per_request(
    gql: GraphQLClient, statements: StatementCounter
) -> None:
    # given
    token = await gql.token_for("admin@acme.example")
    statements.reset()
    # when: three fields need the scope
    result = await gql(QUERY_TWICE, token=token)
    # then: scope (1) + one page query and one count per list at most
    assert not result.errors, result.errors
    assert statements.count <= 1 + 4, statements.statements
