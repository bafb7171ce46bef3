"""Fuzzing: every root query and mutation field of the schema, with arguments generated from
its types (hypothesis-graphql), over HTTP, signed in as a vendor agent and as a customer
administrator. ID arguments are drawn mostly from real IDs of the demo data (devices, tickets,
accounts, sites, stock locations, memberships, ...), so the resolvers get past "not found".

No answer may be a 5xx, carry the INTERNAL code, or have an error without `extensions.code`.
Generation is derandomised (the same cases on every run; FUZZ_SEED=<n> explores others) and
bounded in time: at most FUZZ_EXAMPLES cases per operation and role (default 12), each
operation and role getting an equal share of FUZZ_BUDGET seconds (default 45) but two cases at
least. Every failure is listed before the test fails."""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import graphql
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis_graphql import mutations, queries

from auth.requirements import Audience
from schema.root import schema as app_schema
from tests.audiences import audience_of
from tests.graphql import GraphQLClient

AGENT = "agent@vendor.example"
ADMIN = "admin@acme.example"

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))
BUDGET_SECONDS = float(os.environ.get("FUZZ_BUDGET", "45"))
SEED = os.environ.get("FUZZ_SEED")

QUERY_HARVEST = """
query Harvest {
  accounts(first: 30) { nodes { id members { id } invitations { id } } }
  devices(first: 30) { nodes { id model { id } meterReadings(first: 2) { nodes { id } } } }
  tickets(first: 30) { nodes { id } }
  sites(first: 30) { nodes { id } }
  stockLocations(first: 20) { nodes { id replenishmentOrders(first: 3) { nodes { id } } } }
  knowledgeArticles(first: 10) { nodes { id } }
}
"""

SDL = graphql.build_schema(app_schema.as_str())
QUERY_FIELDS = sorted(SDL.query_type.fields) if SDL.query_type else []
MUTATION_FIELDS = sorted(SDL.mutation_type.fields) if SDL.mutation_type else []
OPERATIONS = [("query", name) for name in QUERY_FIELDS] + [
    ("mutation", name) for name in MUTATION_FIELDS
]
# The demo e-Maintenance client: the only caller whose schema has the report mutations.
CLIENT = "emaintenance-demo"
CLIENT_SCOPES = ["meter_readings:report", "toner_levels:report"]
CALLERS = (AGENT, ADMIN, CLIENT)
# Each caller's documents are generated from its own schema (what it may send at all).
SDL_OF = {
    caller: graphql.build_schema(
        app_schema.for_audience(
            Audience.of_client(CLIENT_SCOPES) if caller == CLIENT else audience_of(caller)
        ).as_str()
    )
    for caller in CALLERS
}


def _has(user: str, kind: str, name: str) -> bool:
    root = SDL_OF[user].query_type if kind == "query" else SDL_OF[user].mutation_type
    return root is not None and name in root.fields


def _harvest_ids(value: Any, found: set[str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "id" and isinstance(item, str):
                found.add(item)
            else:
                _harvest_ids(item, found)
    elif isinstance(value, list):
        for item in value:
            _harvest_ids(item, found)


# Texts that have broken something somewhere: NUL (PostgreSQL), long ones (search), only
# invisible characters, LIKE wildcards, escapes, right-to-left marks.
NASTY_TEXTS = [
    "\x00",
    "a\x00b",
    "x" * 300,
    "\u200b\u200c\u200d\ufeff",
    "%_%",
    "\\",
    "' OR 1=1 --",
    "\u202e\u0301",
    "\ud7ff\U0010ffff",
    "",
    " ",
]


def _text_node(value: str) -> graphql.ValueNode:
    return graphql.StringValueNode(value=value)


def custom_scalars(ids: list[str]) -> dict[str, st.SearchStrategy[graphql.ValueNode]]:
    """Real IDs most of the time, else anything; dates and times near the edges of the
    calendar as well as plausible ones."""
    types = sorted({base64.b64decode(i).decode().partition(":")[0] for i in ids})
    out_of_range = st.builds(
        lambda t, n: base64.b64encode(f"{t}:{n}".encode()).decode(),
        st.sampled_from(types or ["Device"]),
        st.sampled_from([0, -1, 2**31, 2**63, 10**30, -(2**64)]),
    )
    garbage_ids = st.text(max_size=30) | st.integers(-(2**70), 2**70).map(str) | out_of_range
    day = (
        st.dates(date(1, 1, 1), date(9999, 12, 31))
        | st.dates(date(2020, 1, 1), date(2030, 12, 31))
        | st.sampled_from([date(1, 1, 1), date(9999, 12, 31)])
    )
    moment = st.datetimes(datetime(1, 1, 2), datetime(9999, 12, 30)) | st.datetimes(
        datetime(2020, 1, 1), datetime(2030, 1, 1)
    )
    return {
        "String": (st.text() | st.sampled_from(NASTY_TEXTS)).map(_text_node),
        "ID": (st.sampled_from(ids) if ids else garbage_ids).map(_text_node)
        | garbage_ids.map(_text_node),
        "Date": day.map(lambda d: _text_node(d.isoformat())) | st.text(max_size=12).map(_text_node),
        "DateTime": moment.map(lambda m: _text_node(m.isoformat() + "Z"))
        | st.text(max_size=25).map(_text_node),
        "Time": st.times().map(lambda t: _text_node(t.isoformat()))
        | st.text(max_size=8).map(_text_node),
        "Decimal": st.decimals(allow_nan=False, allow_infinity=False, places=2).map(
            lambda d: _text_node(str(d))
        )
        | st.sampled_from(["NaN", "1e999", "-", ""]).map(_text_node),
    }


@dataclass
class Failure:
    kind: str
    name: str
    user: str
    query: str
    status: int
    errors: list[dict[str, Any]] = field(default_factory=list)

    def __str__(self) -> str:
        errors = [{k: e.get(k) for k in ("message", "path", "extensions")} for e in self.errors[:3]]
        return f"{self.kind} {self.name} as {self.user}: HTTP {self.status} {errors}\n{self.query}"


@dataclass
class Tally:
    cases: int = 0
    operations: set[tuple[str, str]] = field(default_factory=set)
    failures: list[Failure] = field(default_factory=list)
    skipped_for_time: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    slowest: list[tuple[float, str, str]] = field(default_factory=list)


def problems(status: int, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The errors that break the rules (a 5xx counts as one)."""
    errors = body.get("errors") or []
    bad = [
        e
        for e in errors
        if not isinstance(e, dict)
        or not (e.get("extensions") or {}).get("code")
        or (e.get("extensions") or {}).get("code") == "INTERNAL"
    ]
    if status >= 500 and not bad:
        bad = errors or [{"message": f"HTTP {status}"}]
    return bad


async def test_every_operation_answers_generated_input_with_coded_errors(
    client_with: Any,
) -> None:
    # given: a client without rate limits, tokens of two roles, real IDs of the demo data
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    tally = Tally()
    async with client_with(rate_limit_capacity=10**9, rate_limit_restore_rate=10**6) as gql:
        gql: GraphQLClient  # type: ignore[no-redef]
        tokens = {user: await gql.token_for(user) for user in (AGENT, ADMIN)}
        issued = await gql(
            "mutation($input: ClientTokenInput!) { clientToken(input: $input) { accessToken } }",
            {"input": {"clientId": CLIENT, "clientSecret": "demo-client-secret"}},
        )
        tokens[CLIENT] = issued.data["clientToken"]["accessToken"]
        ids: set[str] = set()
        for user in (AGENT, ADMIN):
            harvested = await gql(QUERY_HARVEST, token=tokens[user])
            _harvest_ids(harvested.data, ids)
        assert len(ids) > 50, "the demo data should give IDs of many types"
        scalars = custom_scalars(sorted(ids))

        async def send(document: str, token: str) -> tuple[int, dict[str, Any]]:
            response = await gql.http.post(
                "/graphql",
                json={"query": document},
                headers={"Authorization": f"Bearer {token}", "Accept-Language": "fr"},
            )
            try:
                body = response.json()
            except ValueError:
                body = {"errors": [{"message": response.text[:200]}]}
            return response.status_code, body

        def fuzz(kind: str, name: str, user: str) -> None:
            build = queries if kind == "query" else mutations
            strategy = build(SDL_OF[user], fields=[name], custom_scalars=scalars, allow_x00=True)

            slice_started, done = time.monotonic(), [0]

            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=SEED is None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(document=strategy)
            def case(document: str) -> None:
                # each operation and role gets its share of the budget, and two cases at least
                if done[0] >= 2 and time.monotonic() - slice_started > time_slice:
                    tally.skipped_for_time += 1
                    return
                done[0] += 1
                future = asyncio.run_coroutine_threadsafe(send(document, tokens[user]), loop)
                sent = time.monotonic()
                status, body = future.result(timeout=60)
                tally.slowest = sorted(
                    [*tally.slowest, (time.monotonic() - sent, name, document)], reverse=True
                )[:3]
                tally.cases += 1
                tally.operations.add((kind, name))
                codes = {(e.get("extensions") or {}).get("code") for e in body.get("errors") or []}
                tally.codes.update(str(c) for c in codes or {"ok"})
                bad = problems(status, body)
                if bad:
                    tally.failures.append(Failure(kind, name, user, document, status, bad))

            if SEED is not None:
                case = seed(int(SEED))(case)
            case()

        # (the machine client only for what no person may send)
        pairs = [(k, n, u) for k, n in OPERATIONS for u in (AGENT, ADMIN) if _has(u, k, n)]
        pairs += [
            (k, n, CLIENT)
            for k, n in OPERATIONS
            if _has(CLIENT, k, n) and not any(p[:2] == (k, n) for p in pairs)
        ]
        time_slice = (BUDGET_SECONDS - (time.monotonic() - started)) / len(pairs)

        # when: each operation, for each role whose schema has it, with generated arguments
        # and selections
        for kind, name, user in pairs:
            await asyncio.to_thread(fuzz, kind, name, user)

    # then
    elapsed = time.monotonic() - started
    summary = (
        f"fuzz: {len(tally.operations)}/{len(OPERATIONS)} operations, {tally.cases} cases, "
        f"{len(tally.failures)} failures, {tally.skipped_for_time} cases skipped for time, "
        f"{elapsed:.1f} s; answers by code: {dict(tally.codes.most_common())}"
    )
    print(summary)
    for seconds, name, document in tally.slowest:
        print(f"slowest: {seconds:.2f} s {name}: {' '.join(document.split())[:300]}")
    by_operation: dict[str, Failure] = {}
    for failure in tally.failures:
        by_operation.setdefault(f"{failure.kind} {failure.name}", failure)
    assert not tally.failures, (
        summary
        + "\nfirst failure per operation:\n"
        + "\n\n".join(str(f) for f in by_operation.values())
    )
    assert len(tally.operations) == len(OPERATIONS), summary
