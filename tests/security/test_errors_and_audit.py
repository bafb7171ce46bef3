"""Safe errors and the audit trail: unexpected exceptions are masked ("Unexpected error." and
a request id that is in the log, never a stack trace); every executed mutation, refused ones
included, leaves an audit entry with who, what, when and the request id."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry import relay

import resolvers.identity
import resolvers.scoping
import schema.identity
from core.errors import Forbidden
from models import AuditLogEntry
from tests.conftest import caller_statements
from tests.graphql import GraphQLClient

ADMIN = "admin@acme.example"

QUERY_ACCOUNTS = "query { accounts(first: 1) { totalCount } }"

MUTATION_LOGIN = """
mutation Login($input: LoginInput!) {
  login(input: $input) { accessToken refreshToken userErrors { code } }
}
"""
MUTATION_REFRESH = """
mutation Refresh($token: String!) {
  refreshToken(input: {refreshToken: $token}) { accessToken userErrors { code } }
}
"""
MUTATION_LOGOUT = "mutation { logout(input: {everywhere: true}) { revoked userErrors { code } } }"


async def _entries(connection: AsyncConnection, request_id: str) -> list[AuditLogEntry]:
    rows = await connection.execute(
        select(AuditLogEntry)
        .where(AuditLogEntry.request_id == request_id)
        .order_by(AuditLogEntry.id)
    )
    return list(rows.all())  # type: ignore[arg-type]


def _boom(*_: Any, **__: Any) -> Any:
    raise RuntimeError("connection string postgresql://secret@db leaked")


async def test_unexpected_exception_is_masked_with_a_request_id_in_the_log(
    gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # given
    token = await gql.token_for(ADMIN)
    monkeypatch.setattr(resolvers.scoping.ScopeCache, "scope", _boom)
    # when
    with caplog.at_level(logging.ERROR, logger="portal.errors"):
        result = await gql(QUERY_ACCOUNTS, token=token, headers={"X-Request-Id": "req-mask-1"})
    # then
    assert result.status == 200
    assert result.error_codes == ["INTERNAL"]
    error = result.errors[0]
    assert error["message"] == "Unexpected error."
    assert error["extensions"] == {"code": "INTERNAL", "requestId": "req-mask-1"}
    assert result.headers["x-request-id"] == "req-mask-1"
    text = str(result.body)
    assert "secret" not in text and "Traceback" not in text and "RuntimeError" not in text
    logged = [r for r in caplog.records if "req-mask-1" in r.getMessage()]
    assert logged and logged[0].exc_info is not None


async def test_expected_errors_keep_their_code(gql: GraphQLClient) -> None:
    # when
    result = await gql(QUERY_ACCOUNTS)
    # then
    assert result.error_codes == ["UNAUTHENTICATED"]
    assert result.errors[0]["message"] == "You need to sign in."


async def test_refused_mutation_leaves_an_audit_entry(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # when
    result = await gql(
        MUTATION_LOGIN,
        {"input": {"email": ADMIN, "password": "wrong-password"}},
        headers={"X-Request-Id": "req-audit-refused"},
    )
    # then
    assert result.data["login"]["userErrors"] == [{"code": "INVALID_CREDENTIALS"}]
    [entry] = await _entries(connection, "req-audit-refused")
    assert entry.action == "mutation:login"
    assert entry.details == {"outcome": "refused", "code": "INVALID_CREDENTIALS"}
    assert entry.actor_user_id is None
    assert entry.created_at is not None


async def test_mutation_whose_resolver_audits_gets_no_second_entry(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # when
    await gql(
        MUTATION_LOGIN,
        {"input": {"email": ADMIN, "password": "demo-password"}},
        headers={"X-Request-Id": "req-audit-login"},
    )
    # then
    entries = await _entries(connection, "req-audit-login")
    assert [e.action for e in entries] == ["login"]


async def test_mutation_whose_resolver_does_not_audit_gets_an_entry(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given
    tokens = await gql.login(ADMIN)
    # when
    result = await gql(
        MUTATION_REFRESH,
        {"token": tokens["refreshToken"]},
        headers={"X-Request-Id": "req-audit-refresh"},
    )
    # then
    assert result.data["refreshToken"]["accessToken"]
    [entry] = await _entries(connection, "req-audit-refresh")
    assert entry.action == "mutation:refreshToken"
    assert entry.details == {"outcome": "ok"}
    assert entry.actor_user_id is not None


async def test_mutation_failing_with_a_top_level_error_leaves_an_entry(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # when: a ticket the administrator cannot see (or that does not exist) is not found
    missing = str(relay.GlobalID("Ticket", "987654"))
    result = await gql(
        "mutation($input: UpdateTicketStatusInput!) { updateTicketStatus(input: $input) "
        "{ userErrors { code } } }",
        {"input": {"ticketId": missing, "status": "CLOSED", "version": 1}},
        as_user=ADMIN,
        headers={"X-Request-Id": "req-audit-unauth"},
    )
    # then
    assert result.error_codes == ["NOT_FOUND"]
    [entry] = await _entries(connection, "req-audit-unauth")
    assert entry.details == {"outcome": "failed", "code": "NOT_FOUND"}


async def test_mutation_failing_unexpectedly_is_masked_and_audited(
    gql: GraphQLClient, connection: AsyncConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    token = await gql.token_for(ADMIN)
    monkeypatch.setattr(resolvers.identity, "logout", _boom)
    # when
    result = await gql(MUTATION_LOGOUT, token=token, headers={"X-Request-Id": "req-audit-boom"})
    # then
    assert result.error_codes == ["INTERNAL"]
    assert "secret" not in str(result.body)
    [entry] = await _entries(connection, "req-audit-boom")
    assert entry.action == "mutation:logout"
    assert entry.details == {"outcome": "failed", "code": "INTERNAL"}
    assert entry.actor_user_id is not None


async def test_mutation_refused_before_its_transaction_is_audited(
    gql: GraphQLClient, connection: AsyncConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a guard that refuses before the shared wrapper runs
    token = await gql.token_for(ADMIN)

    async def refuse(*_: Any, **__: Any) -> Any:
        raise Forbidden()

    monkeypatch.setattr(schema.identity, "transactional", refuse)
    # when
    result = await gql(MUTATION_LOGOUT, token=token, headers={"X-Request-Id": "req-audit-guard"})
    # then
    assert result.error_codes == ["FORBIDDEN"]
    [entry] = await _entries(connection, "req-audit-guard")
    assert entry.action == "mutation:logout"
    assert entry.details == {"outcome": "refused", "code": "FORBIDDEN"}


async def test_mutation_refused_before_execution_is_not_run_nor_audited(
    gql: GraphQLClient, connection: AsyncConnection, statements: object
) -> None:
    # given
    token = await gql.token_for(ADMIN)
    before = await caller_statements(gql, statements, token)  # type: ignore[arg-type]
    # when: two sign-ins in one operation are refused by validation
    result = await gql(
        'mutation { a: logout(input: {}) { revoked } b: login(input: {email: "a", password: "b"}) '
        '{ accessToken } c: login(input: {email: "a", password: "c"}) { accessToken } }',
        token=token,
        headers={"X-Request-Id": "req-audit-invalid"},
    )
    # then: nothing beyond reading who the caller is
    assert result.error_codes == ["GRAPHQL_VALIDATION_FAILED"]
    assert statements.count <= before  # type: ignore[attr-defined]
    assert await _entries(connection, "req-audit-invalid") == []


async def test_failure_outside_an_operation_is_masked(
    gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: authentication itself fails (e.g. the database is down)
    import app

    async def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("postgresql://secret@db refused")

    monkeypatch.setattr(app, "authenticate", broken)
    # when
    result = await gql(QUERY_ACCOUNTS, headers={"X-Request-Id": "req-outside"})
    # then
    assert result.status == 500
    assert result.body == {
        "errors": [
            {
                "message": "Unexpected error.",
                "extensions": {"code": "INTERNAL", "requestId": "req-outside"},
            }
        ]
    }
