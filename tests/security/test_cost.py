"""Query cost: computed before execution (variables resolved, nested connections multiply),
refused over the maximum before any SQL, and reported in every response."""

from __future__ import annotations

from tests.conftest import ClientFactory, caller_statements
from tests.graphql import GraphQLClient
from tests.queries import QUERY_DASHBOARD

ADMIN = "admin@acme.example"

QUERY_NESTED = """
query Nested($accounts: Int!, $devices: Int!) {
  accounts(first: $accounts) { nodes { name devices(first: $devices) { nodes { serialNumber } } } }
}
"""

QUERY_VIEWER = "query { viewer { authenticated } }"

QUERY_TOTAL = "query { devices(first: 5) { totalCount pageInfo { hasNextPage } } }"

QUERY_NESTED_WITHOUT_FIRST = """
query { accounts(first: 5) { nodes { name devices { nodes { serialNumber } } } } }
"""

QUERY_HUGE_FIRST = "query Huge($n: Int!) { devices(first: $n) { nodes { serialNumber } } }"

QUERY_NODES = "query Nodes($ids: [ID!]!) { nodes(ids: $ids) { id } }"

QUERY_SKIPPED = """
query Skipped($skip: Boolean!) {
  accounts(first: 10) { nodes { name devices(first: 100) @skip(if: $skip) { nodes { serialNumber } } } }
}
"""


def cost(result: object) -> dict[str, object]:
    return result.body["extensions"]["cost"]  # type: ignore[attr-defined,no-any-return]


async def test_every_response_carries_the_cost(gql: GraphQLClient) -> None:
    # when
    result = await gql(QUERY_VIEWER)
    # then
    assert not result.errors
    assert cost(result) == {
        "requestedQueryCost": 1,
        "actualQueryCost": 1,
        "throttleStatus": {
            "maximumAvailable": 10000,
            "currentlyAvailable": 9999,
            "restoreRate": 500,
        },
    }
    assert result.headers["x-ratelimit-limit"] == "10000"


async def test_nested_connections_multiply_with_variables_resolved(gql: GraphQLClient) -> None:
    # when
    result = await gql(QUERY_NESTED, {"accounts": 10, "devices": 50}, as_user=ADMIN)
    # then: 2 + 10 x (account 1 + devices 2 + 50 x device 1)
    assert not result.errors, result.errors
    assert cost(result)["requestedQueryCost"] == 532
    accounts = result.data["accounts"]["nodes"]
    returned = sum(1 + 2 + len(a["devices"]["nodes"]) for a in accounts) + 2
    assert cost(result)["actualQueryCost"] == returned < 532


async def test_a_count_costs_one_and_page_info_nothing(gql: GraphQLClient) -> None:
    # when
    result = await gql(QUERY_TOTAL, as_user=ADMIN)
    # then
    assert cost(result)["requestedQueryCost"] == 3


async def test_query_over_the_maximum_is_refused_before_any_sql(
    gql: GraphQLClient, statements: object
) -> None:
    # given
    token = await gql.token_for(ADMIN)
    before = await caller_statements(gql, statements, token)  # type: ignore[arg-type]
    # when: 2 + 50 x (1 + 2 + 100)
    result = await gql(QUERY_NESTED, {"accounts": 50, "devices": 100}, token=token)
    # then
    assert result.status == 200
    assert result.data is None
    assert result.error_codes == ["MAX_COST_EXCEEDED"]
    assert result.errors[0]["extensions"]["cost"] == 5152
    assert result.errors[0]["extensions"]["maximumCost"] == 2500
    assert cost(result)["requestedQueryCost"] == 5152
    assert cost(result)["actualQueryCost"] == 0
    assert statements.count <= before  # type: ignore[attr-defined]


async def test_the_maximum_is_a_setting(client_with: ClientFactory) -> None:
    # given
    async with client_with(max_query_cost=100) as gql:
        # when
        result = await gql(QUERY_NESTED, {"accounts": 10, "devices": 50}, as_user=ADMIN)
    # then
    assert result.error_codes == ["MAX_COST_EXCEEDED"]


async def test_skipped_fields_cost_nothing(gql: GraphQLClient) -> None:
    # when
    skipped = await gql(QUERY_SKIPPED, {"skip": True}, as_user=ADMIN)
    kept = await gql(QUERY_SKIPPED, {"skip": False}, as_user=ADMIN)
    # then
    assert cost(skipped)["requestedQueryCost"] == 2 + 10
    assert cost(kept)["requestedQueryCost"] == 2 + 10 * (1 + 2 + 100)


async def test_huge_first_is_refused_before_any_sql(gql: GraphQLClient, statements: object) -> None:
    # given
    token = await gql.token_for(ADMIN)
    before = await caller_statements(gql, statements, token)  # type: ignore[arg-type]
    # when
    result = await gql(QUERY_HUGE_FIRST, {"n": 1_000_000}, token=token)
    negative = await gql(QUERY_HUGE_FIRST, {"n": -1}, token=token)
    before *= 2  # two requests
    # then
    assert result.error_codes == ["BAD_USER_INPUT"]
    assert "between 0 and 100" in result.errors[0]["message"]
    assert negative.error_codes == ["BAD_USER_INPUT"]
    assert statements.count <= before  # type: ignore[attr-defined]


async def test_a_connection_inside_a_list_needs_a_page_size(
    gql: GraphQLClient, statements: object
) -> None:
    # given
    token = await gql.token_for(ADMIN)
    before = await caller_statements(gql, statements, token)  # type: ignore[arg-type]
    # when
    result = await gql(QUERY_NESTED_WITHOUT_FIRST, token=token)
    # then
    assert result.error_codes == ["BAD_USER_INPUT"]
    assert "Account.devices" in result.errors[0]["message"]
    assert statements.count <= before  # type: ignore[attr-defined]


async def test_list_inputs_are_capped(gql: GraphQLClient, statements: object) -> None:
    # given
    token = await gql.token_for(ADMIN)
    before = await caller_statements(gql, statements, token)  # type: ignore[arg-type]
    # when
    result = await gql(QUERY_NODES, {"ids": [f"x{i}" for i in range(101)]}, token=token)
    # then
    assert result.error_codes == ["BAD_USER_INPUT"]
    assert "at most 100" in result.errors[0]["message"]
    assert statements.count <= before  # type: ignore[attr-defined]


async def test_cost_messages_follow_the_language(gql: GraphQLClient) -> None:
    # when
    result = await gql(
        QUERY_NESTED,
        {"accounts": 50, "devices": 100},
        as_user=ADMIN,
        headers={"Accept-Language": "fr"},
    )
    # then
    assert (
        result.errors[0]["message"] == "Cette requête coûterait 5152 points ; le maximum est 2500."
    )


QUERY_FIRST_DEVICE = "query { devices(first: 1) { nodes { id account { id } } } }"

QUERY_MIXED_NODES = """
query Mixed($ids: [ID!]!) {
  nodes(ids: $ids) { ... on Device { serialNumber account { name } } ... on Account { name } }
}
"""


async def test_abstract_lists_cost_their_costliest_type(gql: GraphQLClient) -> None:
    # given
    first = await gql(QUERY_FIRST_DEVICE, as_user=ADMIN)
    device = first.data["devices"]["nodes"][0]
    # when
    result = await gql(
        QUERY_MIXED_NODES, {"ids": [device["id"], device["account"]["id"]]}, as_user=ADMIN
    )
    # then: 2 ids x (node 1 + Device.account 1); returned: device 2, account 1
    assert not result.errors, result.errors
    assert cost(result)["requestedQueryCost"] == 4
    assert cost(result)["actualQueryCost"] == 3


async def test_the_portals_own_dashboard_fits_the_default_limits(gql: GraphQLClient) -> None:
    # when: the fleet screen's query (issue 4) for a full page, with the default settings
    result = await gql(QUERY_DASHBOARD, as_user="admin@acme.example")
    # then
    assert not result.errors, result.errors
    assert len(result.data["devices"]["edges"]) == 100
    requested = cost(result)["requestedQueryCost"]
    assert requested <= 2500
    assert requested <= cost(result)["throttleStatus"]["maximumAvailable"] / 4
