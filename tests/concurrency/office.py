"""A busy office, shared by the concurrency tests and `bench/office.py`: many people sign in and
open tickets at the same moment through one real uvicorn server whose requests commit for real.
`run_office` reports every answer by kind and the audit entries the requests left."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from app import create_app
from cli import migrate
from demo.fleet import DEMO_PASSWORD, seed_demo
from models import AuditLogEntry, LoginThrottle, RefreshToken, Ticket
from models.session import create_engine, create_sessionmaker
from settings import Settings
from tests.graphql import QUERY_LOGIN, GraphQLClient, Response
from tests.queries import DEMO_USERS
from tests.servers import serving
from tests.tickets.support import CREATE_TICKET, committed_writes_removed, covered_device

TICKET_CREATOR = "admin@acme.example"
# Everyone of the demo office signs in, several times each.
PEOPLE = DEMO_USERS
LOGIN_ACTION = "login"
TICKET_ACTION = "ticket.create.incident"


@contextlib.asynccontextmanager
async def fresh_database(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """A migrated database with the small demo fleet (a PostgreSQL database is emptied first)."""
    if not settings.is_sqlite:
        engine = create_engine(settings)
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await engine.dispose()
    await asyncio.to_thread(migrate, settings)
    engine = create_engine(settings)
    await seed_demo(engine, scale="small", progress=False)
    try:
        yield engine
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def office_writes_removed(engine: AsyncEngine) -> AsyncIterator[None]:
    """Removes what the office wrote (tickets, mails, audit entries, refresh tokens) and puts
    the sign-in throttles back as they were."""
    async with engine.connect() as conn:
        last_token = await conn.scalar(select(func.coalesce(func.max(RefreshToken.id), 0)))
        throttles = [dict(row) for row in (await conn.execute(select(LoginThrottle))).mappings()]
    try:
        async with committed_writes_removed(engine):
            yield
    finally:
        async with engine.begin() as conn:
            await conn.execute(delete(RefreshToken).where(RefreshToken.id > last_token))
            await conn.execute(delete(LoginThrottle))
            if throttles:
                await conn.execute(insert(LoginThrottle), throttles)


def answer_kind(response: Response, field_name: str) -> str:
    """`ok`, or the code the request was refused with (top-level error or user error)."""
    if response.errors:
        return str(response.error_codes[0])
    payload = (response.data or {}).get(field_name) or {}
    if payload.get("userErrors"):
        return str(payload["userErrors"][0]["code"])
    return "ok"


@dataclass
class OfficeReport:
    database: str
    seconds: float
    answers: dict[str, Counter[str]] = field(default_factory=dict)
    audit: Counter[str] = field(default_factory=Counter)
    tickets: int = 0
    responses: list[Response] = field(default_factory=list)

    def count(self, field_name: str, kind: str) -> int:
        return self.answers.get(field_name, Counter())[kind]

    def summary(self) -> str:
        parts = [
            f"{name}: " + ", ".join(f"{kind} {n}" for kind, n in sorted(kinds.items()))
            for name, kinds in self.answers.items()
        ]
        return (
            f"{self.database}: {self.seconds:.2f} s; "
            + "; ".join(parts)
            + f"; audit {dict(self.audit)}; tickets stored {self.tickets}"
        )


async def run_office(
    settings: Settings, engine: AsyncEngine, *, sign_ins: int, tickets: int
) -> OfficeReport:
    app = create_app(settings, sessionmaker=create_sessionmaker(engine))
    # A connection per request: a kept-alive one may be closed by the server (idle timeout) just
    # as the client sends on it, which would count as a failure of the server.
    limits = httpx.Limits(max_connections=sign_ins + tickets + 10, max_keepalive_connections=0)
    async with (
        serving(app) as address,
        httpx.AsyncClient(base_url=f"http://{address}", timeout=120, limits=limits) as http,
    ):
        gql = GraphQLClient(http)
        device = await covered_device(gql, TICKET_CREATOR)
        token = await gql.token_for(TICKET_CREATOR)
        async with engine.connect() as conn:
            last_audit = await conn.scalar(select(func.coalesce(func.max(AuditLogEntry.id), 0)))
            last_ticket = await conn.scalar(select(func.coalesce(func.max(Ticket.id), 0)))

        async def sign_in(n: int) -> Response:
            email = PEOPLE[n % len(PEOPLE)]
            return await gql(QUERY_LOGIN, {"input": {"email": email, "password": DEMO_PASSWORD}})

        async def create(n: int) -> Response:
            variables: dict[str, Any] = {
                "input": {
                    "type": "INCIDENT",
                    "deviceId": device["id"],
                    "summary": f"Busy office {n}",
                    "symptomCategory": "OTHER",
                }
            }
            return await gql(CREATE_TICKET, variables, token=token)

        started = time.perf_counter()
        results = await asyncio.gather(
            *(sign_in(n) for n in range(sign_ins)), *(create(n) for n in range(tickets))
        )
        seconds = time.perf_counter() - started
    report = OfficeReport(engine.dialect.name, seconds, responses=list(results))
    for i, response in enumerate(results):
        name = "login" if i < sign_ins else "createTicket"
        report.answers.setdefault(name, Counter())[answer_kind(response, name)] += 1
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(AuditLogEntry.action, func.count())
            .where(AuditLogEntry.id > last_audit)
            .group_by(AuditLogEntry.action)
        )
        report.audit = Counter(dict(rows.tuples().all()))
        report.tickets = int(
            await conn.scalar(select(func.count()).where(Ticket.id > last_ticket)) or 0
        )
    return report
