"""`accounts` and `sites` with their nested lists: hierarchy, numbers, device counts, and
nested device connections that cost the same whatever the number of parents."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.ids import global_id
from models import Account
from tests.conftest import StatementCounter
from tests.graphql import GraphQLClient

ADMIN = "admin@acme.example"
AGENT = "agent@vendor.example"

QUERY_ACCOUNTS = """
query Accounts($filter: AccountFilter) {
  accounts(first: 10, filter: $filter) {
    totalCount
    nodes {
      id name customerAccountNumber systemAccountNumber deviceCount
      parent { name } children { name } descendants { name }
      sites { name } contracts { number }
      devices(first: 3) { totalCount nodes { serialNumber } pageInfo { hasNextPage } }
    }
  }
}
"""

QUERY_SITES = """
query Sites($first: Int, $after: String, $filter: SiteFilter) {
  sites(first: $first, after: $after, filter: $filter) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes {
      id name city deviceCount account { name }
      devices(first: 2, orderBy: {field: SERIAL, direction: DESC}) {
        totalCount pageInfo { hasNextPage } edges { cursor node { serialNumber } }
      }
    }
  }
}
"""

QUERY_SITE_DEVICES_AFTER = """
query SiteDevices($id: ID!, $after: String) {
  node(id: $id) { ... on Site {
    devices(first: 100, after: $after, orderBy: {field: SERIAL, direction: DESC}) {
      nodes { serialNumber }
    }
  } }
}
"""


async def test_group_admin_sees_the_hierarchy_numbers_and_device_counts(gql: GraphQLClient) -> None:
    # when
    result = await gql(QUERY_ACCOUNTS, as_user=ADMIN)
    # then
    assert not result.errors, result.errors
    accounts = {a["name"]: a for a in result.data["accounts"]["nodes"]}
    group = accounts["Acme Group"]
    assert group["parent"] is None
    assert {c["name"] for c in group["children"]} == {
        "Acme France",
        "Acme Italia",
        "Acme Deutschland",
    }
    assert {d["name"] for d in group["descendants"]} == {
        "Acme France",
        "Acme France Sud",
        "Acme Italia",
        "Acme Deutschland",
    }
    assert [d["name"] for d in accounts["Acme France"]["descendants"]] == ["Acme France Sud"]
    assert accounts["Acme France Sud"]["parent"]["name"] == "Acme France"
    assert group["customerAccountNumber"] == "C-100000"
    assert group["systemAccountNumber"] == "S-900000"
    for account in accounts.values():
        assert account["deviceCount"] == account["devices"]["totalCount"]
        assert len(account["devices"]["nodes"]) == min(3, account["deviceCount"])


async def test_subsidiary_admin_does_not_see_the_parent_in_descendants_or_parent(
    gql: GraphQLClient,
) -> None:
    # when
    result = await gql(QUERY_ACCOUNTS, as_user="admin.fr@acme.example")
    # then
    accounts = {a["name"]: a for a in result.data["accounts"]["nodes"]}
    assert set(accounts) == {"Acme France", "Acme France Sud"}
    assert accounts["Acme France"]["parent"] is None


async def test_agent_finds_an_account_by_either_number(gql: GraphQLClient) -> None:
    # when
    by_customer = await gql(
        QUERY_ACCOUNTS, {"filter": {"accountNumber": "C-200000"}}, as_user=AGENT
    )
    by_system = await gql(
        QUERY_ACCOUNTS, {"filter": {"accountNumber": " S-910000 "}}, as_user=AGENT
    )
    by_admin = await gql(QUERY_ACCOUNTS, {"filter": {"accountNumber": "C-200000"}}, as_user=ADMIN)
    # then
    assert [a["name"] for a in by_customer.data["accounts"]["nodes"]] == ["Globex Corporation"]
    assert [a["name"] for a in by_system.data["accounts"]["nodes"]] == ["Globex Corporation"]
    assert by_admin.data["accounts"]["nodes"] == []


async def test_accounts_with_nested_lists_cost_the_same_for_two_and_for_all_accounts(
    gql: GraphQLClient, statements: StatementCounter
) -> None:
    # given
    await gql.token_for(AGENT)
    # when
    one, one_count = await statements.of(
        gql(QUERY_ACCOUNTS, {"filter": {"search": "France"}}, as_user=AGENT)
    )
    everything, all_count = await statements.of(gql(QUERY_ACCOUNTS, as_user=AGENT))
    # then
    assert not one.errors and not everything.errors
    assert len(one.data["accounts"]["nodes"]) == 2
    assert len(everything.data["accounts"]["nodes"]) == 6
    assert one_count == all_count, statements.statements


async def test_sites_with_nested_device_pages_cost_the_same_for_2_and_12_sites(
    gql: GraphQLClient, statements: StatementCounter
) -> None:
    # given
    await gql.token_for(AGENT)
    # when
    few, few_count = await statements.of(gql(QUERY_SITES, {"first": 2}, as_user=AGENT))
    many, many_count = await statements.of(gql(QUERY_SITES, {"first": 12}, as_user=AGENT))
    # then
    assert not few.errors and not many.errors, (few.errors, many.errors)
    assert len(many.data["sites"]["nodes"]) == 12
    assert few_count == many_count, statements.statements
    for site in many.data["sites"]["nodes"]:
        devices = site["devices"]
        assert devices["totalCount"] == site["deviceCount"]
        serials = [e["node"]["serialNumber"] for e in devices["edges"]]
        assert serials == sorted(serials, reverse=True) and len(serials) == 2
        assert devices["pageInfo"]["hasNextPage"] is (site["deviceCount"] > 2)


async def test_a_nested_page_continues_from_its_cursor(gql: GraphQLClient) -> None:
    # given: the first two devices of a site, newest serial first
    sites = await gql(QUERY_SITES, {"first": 1}, as_user=AGENT)
    [site] = sites.data["sites"]["nodes"]
    cursor = site["devices"]["edges"][-1]["cursor"]
    # when
    rest = await gql(QUERY_SITE_DEVICES_AFTER, {"id": site["id"], "after": cursor}, as_user=AGENT)
    # then
    serials = [e["node"]["serialNumber"] for e in site["devices"]["edges"]] + [
        n["serialNumber"] for n in rest.data["node"]["devices"]["nodes"]
    ]
    assert len(serials) == site["deviceCount"] == len(set(serials))
    assert serials == sorted(serials, reverse=True)


async def test_sites_are_scoped_and_filtered(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given
    globex = await connection.scalar(select(Account.id).where(Account.name == "Globex Corporation"))
    france = await connection.scalar(select(Account.id).where(Account.name == "Acme France"))
    # when
    mine = await gql(QUERY_SITES, {"first": 100}, as_user=ADMIN)
    other = await gql(
        QUERY_SITES,
        {"first": 100, "filter": {"accountIds": [global_id("Account", globex)]}},
        as_user=ADMIN,
    )
    french = await gql(
        QUERY_SITES,
        {"first": 100, "filter": {"accountIds": [global_id("Account", france)]}},
        as_user=ADMIN,
    )
    italian = await gql(QUERY_SITES, {"first": 100, "filter": {"country": "it"}}, as_user=ADMIN)
    # then
    assert mine.data["sites"]["totalCount"] == 10
    assert not any("Globex" in s["name"] for s in mine.data["sites"]["nodes"])
    assert other.data["sites"]["nodes"] == []
    assert {s["account"]["name"] for s in french.data["sites"]["nodes"]} == {
        "Acme France",
        "Acme France Sud",
    }
    assert {s["city"] for s in italian.data["sites"]["nodes"]} == {"Milano", "Roma", "Torino"}


async def test_device_manager_sees_only_assigned_devices_in_site_and_account_lists(
    gql: GraphQLClient,
) -> None:
    # when
    result = await gql(QUERY_ACCOUNTS, as_user="devices@acme.example")
    sites = await gql(QUERY_SITES, {"first": 100}, as_user="devices@acme.example")
    # then
    [account] = result.data["accounts"]["nodes"]
    assert account["deviceCount"] == 5 == account["devices"]["totalCount"]
    assert sum(s["deviceCount"] for s in sites.data["sites"]["nodes"]) == 5
