"""The database is unreachable: 503 SERVICE_UNAVAILABLE with Retry-After, one log line and no
trace, whether the outage shows while reading the caller's token (outside any operation) or in a
resolver; and requests work again once it is back (the pool reconnects).

PostgreSQL: a TCP proxy in front of the test database is cut and restored. SQLite: a database
file that cannot be opened."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from app import create_app
from models.session import create_engine, create_sessionmaker
from settings import Settings
from tests.auth.test_oidc import AUDIENCE, ISSUER, served_provider
from tests.graphql import GraphQLClient, Response
from tests.servers import HOST, free_port, serving

ADMIN = "admin@acme.example"

QUERY_ACCOUNTS = "query Accounts { accounts(first: 1) { totalCount } }"

QUERY_SIGN_IN = """
mutation SignIn($input: LoginInput!) {
  login(input: $input) { accessToken userErrors { code } }
}
"""
SIGN_IN = {"input": {"email": ADMIN, "password": "not the password"}}


class Proxy:
    """Forwards a loopback port to PostgreSQL until it is cut (open connections reset, new
    ones refused), then again once restored, on the same port; or until it hangs (everything
    accepted, nothing answered: a server that stopped responding)."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()

    def hang(self) -> None:
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, HOST, self.port)

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._flowing.wait()
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await source.read(65536):
                    await self._flowing.wait()
                    sink.write(data)
                    await sink.drain()
            sink.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers.difference_update((writer, up_writer))


@contextlib.asynccontextmanager
async def postgres_behind_proxy(
    settings: Settings, **overrides: Any
) -> AsyncIterator[tuple[Proxy, Settings]]:
    """A started proxy in front of the test's PostgreSQL and the settings that go through it;
    cut (and resumed) at the end whatever happened."""
    url = make_url(settings.database_url)
    proxy = Proxy(url.host or HOST, url.port or 5432)
    await proxy.start()
    proxied = replace(
        settings,
        database_url=url.set(host=HOST, port=proxy.port).render_as_string(hide_password=False),
        **overrides,
    )
    try:
        yield proxy, proxied
    finally:
        proxy.resume()
        await proxy.cut()


def outage_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.WARNING]


def assert_unavailable(response: Response, message: str = "temporarily unavailable") -> None:
    assert response.status == 503, response.body
    assert response.error_codes == ["SERVICE_UNAVAILABLE"], response.body
    assert message in response.errors[0]["message"]
    assert response.headers["Retry-After"].isdigit()
    assert "Traceback" not in str(response.body)


def assert_one_line_no_trace(caplog: pytest.LogCaptureFixture) -> None:
    lines = outage_lines(caplog)
    assert len(lines) == 1, [r.getMessage() for r in lines]
    assert lines[0].exc_info is None and "Traceback" not in lines[0].getMessage()
    assert "database unavailable" in lines[0].getMessage()


@pytest.fixture
async def token(gql: GraphQLClient) -> str:
    return await gql.token_for(ADMIN)


@dataclass
class ProviderToken:
    """An identity provider's token: the app looks its subject up in the database while it
    builds the request's context, before any operation runs."""

    settings: dict[str, str]
    token: str


@pytest.fixture
def provider_token() -> Iterator[ProviderToken]:
    with served_provider() as provider:
        yield ProviderToken(
            {"oidc_issuer": ISSUER, "oidc_jwks_url": provider.jwks_url, "oidc_audience": AUDIENCE},
            provider.token("k1"),
        )


@contextlib.asynccontextmanager
async def client_of(settings: Settings) -> AsyncIterator[GraphQLClient]:
    engine = create_engine(settings)
    app = create_app(settings, sessionmaker=create_sessionmaker(engine))
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver", timeout=30
        ) as http:
            yield GraphQLClient(http)
    finally:
        await engine.dispose()


async def test_unreadable_sqlite_file_answers_503(
    settings: Settings,
    token: str,
    provider_token: ProviderToken,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # given: a database file in a directory that does not exist
    missing = tmp_path / "missing" / "portal.sqlite3"
    broken = replace(
        settings, database_url=f"sqlite+aiosqlite:///{missing}", **provider_token.settings
    )
    async with client_of(broken) as gql:
        for query, variables, auth in (
            (QUERY_ACCOUNTS, None, provider_token.token),  # outside any operation
            (QUERY_ACCOUNTS, None, token),  # in the resolver
            (QUERY_SIGN_IN, SIGN_IN, None),  # in the resolver of a mutation
        ):
            caplog.clear()
            with caplog.at_level(logging.INFO):
                # when
                result = await gql(query, variables, token=auth)
            # then
            assert_unavailable(result)
            assert_one_line_no_trace(caplog)
        french = await gql(QUERY_ACCOUNTS, token=token, headers={"Accept-Language": "fr"})
        assert_unavailable(french, "momentanément indisponible")
        ready = await gql.http.get("/readyz")
        assert ready.status_code == 503
        assert ready.json() == {"status": "unavailable", "database": "unavailable"}


@pytest.mark.postgres
async def test_postgres_outage_answers_503_then_recovers(
    settings: Settings,
    token: str,
    provider_token: ProviderToken,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # given: the app talks to PostgreSQL through a proxy, with pooled connections
    async with (
        postgres_behind_proxy(settings, **provider_token.settings) as (proxy, proxied),
        client_of(proxied) as gql,
    ):
        before = await gql(QUERY_ACCOUNTS, token=token)
        assert before.status == 200 and not before.errors, before.body
        # when: the database goes away (open connections reset, new ones refused)
        await proxy.cut()
        for query, variables, auth in (
            (QUERY_ACCOUNTS, None, token),  # in the resolver
            (QUERY_ACCOUNTS, None, provider_token.token),  # outside any operation
            (QUERY_SIGN_IN, SIGN_IN, None),  # in the resolver of a mutation
            (QUERY_ACCOUNTS, None, token),
        ):
            caplog.clear()
            with caplog.at_level(logging.INFO):
                result = await gql(query, variables, token=auth)
            # then
            assert_unavailable(result)
            assert_one_line_no_trace(caplog)
        assert (await gql.http.get("/readyz")).status_code == 503
        # when: it is back (a restart)
        await proxy.start()
        after = await gql(QUERY_ACCOUNTS, token=token)
        # then: the pool connects again; the first request already works
        assert after.status == 200 and not after.errors, after.body
        assert after.data == before.data
        assert (await gql.http.get("/readyz")).json()["status"] == "ready"


@pytest.mark.postgres
async def test_postgres_that_stops_answering_answers_503_within_the_timeouts(
    settings: Settings, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    # given: the app talks to PostgreSQL through a proxy, with short timeouts
    async with (
        postgres_behind_proxy(
            settings, database_statement_timeout_seconds=1.0, database_connect_timeout_seconds=1.0
        ) as (proxy, proxied),
        client_of(proxied) as gql,
    ):
        before = await gql(QUERY_ACCOUNTS, token=token)
        assert before.status == 200 and not before.errors, before.body
        # when: the server accepts and reads, but answers nothing
        proxy.hang()
        for _ in range(2):  # a pooled connection, then a new one after it was dropped
            caplog.clear()
            started = time.monotonic()
            with caplog.at_level(logging.INFO):
                result = await gql(QUERY_ACCOUNTS, token=token)
            waited = time.monotonic() - started
            # then: a retryable answer, bounded by the timeouts, not a wait without end
            assert_unavailable(result)
            assert_one_line_no_trace(caplog)
            assert waited < 10, waited
        # when: it answers again
        proxy.resume()
        after = await gql(QUERY_ACCOUNTS, token=token)
        # then
        assert after.status == 200 and not after.errors, after.body


async def test_websocket_opened_during_an_outage_closes_with_try_again_later(
    settings: Settings,
    provider_token: ProviderToken,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # given: the database cannot be reached, and the caller's token (an identity provider's)
    # must be looked up in it
    missing = tmp_path / "missing" / "portal.sqlite3"
    broken = replace(
        settings, database_url=f"sqlite+aiosqlite:///{missing}", **provider_token.settings
    )
    engine = create_engine(broken)
    app = create_app(broken, sessionmaker=create_sessionmaker(engine))
    try:
        async with (
            serving(app) as address,
            connect(
                f"ws://{address}/graphql",
                subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
            ) as ws,
        ):
            caplog.clear()
            with caplog.at_level(logging.INFO):
                # when
                init = {"type": "connection_init", "payload": {"token": provider_token.token}}
                await ws.send(json.dumps(init))
                with pytest.raises(ConnectionClosed) as closed:
                    await asyncio.wait_for(ws.recv(), 5)
        # then: "try again later", not "forbidden"; one line in the log, no trace
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
        assert_one_line_no_trace(caplog)
    finally:
        await engine.dispose()
