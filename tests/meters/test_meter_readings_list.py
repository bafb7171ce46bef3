"""The `meterReadings` list: scoped per demo role as each device's own `meterReadings` is,
keyset pages in (reading day, id) order, its filters, and one statement per page whatever the
page size and the relations asked."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import pytest

from core import clock
from core.ids import parse_global_id
from tests.audiences import fields_of
from tests.conftest import ClientFactory, StatementCounter
from tests.graphql import NOT_IN_SCHEMA, GraphQLClient
from tests.queries import DEMO_USERS

AGENT = "agent@vendor.example"


@pytest.fixture
async def gql(client_with: ClientFactory) -> AsyncIterator[GraphQLClient]:
    """A client whose query budget lets a test page through whole lists."""
    async with client_with(rate_limit_capacity=10**9) as client:
        yield client


def days_ago(days: int) -> str:
    """The demo fleet's readings run up to about today: windows are counted back from it."""
    return (clock.utc_today() - timedelta(days=days)).isoformat()


READINGS = """
query Readings($first: Int, $after: String, $filter: MeterReadingFilter) {
  meterReadings(first: $first, after: $after, filter: $filter) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes { id meter readingDate value source flags device { id } }
  }
}
"""
# Per device: its own history's length (null where the viewer may not read its meters).
DEVICE_HISTORIES = """
query Devices($after: String) {
  devices(first: 100, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes { id site { id } account { id } meterReadings(first: 0) { totalCount } }
  }
}
"""
HISTORY_SINCE = """
query History($id: ID!, $from: Date) {
  node(id: $id) { ... on Device { meterReadings(from: $from, first: 0) { totalCount } } }
}
"""
WITH_RELATIONS = """
query Page($first: Int) {
  meterReadings(first: $first) {
    nodes {
      id readingDate value
      device { serialNumber site { name city } model { name } account { name } }
    }
  }
}
"""


async def all_pages(
    gql: GraphQLClient,
    user: str,
    query: str,
    field: str,
    variables: dict[str, Any] | None = None,
    *,
    forbidden: bool = False,
) -> list[Any]:
    """Every node of the list; `forbidden`: fields refused to the user are allowed (null)."""
    nodes: list[Any] = []
    after = None
    while True:
        result = await gql(query, {**(variables or {}), "after": after}, as_user=user)
        assert set(result.error_codes) <= ({"FORBIDDEN"} if forbidden else set()), result.errors
        page = result.data[field]
        nodes += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]


async def readings(
    gql: GraphQLClient, user: str, filter: dict[str, Any] | None = None, first: int = 100
) -> list[Any]:
    return await all_pages(gql, user, READINGS, "meterReadings", {"filter": filter, "first": first})


def sort_key(node: dict[str, Any]) -> tuple[str, int]:
    parsed = parse_global_id(node["id"])
    assert parsed is not None
    return node["readingDate"], parsed[1]


@pytest.mark.parametrize("user", DEMO_USERS)
async def test_each_role_sees_the_readings_of_the_devices_whose_meters_it_may_read(
    gql: GraphQLClient, user: str
) -> None:
    if "meterReadings" not in fields_of(user, "Query"):
        # a role without VIEW_METER_READINGS has no such list: the document is refused
        result = await gql("{ meterReadings { nodes { id } } }", as_user=user)
        assert result.error_codes == NOT_IN_SCHEMA
        assert "meterReadings" in result.errors[0]["message"]
        return
    # given each visible device's own history (null where its meters are not the user's)
    devices = (
        await all_pages(gql, user, DEVICE_HISTORIES, "devices", forbidden=True)
        if "devices" in fields_of(user, "Query")
        else []
    )
    expected = {
        d["id"]: d["meterReadings"]["totalCount"]
        for d in devices
        if d.get("meterReadings") is not None and d["meterReadings"]["totalCount"]
    }

    # when the user lists every reading (a date range keeps the pages few)
    since = days_ago(120)
    listed = await readings(gql, user, {"from": since})
    recent = {
        d: (await gql(HISTORY_SINCE, {"id": d, "from": since}, as_user=user)).data["node"][
            "meterReadings"
        ]["totalCount"]
        for d in expected
    }

    # then they are exactly the readings of those devices, in (day, id) order
    assert Counter(n["device"]["id"] for n in listed) == +Counter(recent)
    assert [sort_key(n) for n in listed] == sorted(sort_key(n) for n in listed)
    total = (await gql(READINGS, {"first": 0}, as_user=user)).data["meterReadings"]["totalCount"]
    assert total == sum(expected.values())
    hidden = {d["id"] for d in devices if d.get("meterReadings") is None}
    if user == "devstock@acme.example":
        assert hidden  # devices it sees only as their toner's stock location
    assert not hidden & {n["device"]["id"] for n in listed}


async def test_keyset_pages_give_what_one_big_page_gives(gql: GraphQLClient) -> None:
    devices = await gql("{ devices(first: 2) { nodes { id } } }", as_user=AGENT)
    window = {
        "deviceIds": [d["id"] for d in devices.data["devices"]["nodes"]],
        "from": days_ago(300),
    }
    big = (await gql(READINGS, {"first": 100, "filter": window}, as_user=AGENT)).data[
        "meterReadings"
    ]
    assert 30 < big["totalCount"] <= 100, big["totalCount"]
    small = await readings(gql, AGENT, window, first=7)
    assert small == big["nodes"]
    assert len(small) == big["totalCount"]
    assert [sort_key(n) for n in small] == sorted(sort_key(n) for n in small)


async def test_filters(gql: GraphQLClient) -> None:
    window = {"from": days_ago(100), "to": days_ago(10)}
    every = await readings(gql, AGENT, window)
    assert every
    assert all(window["from"] <= n["readingDate"] <= window["to"] for n in every)
    devices = {d["id"]: d for d in await all_pages(gql, AGENT, DEVICE_HISTORIES, "devices")}

    def expect(keep: Any) -> list[Any]:
        return [n for n in every if keep(n)]

    device = every[len(every) // 2]["device"]["id"]
    site = devices[device]["site"]["id"]
    account = devices[device]["account"]["id"]
    tree = await gql(
        "query A($id: ID!) { node(id: $id) { ... on Account { descendants { id } } } }",
        {"id": account},
        as_user=AGENT,
    )
    family = {account, *(a["id"] for a in tree.data["node"]["descendants"])}
    cases: list[tuple[dict[str, Any], Any]] = [
        ({"deviceIds": [device]}, lambda n: n["device"]["id"] == device),
        ({"siteIds": [site]}, lambda n: devices[n["device"]["id"]]["site"]["id"] == site),
        (
            {"accountIds": [account]},
            lambda n: devices[n["device"]["id"]]["account"]["id"] in family,
        ),
        ({"meters": ["BLACK", "SCAN"]}, lambda n: n["meter"] in {"BLACK", "SCAN"}),
        ({"sources": ["REMOTE"]}, lambda n: n["source"] == "REMOTE"),
        ({"flags": ["SPIKE"]}, lambda n: "SPIKE" in n["flags"]),
        ({"to": days_ago(50)}, lambda n: n["readingDate"] <= days_ago(50)),
    ]
    for condition, keep in cases:
        wanted = expect(keep)
        got = await readings(gql, AGENT, {**window, **condition})
        assert got == wanted, condition
        assert 0 < len(got) < len(every) or condition == {"flags": ["SPIKE"]}, condition
    # an account's filter covers its sub-accounts
    parent = await gql("{ accounts(first: 100) { nodes { id children { id } } } }", as_user=AGENT)
    group = next(a for a in parent.data["accounts"]["nodes"] if a["children"])
    children = {c["id"] for c in group["children"]}
    got = await readings(gql, AGENT, {**window, "accountIds": [group["id"]]})
    assert children & {devices[n["device"]["id"]]["account"]["id"] for n in got}
    # another user's devices in a filter match nothing
    other = await readings(gql, "admin@globex.example", {**window, "deviceIds": [device]})
    assert other == []
    # a wrong ID is refused
    refused = await gql(READINGS, {"filter": {"siteIds": [device]}}, as_user=AGENT)
    assert refused.error_codes == ["BAD_USER_INPUT"]
    assert date.fromisoformat(every[0]["readingDate"]) >= date.fromisoformat(window["from"])


async def test_a_page_is_one_statement_whatever_its_size(
    gql: GraphQLClient, statements: StatementCounter
) -> None:
    await gql(WITH_RELATIONS, {"first": 1}, as_user="admin@acme.example")  # warm the token
    counts = []
    for first in (5, 60):
        result, count = await statements.of(
            gql(WITH_RELATIONS, {"first": first}, as_user="admin@acme.example")
        )
        assert not result.errors, result.errors
        nodes = result.data["meterReadings"]["nodes"]
        assert len(nodes) == first
        assert all(n["device"]["site"] and n["device"]["model"] for n in nodes)
        counts.append(count)
    assert counts[0] == counts[1]
    plain, count = await statements.of(
        gql("{ meterReadings(first: 60) { nodes { id } } }", as_user="admin@acme.example")
    )
    assert len(plain.data["meterReadings"]["nodes"]) == 60
    assert count == counts[0]  # the relations ride with the page's one statement
