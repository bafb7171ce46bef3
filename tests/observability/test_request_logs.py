"""LOG_FORMAT=json: one JSON line per GraphQL request on `portal.request` with its figures,
and no password or token in any log line."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.ids import global_id
from models import Account, Device
from observability.logs import JsonFormatter
from tests.conftest import ClientFactory

QUERY_LOGIN = """
mutation SignIn($input: LoginInput!) {
  login(input: $input) { accessToken refreshToken userErrors { code } }
}
"""
QUERY_DEVICES = "query Fleet { devices(first: 5) { nodes { serialNumber } } }"
QUERY_RENAME = """
mutation Rename($input: UpdateAccountInput!) { updateAccount(input: $input) { account { name } } }
"""
QUERY_REFRESH = """
mutation Refresh($input: RefreshTokenInput!) {
  refreshToken(input: $input) { accessToken refreshToken userErrors { code } }
}
"""
QUERY_REGISTER = """
mutation Register($input: RegisterInput!) {
  register(input: $input) { email userErrors { field code } }
}
"""


def _request_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    formatter = JsonFormatter()
    return [json.loads(formatter.format(r)) for r in caplog.records if r.name == "portal.request"]


async def test_one_json_line_per_request_with_its_figures(
    client_with: ClientFactory, caplog: pytest.LogCaptureFixture, demo_password: str
) -> None:
    # given
    caplog.set_level(logging.INFO, logger="portal.request")
    async with client_with(log_format="json") as gql:
        # when
        login = await gql(
            QUERY_LOGIN, {"input": {"email": "admin@acme.example", "password": demo_password}}
        )
        token = login.data["login"]["accessToken"]
        devices = await gql(QUERY_DEVICES, token=token, headers={"X-Request-Id": "trace-me-42"})
        kb = await gql.token_for("kb@acme.example")  # updateAccount is not in its schema
        refused = await gql(
            QUERY_RENAME,
            {"input": {"id": global_id("Account", 1), "version": 1, "name": "Renamed"}},
            token=kb,
        )
    # then
    assert set(refused.error_codes) == {"GRAPHQL_VALIDATION_FAILED"}
    lines = _request_lines(caplog)
    by_name = {line["operation_name"]: line for line in lines}
    assert {"SignIn", "Fleet", "Rename"} <= set(by_name)  # and token_for's Login
    sign_in, fleet, rename = by_name["SignIn"], by_name["Fleet"], by_name["Rename"]
    assert sign_in["operation_type"] == "mutation"
    assert sign_in["caller"] == fleet["caller"]  # the one who signed in
    assert sign_in["status"] == 200 and sign_in["outcome"] == "ok"
    assert sign_in["request_id"] == login.headers["x-request-id"]
    assert fleet["request_id"] == "trace-me-42" == devices.headers["x-request-id"]
    assert fleet["operation_type"] == "query"
    assert fleet["caller"].startswith("user:")
    assert rename["caller"].startswith("user:") and rename["caller"] != fleet["caller"]
    assert fleet["requested_cost"] == devices.body["extensions"]["cost"]["requestedQueryCost"]
    assert fleet["actual_cost"] == devices.body["extensions"]["cost"]["actualQueryCost"] > 0
    assert fleet["error_codes"] == [] and fleet["outcome"] == "ok"
    assert fleet["sql_statements"] >= 1
    assert fleet["duration_ms"] > 0
    assert fleet["level"] == "INFO" and fleet["logger"] == "portal.request"
    assert rename["operation_type"] == "mutation"
    assert rename["error_codes"] == ["GRAPHQL_VALIDATION_FAILED"] and rename["outcome"] == "refused"
    assert rename["request_id"] == refused.errors[0]["extensions"].get(
        "requestId", refused.headers["x-request-id"]
    )
    assert "variables" not in json.dumps(lines) and "Renamed" not in json.dumps(lines)


async def test_no_request_lines_unless_asked(
    client_with: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # given
    caplog.set_level(logging.INFO, logger="portal.request")
    async with client_with(log_format="text") as gql:
        # when
        await gql("{ __typename }")
    # then
    assert _request_lines(caplog) == []


async def test_no_password_or_token_in_any_log_line(
    client_with: ClientFactory,
    caplog: pytest.LogCaptureFixture,
    connection: AsyncConnection,
    demo_password: str,
) -> None:
    # given: everything logged, at every level
    caplog.set_level(logging.DEBUG)
    number, serial = (
        await connection.execute(
            select(Account.customer_account_number, Device.serial_number)
            .join(Device, Device.account_id == Account.id)
            .limit(1)
        )
    ).one()
    new_password = "Correct-Horse-Battery-9"
    async with client_with(log_format="json") as gql:
        # when: a sign-in, a token refresh and a registration
        login = await gql(
            QUERY_LOGIN, {"input": {"email": "admin@acme.example", "password": demo_password}}
        )
        refreshed = await gql(
            QUERY_REFRESH, {"input": {"refreshToken": login.data["login"]["refreshToken"]}}
        )
        registered = await gql(
            QUERY_REGISTER,
            {
                "input": {
                    "email": "new.person@example.com",
                    "name": "New Person",
                    "password": new_password,
                    "customerAccountNumber": number,
                    "deviceSerialNumber": serial,
                }
            },
        )
    # then
    assert registered.data["register"]["userErrors"] == []
    secrets = {
        demo_password,
        new_password,
        login.data["login"]["accessToken"],
        login.data["login"]["refreshToken"],
        refreshed.data["refreshToken"]["accessToken"],
        refreshed.data["refreshToken"]["refreshToken"],
    }
    assert all(secrets)
    formatter = JsonFormatter()
    lines = [formatter.format(r) for r in caplog.records] + caplog.text.splitlines()
    assert len(_request_lines(caplog)) == 3
    leaked = [(s[:8], line) for line in lines for s in secrets if s in line]
    assert leaked == []
