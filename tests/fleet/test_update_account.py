"""`updateAccount`: administrators (and agents) of the account, stale versions, audit log."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.ids import global_id
from models import Account, AuditLogEntry
from tests.audiences import fields_of
from tests.graphql import NOT_IN_SCHEMA, GraphQLClient

MUTATION_UPDATE_ACCOUNT = """
mutation Update($input: UpdateAccountInput!) {
  updateAccount(input: $input) {
    account { id name language country version }
    userErrors { field code message }
  }
}
"""


async def _account(connection: AsyncConnection, name: str) -> Any:
    return (
        (await connection.execute(select(Account.__table__).where(Account.name == name)))
        .mappings()
        .one()
    )


async def test_administrator_updates_a_sub_account_and_the_change_is_audited(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given
    account = await _account(connection, "Acme France Sud")
    # when
    result = await gql(
        MUTATION_UPDATE_ACCOUNT,
        {
            "input": {
                "id": global_id("Account", account["id"]),
                "version": account["version"],
                "name": " Acme Provence ",
                "language": "IT",
            }
        },
        as_user="admin.fr@acme.example",
    )
    # then
    payload = result.data["updateAccount"]
    assert payload["userErrors"] == []
    assert payload["account"]["name"] == "Acme Provence"
    assert payload["account"]["language"] == "it"
    assert payload["account"]["version"] == account["version"] + 1
    details = await connection.scalar(
        select(AuditLogEntry.details).where(
            AuditLogEntry.object_type == "Account", AuditLogEntry.object_id == account["id"]
        )
    )
    assert details == {
        "name": {"from": "Acme France Sud", "to": "Acme Provence"},
        "language": {"from": "fr", "to": "it"},
    }


async def test_update_account_requires_permission(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given: a device manager of Acme France sees the account but holds UPDATE_ACCOUNT nowhere
    account = await _account(connection, "Acme France")
    variables = {
        "input": {
            "id": global_id("Account", account["id"]),
            "version": account["version"],
            "name": "X",
        }
    }
    # when
    result = await gql(MUTATION_UPDATE_ACCOUNT, variables, as_user="devices@acme.example")
    # then: neither the mutation nor its input type is in its schema: refused before it runs
    assert result.data is None
    assert set(result.error_codes) == set(NOT_IN_SCHEMA), result.errors
    assert "updateAccount" not in fields_of("devices@acme.example", "Mutation")
    assert (await _account(connection, "Acme France"))["version"] == account["version"]


async def test_update_account_requires_permission_on_that_account(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given: the Acme France administrator may not touch the parent group nor Globex
    group = await _account(connection, "Acme Group")
    # when
    result = await gql(
        MUTATION_UPDATE_ACCOUNT,
        {
            "input": {
                "id": global_id("Account", group["id"]),
                "version": group["version"],
                "name": "X",
            }
        },
        as_user="admin.fr@acme.example",
    )
    missing = await gql(
        MUTATION_UPDATE_ACCOUNT,
        {"input": {"id": global_id("Account", 10**9), "version": 1, "name": "X"}},
        as_user="admin.fr@acme.example",
    )
    # then: out of sight answers like missing
    assert result.data["updateAccount"] == missing.data["updateAccount"]
    assert result.data["updateAccount"]["userErrors"][0]["code"] == "NOT_FOUND"
    assert (await _account(connection, "Acme Group"))["name"] == "Acme Group"


async def test_stale_version_and_bad_values_are_refused(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given
    account = await _account(connection, "Acme Italia")
    gid = global_id("Account", account["id"])
    # when
    stale = await gql(
        MUTATION_UPDATE_ACCOUNT,
        {"input": {"id": gid, "version": account["version"] + 5, "name": "X"}},
        as_user="admin@acme.example",
    )
    language = await gql(
        MUTATION_UPDATE_ACCOUNT,
        {"input": {"id": gid, "version": account["version"], "language": "de"}},
        as_user="admin@acme.example",
    )
    empty = await gql(
        MUTATION_UPDATE_ACCOUNT,
        {"input": {"id": gid, "version": account["version"], "name": "  "}},
        as_user="admin@acme.example",
    )
    country = await gql(
        MUTATION_UPDATE_ACCOUNT,
        {"input": {"id": gid, "version": account["version"], "country": "ITA"}},
        as_user="admin@acme.example",
    )
    # then
    codes = [
        r.data["updateAccount"]["userErrors"][0]["code"] for r in (stale, language, empty, country)
    ]
    assert codes == ["STALE_VERSION", "UNSUPPORTED_LANGUAGE", "VALUE_REQUIRED", "INVALID_COUNTRY"]
    assert (await _account(connection, "Acme Italia"))["version"] == account["version"]
