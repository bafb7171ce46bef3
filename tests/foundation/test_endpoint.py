"""The served endpoint: health, readiness, GraphiQL, and a first scoped read end to end."""

from __future__ import annotations

import httpx

from tests.graphql import GraphQLClient

QUERY_DEVICES = """
query Devices($first: Int, $after: String) {
  devices(first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id serialNumber account { name } site { name timeZone } model { name } } }
  }
}
"""

QUERY_ACCOUNTS = """
query { accounts(first: 50) { totalCount nodes { name customerAccountNumber parent { name } } } }
"""


async def test_healthz_and_readyz(http: httpx.AsyncClient) -> None:
    # when
    health = await http.get("/healthz")
    ready = await http.get("/readyz")
    # then
    assert health.status_code == 200
    assert ready.status_code == 200


async def test_graphiql_is_served_on_get(http: httpx.AsyncClient) -> None:
    # when
    response = await http.get("/graphql", headers={"Accept": "text/html"})
    # then
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_anonymous_caller_cannot_list_devices(gql: GraphQLClient) -> None:
    # when
    result = await gql(QUERY_DEVICES, {"first": 5})
    # then
    assert result.data is None
    assert result.error_codes == ["UNAUTHENTICATED"]


async def test_agent_pages_through_all_devices(gql: GraphQLClient) -> None:
    # given
    seen: list[str] = []
    after = None
    # when
    while True:
        result = await gql(
            QUERY_DEVICES, {"first": 100, "after": after}, as_user="agent@vendor.example"
        )
        assert not result.errors, result.errors
        page = result.data["devices"]
        seen += [edge["node"]["serialNumber"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    # then
    assert page["totalCount"] == 200
    assert len(seen) == 200
    assert seen == sorted(seen)


async def test_group_admin_sees_group_accounts_only(gql: GraphQLClient) -> None:
    # when
    result = await gql(QUERY_ACCOUNTS, as_user="admin@acme.example")
    # then
    assert not result.errors
    names = {a["name"] for a in result.data["accounts"]["nodes"]}
    assert names == {
        "Acme Group",
        "Acme France",
        "Acme France Sud",
        "Acme Italia",
        "Acme Deutschland",
    }


async def test_subsidiary_admin_does_not_see_the_group_or_siblings(gql: GraphQLClient) -> None:
    # when
    result = await gql(QUERY_ACCOUNTS, as_user="admin.fr@acme.example")
    # then
    names = {a["name"] for a in result.data["accounts"]["nodes"]}
    assert names == {"Acme France", "Acme France Sud"}
    france = next(a for a in result.data["accounts"]["nodes"] if a["name"] == "Acme France")
    assert france["parent"] is None  # the group exists, but not for this viewer
