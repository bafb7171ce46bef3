"""Bulk exports through the API: the file holds exactly what paging through the connection
gives each demo user, downloads are signed and expire, one export per person, cancellation,
retention, and bad queries refused with coded user errors."""

from __future__ import annotations

import gzip
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
import time_machine

from core import clock
from resolvers import bulk_exports as records
from schema.export_runner import STALE_AFTER, ExportRunner
from schema.root import schema as app_schema
from tests.audiences import fields_of
from tests.conftest import ClientFactory
from tests.graphql import NOT_IN_SCHEMA, GraphQLClient
from tests.queries import DEMO_USERS

START = """
mutation Start($input: StartBulkExportInput!) {
  startBulkExport(input: $input) {
    bulkExport { id status }
    userErrors { field code message }
  }
}
"""
CANCEL = """
mutation Cancel($input: BulkExportIdInput!) {
  cancelBulkExport(input: $input) { bulkExport { id status } userErrors { field code } }
}
"""
STATUS = """
query Status($id: ID!) {
  bulkExport(id: $id) {
    id status rowsWritten totalRows progress errors url fileBytes finishedAt expiresAt
  }
}
"""
DEVICE_FIELDS = "id serialNumber status site { name } contract { active }"
DEVICES_EXPORT = "{ devices { nodes { " + DEVICE_FIELDS + " } } }"
DEVICES_PAGE = """
query Page($after: String) {
  devices(first: 100, after: $after) {
    nodes { %s }
    pageInfo { hasNextPage endCursor }
  }
}
"""


def _device_fields(user: str) -> str:
    """The device fields of DEVICE_FIELDS in the user's schema (a stock manager has no
    contracts)."""
    known = fields_of(user, "Device")
    return " ".join(
        f for f in re.findall(r"\w+(?: \{ \w+ \})?", DEVICE_FIELDS) if f.split()[0] in known
    )


TICKETS_EXPORT = "{ tickets { edges { node { id number status device { serialNumber } } } } }"
TICKETS_PAGE = """
query Page($after: String) {
  tickets(first: 100, after: $after) {
    edges { node { id number status device { serialNumber } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


@dataclass
class Exports:
    gql: GraphQLClient
    runner: ExportRunner

    async def start(self, user: str, query: str) -> Any:
        result = await self.gql(START, {"input": {"query": query}}, as_user=user)
        assert not result.errors, result.errors
        return result.data["startBulkExport"]

    async def run(self, user: str, query: str) -> dict[str, Any]:
        started = await self.start(user, query)
        assert started["userErrors"] == [], started
        assert await self.runner.run_pending() == 1
        return await self.status(user, started["bulkExport"]["id"])

    async def status(self, user: str, export_id: str) -> Any:
        result = await self.gql(STATUS, {"id": export_id}, as_user=user)
        assert not result.errors, result.errors
        return result.data["bulkExport"]

    async def download(self, url: str) -> tuple[int, bytes]:
        parts = urlsplit(url)
        response = await self.gql.http.get(f"{parts.path}?{parts.query}")
        return response.status_code, response.content


@pytest.fixture
async def exports(client_with: ClientFactory) -> AsyncIterator[Exports]:
    async with client_with() as gql:
        yield Exports(gql, ExportRunner(gql.app.state.services))  # type: ignore[attr-defined]


async def paged(gql: GraphQLClient, user: str, query: str, field: str) -> list[Any]:
    """What a client paging through the connection receives, node by node."""
    nodes: list[Any] = []
    after = None
    while True:
        result = await gql(query, {"after": after}, as_user=user)
        page = result.data[field] if result.data else None
        if page is None:
            return nodes
        if "nodes" in page:
            nodes += page["nodes"]
        else:
            nodes += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]


def lines(content: bytes) -> list[Any]:
    return [orjson.loads(line) for line in gzip.decompress(content).splitlines()]


@pytest.mark.parametrize("user", DEMO_USERS)
async def test_an_export_holds_what_paging_gives_each_role(exports: Exports, user: str) -> None:
    # given what the user receives paging through devices and tickets
    device_fields = _device_fields(user)
    for query, page_query, field in (
        (
            DEVICES_EXPORT.replace(DEVICE_FIELDS, device_fields),
            DEVICES_PAGE % device_fields,
            "devices",
        ),
        (TICKETS_EXPORT, TICKETS_PAGE, "tickets"),
    ):
        if field not in fields_of(user, "Query"):
            # a list outside the user's schema is refused when the export starts
            refused = await exports.start(user, query)
            assert [e["code"] for e in refused["userErrors"]] == ["BULK_EXPORT_QUERY_INVALID"]
            continue
        expected = await paged(exports.gql, user, page_query, field)

        # when the user exports the connection
        export = await exports.run(user, query)

        # then the file holds the same nodes, in the same order
        if export["status"] == "FAILED":  # the whole list refused, as the query would be
            assert expected == [], export
            continue
        assert export["status"] == "COMPLETED", export
        assert export["rowsWritten"] == len(expected)
        assert export["totalRows"] == len(expected)
        assert export["progress"] == 1.0
        status, content = await exports.download(export["url"])
        assert status == 200
        assert lines(content) == expected


async def test_field_permissions_apply_as_in_a_query(exports: Exports) -> None:
    # a device stock manager reads contracts of its assigned devices, not of those its stock
    # location only supplies: null in the file there, and said in `errors`
    export = await exports.run("devstock@acme.example", DEVICES_EXPORT)
    assert export["status"] == "COMPLETED"
    _, content = await exports.download(export["url"])
    rows = lines(content)
    assert any(row["contract"] is None for row in rows)
    assert any(row["contract"] is not None for row in rows)
    assert export["errors"]


async def test_download_urls_are_signed_and_expire(exports: Exports) -> None:
    export = await exports.run("admin@acme.example", DEVICES_EXPORT)
    url = export["url"]
    assert (await exports.download(url))[0] == 200
    assert (await exports.download(url.replace("signature=", "signature=0")))[0] == 404
    other = url.replace(f"/exports/{url.split('/exports/')[1].split('?')[0]}", "/exports/999999")
    assert (await exports.download(other))[0] == 404
    with time_machine.travel(clock.now() + timedelta(hours=2), tick=True):
        assert (await exports.download(url))[0] == 404


async def test_exports_are_personal(exports: Exports) -> None:
    export = await exports.run("admin@acme.example", DEVICES_EXPORT)
    assert await exports.status("admin@globex.example", export["id"]) is None
    result = await exports.gql(
        CANCEL, {"input": {"id": export["id"]}}, as_user="agent@vendor.example"
    )
    assert result.data["cancelBulkExport"]["userErrors"] == [{"field": ["id"], "code": "NOT_FOUND"}]


async def test_one_export_at_a_time_per_person_and_cancellation(exports: Exports) -> None:
    first = await exports.start("admin@acme.example", DEVICES_EXPORT)
    second = await exports.start("admin@acme.example", TICKETS_EXPORT)
    assert [e["code"] for e in second["userErrors"]] == ["BULK_EXPORT_RUNNING"]
    other = await exports.start("admin@globex.example", DEVICES_EXPORT)
    assert other["userErrors"] == []
    cancelled = await exports.gql(
        CANCEL, {"input": {"id": first["bulkExport"]["id"]}}, as_user="admin@acme.example"
    )
    assert cancelled.data["cancelBulkExport"]["bulkExport"]["status"] == "CANCELLED"
    again = await exports.gql(
        CANCEL, {"input": {"id": first["bulkExport"]["id"]}}, as_user="admin@acme.example"
    )
    assert again.data["cancelBulkExport"]["userErrors"] == [
        {"field": ["id"], "code": "BULK_EXPORT_FINISHED"}
    ]
    # the cancelled one is never run; Globex's is
    assert await exports.runner.run_pending() == 1
    assert await exports.runner.run_pending() == 0
    status = await exports.status("admin@acme.example", first["bulkExport"]["id"])
    assert status["status"] == "CANCELLED" and status["url"] is None
    # and a new one may start
    assert (await exports.start("admin@acme.example", TICKETS_EXPORT))["userErrors"] == []


async def test_files_are_removed_after_seven_days(exports: Exports) -> None:
    export = await exports.run("admin@acme.example", DEVICES_EXPORT)
    with time_machine.travel(clock.now() + timedelta(days=7, minutes=1), tick=True):
        await exports.runner.run_pending()
        later = await exports.status("admin@acme.example", export["id"])
    assert later["url"] is None
    assert not list(
        (exports.runner.services.settings.var_dir / "exports").glob(f"export-{export['id']}-*")
    )


BAD = [
    ("", "VALUE_REQUIRED"),
    ("{ devices { nodes { id } ", "BULK_EXPORT_QUERY_INVALID"),
    ("{ devices { nodes { nope } } }", "BULK_EXPORT_QUERY_INVALID"),
    ("mutation { logout { userErrors { code } } }", "BULK_EXPORT_NOT_A_QUERY"),
    (
        "query($s: String) { devices(filter: {search: $s}) { nodes { id } } }",
        "BULK_EXPORT_QUERY_VARIABLES",
    ),
    ("{ devices { nodes { id } } tickets { nodes { id } } }", "BULK_EXPORT_ONE_CONNECTION"),
    ("{ viewer { authenticated } }", "BULK_EXPORT_ONE_CONNECTION"),
    ("{ devices(last: 5) { nodes { id } } }", "BULK_EXPORT_PAGING_ARGUMENTS"),
    ("{ devices { totalCount } }", "BULK_EXPORT_NO_NODES"),
    (
        "{ accounts { nodes { devices(first: 100) { nodes { id } } } } }",
        "BULK_EXPORT_QUERY_TOO_COSTLY",
    ),
    ("{ accounts { nodes { devices { nodes { id } } } } }", "BULK_EXPORT_QUERY_INVALID"),
]


@pytest.mark.parametrize(("query", "code"), BAD)
async def test_bad_queries_are_refused(exports: Exports, query: str, code: str) -> None:
    started = await exports.start("admin@acme.example", query)
    assert [e["code"] for e in started["userErrors"]] == [code]
    assert started["bulkExport"] is None


async def test_anonymous_and_machine_callers_cannot_export(
    exports: Exports, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = await exports.gql(START, {"input": {"query": DEVICES_EXPORT}})
    assert result.error_codes == ["UNAUTHENTICATED"]
    token = (
        await exports.gql(
            "mutation($i: ClientTokenInput!) { clientToken(input: $i) { accessToken } }",
            {"i": {"clientId": "emaintenance-demo", "clientSecret": "demo-client-secret"}},
        )
    ).data["clientToken"]["accessToken"]
    # exports are for people: not in a machine client's schema
    result = await exports.gql(START, {"input": {"query": DEVICES_EXPORT}}, token=token)
    assert set(result.error_codes) == set(NOT_IN_SCHEMA)
    # and refused when it runs, should the schema let it through
    monkeypatch.setattr(app_schema, "for_audience", lambda audience: app_schema)
    forced = await exports.gql(START, {"input": {"query": DEVICES_EXPORT}}, token=token)
    assert forced.error_codes == ["FORBIDDEN"]


async def test_an_export_whose_worker_died_is_run_again(exports: Exports) -> None:
    # given an export a worker took up, then died with (no heartbeat any more)
    started = await exports.start("admin@acme.example", DEVICES_EXPORT)
    services = exports.runner.services
    async with services.sessionmaker() as session:
        assert await records.claim_export(session, clock.now(), STALE_AFTER) is not None
        await session.commit()
    # when another worker looks before the heartbeat is stale: nothing to do
    assert await exports.runner.run_pending() == 0
    # when it looks later: it runs the export from the start
    with time_machine.travel(clock.now() + STALE_AFTER + timedelta(seconds=5), tick=True):
        assert await exports.runner.run_pending() == 1
    export = await exports.status("admin@acme.example", started["bulkExport"]["id"])
    assert export["status"] == "COMPLETED"
    assert export["rowsWritten"] == len(
        await paged(exports.gql, "admin@acme.example", DEVICES_PAGE % DEVICE_FIELDS, "devices")
    )
