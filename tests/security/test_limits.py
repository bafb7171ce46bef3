"""Attack suite, part 1: deep and wide queries, alias and directive floods, fragment cycles,
oversized documents, batched sign-in guesses. Each is refused before execution (no SQL), with
a code, never a 500."""

from __future__ import annotations

from tests.conftest import ClientFactory, caller_statements
from tests.graphql import GraphQLClient

ADMIN = "admin@acme.example"

QUERY_DEEP = (
    'query { node(id: "x") { ... on Device { account { parent { parent { parent { parent {'
    " parent { parent { parent { parent { parent { parent { parent { parent { parent { parent {"
    " name } } } } } } } } } } } } } } } } } }"
)

QUERY_ALIASES = "query { " + " ".join(f"a{i}: viewer {{ authenticated }}" for i in range(31)) + " }"

QUERY_DIRECTIVES = (
    "query { viewer { "
    + " ".join(f"f{i}: authenticated @include(if: true)" for i in range(29))
    + " } }"
)

QUERY_FRAGMENT_CYCLE = """
query { viewer { ...A } }
fragment A on Viewer { authenticated ...B }
fragment B on Viewer { authenticated ...A }
"""

QUERY_WIDE = "query { viewer { " + " ".join(["authenticated"] * 6000) + " } }"

MUTATION_LOGIN_GUESSES = (
    "mutation { "
    + " ".join(
        f'g{i}: login(input: {{email: "admin@acme.example", password: "guess-{i}"}}) '
        "{ accessToken userErrors { code } }"
        for i in range(5)
    )
    + " }"
)

MUTATION_LOGIN_VIA_FRAGMENTS = """
mutation { ...Guess }
fragment Guess on Mutation {
  a: login(input: {email: "admin@acme.example", password: "one"}) { accessToken }
  b: login(input: {email: "admin@acme.example", password: "two"}) { accessToken }
}
"""

QUERY_SCHEMA = "query { __schema { queryType { name } } }"

QUERY_TYPO = "query { viewr { authenticated } }"


async def _refused(
    gql: GraphQLClient, statements: object, query: str, token: str | None = None
) -> list[str | None]:
    before = 0 if token is None else await caller_statements(gql, statements, token)  # type: ignore[arg-type]
    statements.reset()  # type: ignore[attr-defined]
    result = await gql(query, token=token)
    assert result.status == 200
    assert result.data is None
    assert statements.count <= before  # type: ignore[attr-defined]
    return result.error_codes


async def test_deep_query_is_refused(gql: GraphQLClient, statements: object) -> None:
    # when
    codes = await _refused(gql, statements, QUERY_DEEP, await gql.token_for(ADMIN))
    # then
    assert codes == ["GRAPHQL_VALIDATION_FAILED"]


async def test_alias_flood_is_refused(gql: GraphQLClient, statements: object) -> None:
    # when
    codes = await _refused(gql, statements, QUERY_ALIASES)
    # then
    assert codes == ["GRAPHQL_VALIDATION_FAILED"]


async def test_directive_flood_is_refused(client_with: ClientFactory, statements: object) -> None:
    # given
    async with client_with(max_directives=20) as gql:
        # when
        codes = await _refused(gql, statements, QUERY_DIRECTIVES)
    # then
    assert codes == ["GRAPHQL_VALIDATION_FAILED"]


async def test_fragment_cycle_is_refused(gql: GraphQLClient, statements: object) -> None:
    # when
    codes = await _refused(gql, statements, QUERY_FRAGMENT_CYCLE)
    # then
    assert set(codes) == {"GRAPHQL_VALIDATION_FAILED"}


async def test_too_many_tokens_is_refused_while_parsing(
    gql: GraphQLClient, statements: object
) -> None:
    # when
    codes = await _refused(gql, statements, QUERY_WIDE)
    # then
    assert codes == ["GRAPHQL_PARSE_FAILED"]


async def test_batched_login_guesses_are_refused(gql: GraphQLClient, statements: object) -> None:
    # when
    aliased = await _refused(gql, statements, MUTATION_LOGIN_GUESSES)
    fragments = await _refused(gql, statements, MUTATION_LOGIN_VIA_FRAGMENTS)
    # then
    assert aliased == ["GRAPHQL_VALIDATION_FAILED"]
    assert fragments == ["GRAPHQL_VALIDATION_FAILED"]


async def test_introspection_is_on_in_development(gql: GraphQLClient) -> None:
    # when
    result = await gql(QUERY_SCHEMA)
    # then
    assert result.data == {"__schema": {"queryType": {"name": "Query"}}}


async def test_introspection_in_production_needs_a_signed_in_user(
    client_with: ClientFactory, statements: object
) -> None:
    # given
    async with client_with(environment="production") as gql:
        token = await gql.token_for(ADMIN)
        # when
        anonymous = await _refused(gql, statements, QUERY_SCHEMA)
        signed_in = await gql(QUERY_SCHEMA, token=token)
    # then
    assert set(anonymous) == {"GRAPHQL_VALIDATION_FAILED"}
    assert signed_in.data == {"__schema": {"queryType": {"name": "Query"}}}


async def test_introspection_can_be_switched_off(client_with: ClientFactory) -> None:
    # given
    async with client_with(graphql_introspection="off") as gql:
        token = await gql.token_for(ADMIN)
        # when
        result = await gql(QUERY_SCHEMA, token=token)
        ide = await gql.http.get("/graphql", headers={"Accept": "text/html"})
    # then
    assert set(result.error_codes) == {"GRAPHQL_VALIDATION_FAILED"}
    assert ide.status_code == 404


async def test_no_field_suggestions_where_introspection_is_off(
    client_with: ClientFactory, gql: GraphQLClient
) -> None:
    # given
    async with client_with(graphql_introspection="off") as production:
        # when
        hidden = await production(QUERY_TYPO, as_user=ADMIN)
    shown = await gql(QUERY_TYPO, as_user=ADMIN)
    # then
    assert "Did you mean" not in hidden.errors[0]["message"]
    assert "Cannot query field 'viewr'" in hidden.errors[0]["message"]
    assert "Did you mean" in shown.errors[0]["message"]
