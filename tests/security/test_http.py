"""Attack suite, part 2: the HTTP transport. GraphQL-over-HTTP media types and status codes,
mutations never over GET, JSON bodies only, a body size limit, malformed JSON and variables,
batches, CORS. Each answered with a code in a JSON body, nothing executed, never a 500."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.conftest import ClientFactory, caller_statements
from tests.graphql import GraphQLClient

GRAPHQL_RESPONSE = "application/graphql-response+json"

QUERY_VIEWER = "query { viewer { authenticated } }"
QUERY_SYNTAX_ERROR = "query { viewer { authenticated }"
QUERY_UNKNOWN_FIELD = "query { nothingHere }"
QUERY_WITH_VARIABLE = "query Devices($first: Int) { devices(first: $first) { totalCount } }"
MUTATION_LOGIN = (
    'mutation { login(input: {email: "admin@acme.example", password: "x"}) '
    "{ userErrors { code } } }"
)


def _codes(response: httpx.Response) -> list[str]:
    return [e["extensions"]["code"] for e in response.json()["errors"]]


@pytest.fixture
async def token(http: httpx.AsyncClient) -> str:
    """A signed-in administrator's: what these tests ask is in its schema."""
    return await GraphQLClient(http).token_for("admin@acme.example")


async def _post(
    http: httpx.AsyncClient,
    query: str,
    variables: object = None,
    accept: str | None = None,
    token: str | None = None,
) -> httpx.Response:
    headers = {"Accept": accept} if accept else {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return await http.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )


async def test_graphql_response_json_when_accepted(http: httpx.AsyncClient) -> None:
    # when
    response = await _post(http, QUERY_VIEWER, accept=GRAPHQL_RESPONSE)
    # then
    assert response.status_code == 200
    assert response.headers["content-type"] == GRAPHQL_RESPONSE
    assert response.json()["data"] == {"viewer": {"authenticated": False}}
    assert response.headers["x-request-id"]


async def test_application_json_otherwise(http: httpx.AsyncClient) -> None:
    # when
    plain = await _post(http, QUERY_VIEWER)
    preferred = await _post(
        http, QUERY_VIEWER, accept=f"application/json, {GRAPHQL_RESPONSE};q=0.5"
    )
    # then
    assert plain.headers["content-type"] == "application/json"
    assert preferred.headers["content-type"] == "application/json"


async def test_parse_error_is_400_with_graphql_response_json_and_200_with_json(
    http: httpx.AsyncClient, statements: object
) -> None:
    # given
    statements.reset()  # type: ignore[attr-defined]
    # when
    spec = await _post(http, QUERY_SYNTAX_ERROR, accept=GRAPHQL_RESPONSE)
    legacy = await _post(http, QUERY_SYNTAX_ERROR)
    # then
    assert spec.status_code == 400
    assert "data" not in spec.json()
    assert _codes(spec) == ["GRAPHQL_PARSE_FAILED"]
    assert legacy.status_code == 200
    assert _codes(legacy) == ["GRAPHQL_PARSE_FAILED"]
    assert statements.count == 0  # type: ignore[attr-defined]


async def test_validation_error_is_400_with_graphql_response_json(
    http: httpx.AsyncClient, token: str
) -> None:
    # when
    spec = await _post(http, QUERY_UNKNOWN_FIELD, accept=GRAPHQL_RESPONSE, token=token)
    legacy = await _post(http, QUERY_UNKNOWN_FIELD, token=token)
    # then
    assert spec.status_code == 400
    assert _codes(spec) == ["GRAPHQL_VALIDATION_FAILED"]
    assert legacy.status_code == 200
    assert legacy.json()["data"] is None


async def test_variable_coercion_failure_is_bad_user_input(
    http: httpx.AsyncClient, statements: object, token: str
) -> None:
    # given
    before = await caller_statements(GraphQLClient(http), statements, token)  # type: ignore[arg-type]
    # when
    spec = await _post(
        http, QUERY_WITH_VARIABLE, {"first": "ten"}, accept=GRAPHQL_RESPONSE, token=token
    )
    legacy = await _post(http, QUERY_WITH_VARIABLE, {"first": "ten"}, token=token)
    # then
    assert spec.status_code == 400
    assert _codes(spec) == ["BAD_USER_INPUT"]
    assert legacy.status_code == 200
    assert _codes(legacy) == ["BAD_USER_INPUT"]
    assert statements.count <= 2 * before  # type: ignore[attr-defined]


async def test_field_errors_keep_200_and_data(http: httpx.AsyncClient) -> None:
    # when: contracts of devices the device-and-stock manager sees only through its stock
    # location (toner levels only) are FORBIDDEN; the errors have paths, execution started
    token = await GraphQLClient(http).token_for("devstock@acme.example")
    query = "{ devices(first: 100) { nodes { serialNumber contract { number } } } }"
    response = await _post(http, query, accept=GRAPHQL_RESPONSE, token=token)
    # then
    assert response.status_code == 200, response.json()
    assert response.json()["data"]["devices"]["nodes"]
    assert set(_codes(response)) == {"FORBIDDEN"}


async def test_mutation_over_get_is_405(http: httpx.AsyncClient, statements: object) -> None:
    # given
    statements.reset()  # type: ignore[attr-defined]
    # when
    response = await http.get("/graphql", params={"query": MUTATION_LOGIN})
    # then
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert _codes(response) == ["METHOD_NOT_ALLOWED"]
    assert statements.count == 0  # type: ignore[attr-defined]


async def test_query_over_get_works(http: httpx.AsyncClient) -> None:
    # when
    response = await http.get("/graphql", params={"query": QUERY_VIEWER})
    # then
    assert response.status_code == 200
    assert response.json()["data"] == {"viewer": {"authenticated": False}}


async def test_form_encoded_cross_site_post_is_415(
    http: httpx.AsyncClient, statements: object
) -> None:
    # given
    statements.reset()  # type: ignore[attr-defined]
    # when
    form = await http.post(
        "/graphql", data={"query": MUTATION_LOGIN}, headers={"Origin": "https://evil.example"}
    )
    multipart = await http.post("/graphql", files={"operations": ("o", MUTATION_LOGIN)})
    text = await http.post(
        "/graphql",
        content=json.dumps({"query": MUTATION_LOGIN}),
        headers={"Content-Type": "text/plain"},
    )
    missing = await http.post("/graphql", content=json.dumps({"query": MUTATION_LOGIN}))
    # then
    for response in (form, multipart, text, missing):
        assert response.status_code == 415
        assert _codes(response) == ["UNSUPPORTED_MEDIA_TYPE"]
    assert statements.count == 0  # type: ignore[attr-defined]


async def test_oversized_body_is_413(client_with: ClientFactory, statements: object) -> None:
    # given
    async with client_with(max_body_bytes=2000) as gql:
        statements.reset()  # type: ignore[attr-defined]
        # when
        declared = await gql.http.post(
            "/graphql", json={"query": QUERY_VIEWER, "variables": {"pad": "x" * 5000}}
        )

        async def chunks():  # no Content-Length: streamed, counted while reading
            for _ in range(10):
                yield b" " * 500

        streamed = await gql.http.post(
            "/graphql", content=chunks(), headers={"Content-Type": "application/json"}
        )
    # then
    assert declared.status_code == 413
    assert streamed.status_code == 413
    assert _codes(streamed) == ["PAYLOAD_TOO_LARGE"]
    assert statements.count == 0  # type: ignore[attr-defined]


async def test_malformed_json_and_variables_are_400(http: httpx.AsyncClient) -> None:
    # when
    broken = await http.post(
        "/graphql", content=b'{"query": "{ viewer', headers={"Content-Type": "application/json"}
    )
    variables = await http.post("/graphql", json={"query": QUERY_VIEWER, "variables": [1, 2]})
    query = await http.post("/graphql", json={"query": 42})
    not_an_object = await http.post("/graphql", json="query")
    empty = await http.post("/graphql", json={})
    # then
    for response in (broken, variables, query, not_an_object, empty):
        assert response.status_code == 400, response.text
        assert _codes(response) == ["BAD_REQUEST"]


async def test_batches_are_refused(http: httpx.AsyncClient, statements: object) -> None:
    # given
    statements.reset()  # type: ignore[attr-defined]
    # when
    response = await http.post("/graphql", json=[{"query": MUTATION_LOGIN}] * 10)
    # then
    assert response.status_code == 400
    assert _codes(response) == ["BAD_REQUEST"]
    assert statements.count == 0  # type: ignore[attr-defined]


async def test_cors_allows_configured_origins_only(client_with: ClientFactory) -> None:
    # given
    async with client_with(cors_origins=("https://portal.example",)) as gql:
        preflight = {
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        }
        # when
        allowed = await gql.http.options(
            "/graphql", headers={"Origin": "https://portal.example", **preflight}
        )
        refused = await gql.http.options(
            "/graphql", headers={"Origin": "https://evil.example", **preflight}
        )
        simple = await gql.http.post(
            "/graphql", json={"query": QUERY_VIEWER}, headers={"Origin": "https://portal.example"}
        )
    # then
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://portal.example"
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
    assert simple.headers["access-control-allow-origin"] == "https://portal.example"
    assert "x-ratelimit-remaining" in simple.headers["access-control-expose-headers"].lower()


async def test_subscription_over_http_is_refused(http: httpx.AsyncClient, token: str) -> None:
    # when
    response = await _post(http, "subscription { ticketUpdated { __typename } }", token=token)
    # then
    assert response.status_code == 200
    assert _codes(response) == ["BAD_USER_INPUT"]
    assert "WebSocket" in response.json()["errors"][0]["message"]
