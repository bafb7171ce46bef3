"""One schema per audience: what each caller's introspection shows, what its documents may
name, and that the cut follows the policy table (read here through the demo users' roles, not
through the code that cuts the schemas)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLObjectType,
    build_client_schema,
    build_schema,
    get_introspection_query,
    get_named_type,
    lexicographic_sort_schema,
    print_schema,
)
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from auth.policy import AGENT_PERMISSIONS, CLIENT_SCOPES, Permission, role_permissions
from auth.requirements import ANONYMOUS_AUDIENCE, Audience
from demo.fleet import DEMO_USERS
from models import Membership, User
from models.enums import Role
from schema.export import audience_file
from schema.permissions import requirement_of
from schema.root import schema
from tests.audiences import held_anywhere
from tests.conftest import StatementCounter
from tests.graphql import NOT_IN_SCHEMA, GraphQLClient
from tests.queries import DEMO_USERS as EMAILS

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schema"
INTROSPECTION = get_introspection_query(descriptions=True)
DEMO_CLIENT_SCOPES = ["meter_readings:report", "toner_levels:report"]

# Vendor-only names no customer's schema may list (the examples and then some).
VENDOR_ONLY = [
    "creditStatus",
    "creditLimit",
    "payments",
    "correctMeterReading",
    "upsertKnowledgeArticle",
    "publishKnowledgeArticle",
    "updateReplenishmentOrder",
    "internalNotes",
    "WORK_TICKETS",
    "VIEW_CREDIT_STATUS",
]


def _audience_name(email: str) -> str:
    """The committed SDL a demo user's schema must equal: its role's (or the agent's)."""
    for demo_email, _, _, agent, memberships in DEMO_USERS:
        if demo_email == email:
            if agent:
                return "AGENT"
            roles = {role for _, role in memberships}
            assert len(roles) == 1, "a demo user with several roles has no single SDL file"
            return roles.pop().value
    raise KeyError(email)


def _printed(built: Any) -> str:
    return print_schema(lexicographic_sort_schema(built))


def _committed(name: str) -> str:
    return _printed(build_schema((SCHEMA_DIR / audience_file(name)).read_text()))


async def _introspected(gql: GraphQLClient, **caller: Any) -> str:
    result = await gql(INTROSPECTION, **caller)
    assert not result.errors, result.errors
    return _printed(build_client_schema(result.data))


async def _client_token(gql: GraphQLClient) -> str:
    result = await gql(
        "mutation($input: ClientTokenInput!) { clientToken(input: $input) { accessToken } }",
        {"input": {"clientId": "emaintenance-demo", "clientSecret": "demo-client-secret"}},
    )
    return result.data["clientToken"]["accessToken"]  # type: ignore[no-any-return]


# --- what each caller's introspection shows --------------------------------------------------


@pytest.mark.parametrize("email", EMAILS)
async def test_a_users_introspection_is_its_audiences_committed_sdl(
    gql: GraphQLClient, email: str
) -> None:
    # when
    seen = await _introspected(gql, as_user=email)
    # then
    assert seen == _committed(_audience_name(email))


async def test_an_anonymous_callers_introspection_is_the_anonymous_sdl(gql: GraphQLClient) -> None:
    # when
    seen = await _introspected(gql)
    # then: sign-in, registration and invitations, and nothing else
    assert seen == _committed("ANONYMOUS")
    built = build_schema(seen)
    assert set(built.query_type.fields) == {"viewer"}  # type: ignore[union-attr]
    assert set(built.mutation_type.fields) == {  # type: ignore[union-attr]
        "login",
        "refreshToken",
        "clientToken",
        "register",
        "confirmEmail",
        "acceptInvitation",
    }
    assert built.subscription_type is None


async def test_a_machine_clients_introspection_is_that_of_its_scopes(gql: GraphQLClient) -> None:
    # given
    token = await _client_token(gql)
    # when
    seen = build_schema(await _introspected(gql, token=token))
    # then: what its two scopes report, no list of anything
    mutations = set(seen.mutation_type.fields)  # type: ignore[union-attr]
    assert {"reportMeterReadings", "reportTonerLevels"} <= mutations
    assert not mutations & {"submitMeterReadings", "createTicket", "startBulkExport", "logout"}
    assert set(seen.query_type.fields) == {"viewer", "node", "nodes"}  # type: ignore[union-attr]
    expected = Audience.of_client(DEMO_CLIENT_SCOPES)
    assert _printed(seen) == _printed(build_schema(schema.for_audience(expected).as_str()))


@pytest.mark.parametrize("name", ["knowledge", "stock"])
async def test_a_roles_schema_holds_only_its_part_of_the_api(gql: GraphQLClient, name: str) -> None:
    # when
    email = {"knowledge": "kb@acme.example", "stock": "stock@acme.example"}[name]
    seen = build_schema(await _introspected(gql, as_user=email))
    queries = set(seen.query_type.fields)  # type: ignore[union-attr]
    # then
    if name == "knowledge":  # sign-in, viewer and knowledge
        assert queries == {"viewer", "node", "nodes", "knowledgeArticles", "bulkExport"}
        assert seen.get_type("Device") is None and seen.get_type("Account") is None
    else:  # no contracts, readings or tickets
        assert "tickets" not in queries
        for absent in ("Ticket", "Contract", "MeterReading"):
            assert seen.get_type(absent) is None, absent
        assert "contract" not in seen.get_type("Device").fields  # type: ignore[union-attr]
        assert seen.subscription_type is None


@pytest.mark.parametrize("name", [r.value for r in Role] + [*CLIENT_SCOPES, "ANONYMOUS"])
def test_no_customer_or_client_schema_names_what_only_the_vendor_may_see(name: str) -> None:
    # given
    text = (SCHEMA_DIR / audience_file(name)).read_text()
    # then: as a name in the SDL (descriptions aside)
    names = set(re.findall(r"^\s*(\w+)", re.sub(r'"""[\s\S]*?"""', "", text), re.MULTILINE))
    assert not names & set(VENDOR_ONLY), names & set(VENDOR_ONLY)


# --- the cut follows the policy --------------------------------------------------------------


def _oracle_audiences() -> dict[str, Audience]:
    """Each named audience from the policy tables, read here."""
    found = {
        role.value: Audience(role_permissions(role), signed_in=True, person=True) for role in Role
    }
    found["AGENT"] = Audience(AGENT_PERMISSIONS, signed_in=True, person=True)
    for scope, permissions in CLIENT_SCOPES.items():
        found[scope] = Audience(permissions, signed_in=True)
    found["ANONYMOUS"] = ANONYMOUS_AUDIENCE
    return found


@pytest.mark.parametrize("name", sorted(_oracle_audiences()))
def test_every_field_is_present_exactly_where_its_requirement_can_be_met(name: str) -> None:
    # given
    audience = _oracle_audiences()[name]
    cut = build_schema((SCHEMA_DIR / audience_file(name)).read_text())
    full = schema._schema
    checked = 0
    # then: of every type the audience has, each field of the full schema is there if and only
    # if its declared requirement can be met (and what it returns is there too)
    for type_name, kept in cut.type_map.items():
        if type_name.startswith("__") or not isinstance(
            kept, GraphQLObjectType | GraphQLInputObjectType
        ):
            continue
        whole = full.get_type(type_name)
        definition = whole.extensions.get("strawberry-definition")  # type: ignore[union-attr]
        for field in definition.fields:
            graphql_name = schema.config.name_converter.get_graphql_name(field)
            if graphql_name not in whole.fields:  # type: ignore[union-attr]
                continue  # private to the server
            may = requirement_of(field).admits(audience)
            returned = get_named_type(whole.fields[graphql_name].type).name  # type: ignore[union-attr]
            if not may:
                assert graphql_name not in kept.fields, f"{type_name}.{graphql_name} in {name}"
            elif cut.get_type(returned) is not None:
                assert graphql_name in kept.fields, f"{type_name}.{graphql_name} not in {name}"
            checked += 1
    assert checked > 20


@pytest.mark.parametrize("name", sorted(_oracle_audiences()))
def test_permission_values_are_those_the_audience_can_hold(name: str) -> None:
    # given
    audience = _oracle_audiences()[name]
    cut = build_schema((SCHEMA_DIR / audience_file(name)).read_text())
    # then
    enum = cut.get_type("Permission")
    listed = set(enum.values) if isinstance(enum, GraphQLEnumType) else set()
    assert listed == {p.value for p in audience.permissions if p in Permission}


# --- documents naming what the caller's schema lacks ---------------------------------------


CASES = [
    ("admin@acme.example", "{ accounts(first: 1) { nodes { creditStatus } } }"),
    (
        "admin@acme.example",
        "{ accounts(first: 1) { nodes { payments(first: 1) { totalCount } } } }",
    ),
    ("stock@acme.example", "{ tickets(first: 1) { totalCount } }"),
    ("stock@acme.example", "{ devices(first: 1) { nodes { contract { number } } } }"),
    ("kb@acme.example", "{ devices(first: 1) { totalCount } }"),
    ("devices@acme.example", "{ devices(first: 1) { nodes { stockLocation { name } } } }"),
]


@pytest.mark.parametrize(("email", "query"), CASES)
async def test_an_absent_field_fails_validation_like_an_unknown_one(
    gql: GraphQLClient, email: str, query: str
) -> None:
    # when
    result = await gql(query, as_user=email)
    typo = await gql(query.replace("{ ", "{ x", 1).replace("(first: 1)", "", 1), as_user=email)
    # then: refused before anything ran, worded as a typo is, suggesting nothing it may not see
    assert result.data is None
    assert result.error_codes == NOT_IN_SCHEMA
    assert typo.error_codes == NOT_IN_SCHEMA
    own = schema.for_audience(Audience(held_anywhere(email), signed_in=True, person=True))._schema
    for error in result.errors:
        assert error["message"].startswith(("Cannot query field", "Unknown type"))
        _, _, suggested = error["message"].partition("Did you mean")
        for name in re.findall(r"'([^']+)'", suggested):
            assert any(name in getattr(t, "fields", {}) for t in own.type_map.values()), (
                f"{name} suggested to {email}"
            )


async def test_an_anonymous_caller_naming_a_signed_in_field_is_told_to_sign_in(
    gql: GraphQLClient,
) -> None:
    # when: a list that exists for signed-in callers, and a name that exists for nobody
    existing = await gql("{ devices(first: 1) { totalCount } }")
    invented = await gql("{ inventedField }")
    # then: the same answer for both (it maps nothing), and the client knows to sign in
    for result in (existing, invented):
        assert result.data is None
        assert [e["extensions"] for e in result.errors] == [{"code": "UNAUTHENTICATED"}]


# --- one schema per audience, built once, read per request --------------------------------------


async def test_a_schema_is_built_once_per_audience(gql: GraphQLClient) -> None:
    # given
    await gql("{ viewer { authenticated } }", as_user="devices@acme.example")
    built = dict(schema._audiences)
    # when: more requests of the same audience
    for _ in range(3):
        await gql("{ viewer { authenticated } }", as_user="devices@acme.example")
    # then
    assert schema._audiences == built
    audience = Audience(held_anywhere("devices@acme.example"), signed_in=True, person=True)
    assert schema.for_audience(audience) is built[audience]


async def test_a_changed_membership_changes_the_schema_on_the_next_request(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given: a device manager lists its devices
    email = "devices@acme.example"
    before = await gql("{ devices(first: 1) { totalCount } }", as_user=email)
    assert before.data["devices"]["totalCount"] > 0
    # when: its role becomes knowledge user (same token)
    user_id = await connection.scalar(select(User.id).where(User.email == email))
    await connection.execute(
        update(Membership).where(Membership.user_id == user_id).values(role=Role.KNOWLEDGE_USER)
    )
    after = await gql("{ devices(first: 1) { totalCount } }", as_user=email)
    articles = await gql("{ knowledgeArticles(first: 1) { totalCount } }", as_user=email)
    # then
    assert after.error_codes == NOT_IN_SCHEMA
    assert not articles.errors


async def test_a_document_any_signed_in_caller_may_send_reads_no_scope_first(
    gql: GraphQLClient, statements: StatementCounter
) -> None:
    # given
    token = await gql.token_for("admin@acme.example")
    statements.reset()
    # when: valid in every signed-in schema, so its schema need not be looked up
    typename = await gql("{ __typename }", token=token)
    cheap = statements.count
    statements.reset()
    held = await gql("{ viewer { permissions } }", token=token)
    # then
    assert typename.data == {"__typename": "Query"} and not held.errors
    assert cheap == 0
    assert statements.count > 0
