"""A page of devices carries its relations (`resolvers.joined`): what it carries must be what
each relation's loader answers on its own, for every role, down to what a role may not see."""

from __future__ import annotations

from typing import Any

import pytest

from tests.audiences import fields_of, only_known
from tests.conftest import StatementCounter
from tests.graphql import GraphQLClient
from tests.queries import DEMO_USERS

USERS = DEMO_USERS

RELATIONS = """
  id serialNumber
  model { id name }
  site { id name timeZone }
  account { id name customerAccountNumber }
  contract { number endsOn active }
  stockLocation { id name }
  openTicketCount
"""

# (each user asks the relations its schema has)
QUERY_PAGE = """
query Page($after: String) {{
  devices(first: 100, after: $after) {{
    pageInfo {{ hasNextPage endCursor }}
    edges {{ node {{ {relations} }} }}
  }}
}}
"""

# the same devices one by one through `nodes`: every relation comes from its own loader
QUERY_NODES = """
query Nodes($ids: [ID!]!) {{
  nodes(ids: $ids) {{ ... on Device {{ {relations} }} }}
}}
"""


def _relations(user: str) -> str:
    return only_known(user, "Device", RELATIONS)


# fragments, aliases and `nodes` instead of `edges`
QUERY_FRAGMENTS = """
fragment Where on Device { place: site { name } stockLocation { name } }
query {
  devices(first: 20) {
    nodes { id ...Where ... on Device { holder: account { name } tickets: openTicketCount } }
  }
}
"""


def _by_path(errors: Any) -> dict[tuple[Any, ...], str]:
    """Errors by their path below the device (FORBIDDEN fields), for comparing two shapes."""
    return {tuple(e["path"][-1:]): e.get("extensions", {}).get("code") for e in errors or []}


async def _pages(gql: GraphQLClient, user: str) -> tuple[list[dict[str, Any]], set[Any]]:
    nodes: list[dict[str, Any]] = []
    codes: set[Any] = set()
    after = None
    while True:
        query = QUERY_PAGE.format(relations=_relations(user))
        result = await gql(query, {"after": after}, as_user=user)
        codes |= set(_by_path(result.errors).items())
        if result.data is None or result.data["devices"] is None:
            return nodes, codes
        page = result.data["devices"]
        nodes += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return nodes, codes
        after = page["pageInfo"]["endCursor"]


@pytest.mark.parametrize("user", USERS)
async def test_a_page_carries_what_each_relation_loader_answers(
    gql: GraphQLClient, user: str
) -> None:
    # given
    if "devices" not in fields_of(user, "Query"):
        pytest.skip(f"{user} has no devices in its schema (tests/auth proves it)")
    paged, paged_codes = await _pages(gql, user)
    # when
    one_by_one: list[dict[str, Any]] = []
    node_codes: set[Any] = set()
    ids = [node["id"] for node in paged]
    for start in range(0, len(ids), 100):
        query = QUERY_NODES.format(relations=_relations(user))
        result = await gql(query, {"ids": ids[start : start + 100]}, as_user=user)
        node_codes |= set(_by_path(result.errors).items())
        one_by_one += result.data["nodes"]
    # then
    assert paged == one_by_one
    assert paged_codes == node_codes


async def test_scoped_relations_come_back_null_where_the_loader_says_so(
    gql: GraphQLClient,
) -> None:
    """A device stock manager sees its assigned devices, and the stock locations that supply
    them only where the location is its own: null on the page elsewhere, where the agent sees
    them. (A device manager, with no stock-location reach, has no `stockLocation` at all.)"""
    # when
    managed, _ = await _pages(gql, "devstock@acme.example")
    everything, _ = await _pages(gql, "agent@vendor.example")
    # then
    by_id = {n["id"]: n for n in everything}
    hidden = [n for n in managed if n["stockLocation"] is None and by_id[n["id"]]["stockLocation"]]
    assert managed and hidden, "the demo supplies some of its devices from other locations"
    assert all(node["site"] is not None for node in managed)
    assert "stockLocation" not in fields_of("devices@acme.example", "Device")


async def test_fragments_aliases_and_nodes_are_carried_too(
    gql: GraphQLClient, statements: StatementCounter
) -> None:
    # given
    await gql.token_for("admin@acme.example")
    statements.reset()
    # when
    result = await gql(QUERY_FRAGMENTS, as_user="admin@acme.example")
    # then
    assert not result.errors, result.errors
    nodes = result.data["devices"]["nodes"]
    assert len(nodes) == 20
    assert all(n["place"]["name"] and n["holder"]["name"] for n in nodes)
    assert all(isinstance(n["tickets"], int) for n in nodes)
    # scope, page and nothing else: every relation came with the page
    page_statements = [s for s in statements.statements if "FROM devices" in s]
    assert len(page_statements) == 1, statements.statements
    assert not [s for s in statements.statements if "FROM sites" in s and "page" not in s]
