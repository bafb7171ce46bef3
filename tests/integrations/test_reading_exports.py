"""Bulk exports of `meterReadings`: written without GraphQL execution per row where the
selection allows (`schema/reading_export.py`), they must be byte for byte the GraphQL path's
files, and hold what paging through the connection gives, for every demo role."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import orjson
import pytest

from core import clock
from schema import export_runner, reading_export
from schema.export_runner import ExportRunner
from tests.audiences import fields_of
from tests.conftest import ClientFactory
from tests.graphql import GraphQLClient
from tests.integrations.test_bulk_exports import START, STATUS
from tests.queries import DEMO_USERS

AGENT = "agent@vendor.example"

SELECTIONS = [
    "id meter readingDate value source flags",
    "day: readingDate pages: value __typename correctionReason createdAt kind: meter",
    "id value device { id serialNumber status installedOn site { name city timeZone } "
    "model { name colour } }",
    # openTicketCount is guarded (VIEW_TICKETS, on the device); `account` is the scoped
    # relation of a device, `site.account` one level further
    "readingDate device { serialNumber openTicketCount account { name } site { account { name } } "
    "t: __typename }",
]
# Written through GraphQL execution (what the direct path does not handle): same files.
FALLBACK = "id value submittedBy { name machineClient }"


def days_ago(days: int) -> str:
    return (clock.utc_today() - timedelta(days=days)).isoformat()


def export_query(selection: str, edges: bool = False) -> str:
    nodes = f"edges {{ cursor node {{ {selection} }} }}" if edges else f"nodes {{ {selection} }}"
    return f'{{ meterReadings(filter: {{from: "{days_ago(45)}"}}) {{ {nodes} }} }}'


PAGE = """
query Page($after: String, $filter: MeterReadingFilter) {
  meterReadings(first: 100, after: $after, filter: $filter) {
    nodes { %s }
    pageInfo { hasNextPage endCursor }
  }
}
"""


class Runs:
    def __init__(self, gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch) -> None:
        self.gql = gql
        self.runner = ExportRunner(gql.app.state.services)  # type: ignore[attr-defined]
        self.monkeypatch = monkeypatch
        self.graphql_pages = 0
        write = ExportRunner._write

        async def counted(runner: ExportRunner, *args: Any) -> Any:
            self.graphql_pages += 1
            return await write(runner, *args)

        monkeypatch.setattr(ExportRunner, "_write", counted)

    async def export(self, user: str, query: str, *, direct: bool) -> tuple[dict[str, Any], bytes]:
        """The export's status and its file, uncompressed; `direct=False` turns the direct
        path off (every export through GraphQL execution)."""
        with self.monkeypatch.context() as patch:
            if not direct:
                patch.setattr(export_runner, "direct_plan", lambda *_: None)
            started = await self.gql(START, {"input": {"query": query}}, as_user=user)
            assert started.data["startBulkExport"]["userErrors"] == [], started.body
            assert await self.runner.run_pending() == 1
        export_id = started.data["startBulkExport"]["bulkExport"]["id"]
        status = (await self.gql(STATUS, {"id": export_id}, as_user=user)).data["bulkExport"]
        assert status["status"] == "COMPLETED", status
        path = status["url"].split("?")[0].replace("http://testserver", "")
        response = await self.gql.http.get(f"{path}?{status['url'].split('?')[1]}")
        assert response.status_code == 200
        return status, gzip.decompress(response.content)


@pytest.fixture
async def runs(client_with: ClientFactory, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Runs]:
    async with client_with(rate_limit_capacity=10**9) as gql:
        yield Runs(gql, monkeypatch)


async def paged(gql: GraphQLClient, user: str, selection: str) -> list[Any]:
    nodes: list[Any] = []
    after = None
    while True:
        result = await gql(
            PAGE % selection, {"after": after, "filter": {"from": days_ago(45)}}, as_user=user
        )
        assert not result.errors, result.errors
        page = result.data["meterReadings"]
        nodes += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]


READERS = [u for u in DEMO_USERS if "meterReadings" in fields_of(u, "Query")]


@pytest.mark.parametrize("user", READERS)
async def test_direct_exports_are_the_graphql_exports_byte_for_byte(runs: Runs, user: str) -> None:
    for index, selection in enumerate(SELECTIONS):
        query = export_query(selection, edges=index == 1)
        runs.graphql_pages = 0
        direct_status, direct = await runs.export(user, query, direct=True)
        assert runs.graphql_pages == 0, selection  # written without GraphQL execution
        graphql_status, through_graphql = await runs.export(user, query, direct=False)
        assert runs.graphql_pages == 1
        assert direct.splitlines() == through_graphql.splitlines(), selection
        assert direct == through_graphql
        assert direct_status["rowsWritten"] == graphql_status["rowsWritten"] > 0
        assert direct_status["totalRows"] == graphql_status["totalRows"]
        assert direct_status["errors"] == graphql_status["errors"] == []
    # and the file holds what paging through the connection gives, row by row
    expected = await paged(runs.gql, user, SELECTIONS[2])
    _, content = await runs.export(user, export_query(SELECTIONS[2]), direct=True)
    assert [orjson.loads(line) for line in content.splitlines()] == expected


async def test_a_guarded_field_of_an_agent_and_chunk_boundaries(
    runs: Runs, monkeypatch: pytest.MonkeyPatch
) -> None:
    # credit status: guarded by VIEW_CREDIT_STATUS on the account (a synchronous resolver)
    monkeypatch.setattr(reading_export, "CHUNK", 7)  # many chunks, keyset between them
    query = export_query("id device { account { name creditStatus creditLimit } }")
    direct_status, direct = await runs.export(AGENT, query, direct=True)
    assert runs.graphql_pages == 0
    _, through_graphql = await runs.export(AGENT, query, direct=False)
    assert direct == through_graphql
    assert direct_status["rowsWritten"] > 7 * 10
    assert b'"creditStatus":"' in direct


async def test_what_the_direct_path_does_not_write_goes_through_graphql(runs: Runs) -> None:
    user = "admin@acme.example"
    status, content = await runs.export(user, export_query(FALLBACK), direct=True)
    assert runs.graphql_pages == 1
    assert [orjson.loads(line) for line in content.splitlines()] == await paged(
        runs.gql, user, FALLBACK
    )
    assert status["rowsWritten"] > 0
    # and a filter the query refuses fails the export as the query would
    bad = '{ meterReadings(filter: {siteIds: ["RGV2aWNlOjE="]}) { nodes { id } } }'
    started = await runs.gql(START, {"input": {"query": bad}}, as_user=user)
    assert await runs.runner.run_pending() == 1
    export_id = started.data["startBulkExport"]["bulkExport"]["id"]
    failed = (await runs.gql(STATUS, {"id": export_id}, as_user=user)).data["bulkExport"]
    assert failed["status"] == "FAILED"
    assert failed["errors"]
