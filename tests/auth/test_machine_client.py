"""A machine client (e-Maintenance) holds exactly what its scopes name: no person, no account,
no device list, and the permissions of `auth.policy.CLIENT_SCOPES`."""

from __future__ import annotations

from typing import Any

from auth.policy import client_permissions
from tests.graphql import GraphQLClient

QUERY_CLIENT_TOKEN = """
mutation($input: ClientTokenInput!) {
  clientToken(input: $input) { accessToken userErrors { code } }
}
"""

QUERY_VIEW = """
query {
  viewer { authenticated user { id } memberships { role } permissions }
}
"""


async def _client_token(gql: GraphQLClient, secret: str = "demo-client-secret") -> Any:
    result = await gql(
        QUERY_CLIENT_TOKEN, {"input": {"clientId": "emaintenance-demo", "clientSecret": secret}}
    )
    return result.data["clientToken"]


async def test_machine_client_holds_only_its_scopes(gql: GraphQLClient) -> None:
    # given
    token = (await _client_token(gql))["accessToken"]
    # when
    result = await gql(QUERY_VIEW, token=token)
    # then
    assert not result.errors, result.errors
    viewer = result.data["viewer"]
    assert viewer["authenticated"] is True
    assert viewer["user"] is None and viewer["memberships"] == []
    expected = client_permissions(["meter_readings:report", "toner_levels:report"])
    assert sorted(viewer["permissions"]) == sorted(p.value for p in expected)
    # and what its scopes never reach is not in its schema
    for query in (
        "{ accounts(first: 10) { totalCount } }",
        "{ devices(first: 10) { totalCount } }",
    ):
        outside = await gql(query, token=token)
        assert outside.data is None
        assert outside.error_codes == ["GRAPHQL_VALIDATION_FAILED"]


async def test_wrong_client_secret_gets_no_token(gql: GraphQLClient) -> None:
    # when
    payload = await _client_token(gql, "wrong-secret")
    # then
    assert payload == {"accessToken": None, "userErrors": [{"code": "INVALID_CLIENT"}]}


async def test_an_overlong_client_id_is_refused_like_a_wrong_one(gql: GraphQLClient) -> None:
    # given: a client id longer than a stored throttle key may be (found by the fuzzer on
    # PostgreSQL: INTERNAL, value too long)
    client_id = "x" * 400
    # when
    result = await gql(
        QUERY_CLIENT_TOKEN, {"input": {"clientId": client_id, "clientSecret": "\u200b"}}
    )
    # then
    assert not result.errors, result.errors
    assert result.data["clientToken"] == {
        "accessToken": None,
        "userErrors": [{"code": "INVALID_CLIENT"}],
    }
