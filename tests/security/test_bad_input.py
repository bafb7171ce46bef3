"""Bad input gets a clear, coded error (never INTERNAL), in the reader's language."""

from __future__ import annotations

import base64

import httpx
import pytest

from tests.graphql import GraphQLClient
from tests.tickets.support import ADD_COMMENT, CREATE_TICKET, covered_device, create_incident

ADMIN = "admin@acme.example"
ADMIN_FR = "admin.fr@acme.example"
AGENT = "agent@vendor.example"

QUERY_EMPTY_SELECTION = "{ viewer { } }"

QUERY_USAGE = """
query Usage($filter: MeterUsageFilter) {
  meterUsage(groupBy: ACCOUNT, period: MONTH, filter: $filter) { pages }
}
"""

QUERY_DEVICES = """
query Devices($filter: DeviceFilter) { devices(first: 5, filter: $filter) { nodes { id } } }
"""

QUERY_TICKETS = """
query Tickets($filter: TicketFilter) { tickets(first: 5, filter: $filter) { nodes { id } } }
"""

QUERY_ACCOUNTS = """
query Accounts($filter: AccountFilter) { accounts(first: 5, filter: $filter) { nodes { id } } }
"""

QUERY_DEVICES_AFTER = """
query Devices($after: String) { devices(first: 5, after: $after) { nodes { id } } }
"""

QUERY_NODE = "query Node($id: ID!) { node(id: $id) { id } }"
QUERY_NODES = "query Nodes($ids: [ID!]!) { nodes(ids: $ids) { id } }"

QUERY_REVOKE_MEMBERSHIP = """
mutation Revoke($input: RevokeMembershipInput!) {
  revokeMembership(input: $input) { userErrors { code message } }
}
"""

QUERY_UPDATE_MEMBERSHIP = """
mutation Update($input: UpdateMembershipInput!) {
  updateMembership(input: $input) { userErrors { code message } }
}
"""

QUERY_INVITE = """
mutation Invite($input: InviteUserInput!) {
  inviteUser(input: $input) { userErrors { code message } }
}
"""

QUERY_UPDATE_DEVICE = """
mutation Update($input: UpdateDeviceInput!) {
  updateDevice(input: $input) { userErrors { code message } }
}
"""

QUERY_VIEWER = "{ viewer { __typename } }"
MUTATION_LOGOUT = "mutation { logout(input: {}) { success } }"

FRENCH = {"Accept-Language": "fr"}
ITALIAN = {"Accept-Language": "it"}


def huge_id(type_name: str) -> str:
    return base64.b64encode(f"{type_name}:{10**30}".encode()).decode()


# --- 1. empty selection set ----------------------------------------------------------------


async def test_an_empty_selection_set_is_a_parse_error(gql: GraphQLClient) -> None:
    # when
    result = await gql(QUERY_EMPTY_SELECTION, as_user=ADMIN)
    # then
    assert result.error_codes == ["GRAPHQL_PARSE_FAILED"]
    assert result.data is None


# --- 2. dates at the edge of the calendar -------------------------------------------------


@pytest.mark.parametrize(
    "dates",
    [{"to": "9999-12-31"}, {"to": "0001-01-01"}, {"from": "0001-01-01", "to": "0001-01-02"}],
)
async def test_usage_dates_far_out_are_bad_user_input(
    gql: GraphQLClient, dates: dict[str, str]
) -> None:
    # when
    result = await gql(QUERY_USAGE, {"filter": dates}, as_user=ADMIN, headers=FRENCH)
    # then
    assert result.error_codes == ["BAD_USER_INPUT"]
    assert "entre" in result.errors[0]["message"]  # French


# --- 3. NUL characters ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        (QUERY_DEVICES, {"filter": {"search": "a\u0000b"}}),
        (QUERY_TICKETS, {"filter": {"search": "\u0000"}}),
        (QUERY_ACCOUNTS, {"filter": {"search": "x\u0000", "accountNumber": "1"}}),
    ],
)
async def test_a_nul_character_in_a_search_is_bad_user_input(
    gql: GraphQLClient, query: str, variables: dict[str, object]
) -> None:
    # when
    result = await gql(query, variables, as_user=AGENT, headers=ITALIAN)
    # then
    assert result.error_codes == ["BAD_USER_INPUT"]
    assert "carattere" in result.errors[0]["message"]


async def test_a_nul_character_in_a_ticket_is_bad_user_input(gql: GraphQLClient) -> None:
    # given
    device = await covered_device(gql, ADMIN_FR)
    ticket = await create_incident(gql, ADMIN_FR, device["id"])
    # when
    created = await gql(
        CREATE_TICKET,
        {
            "input": {
                "type": "INCIDENT",
                "summary": "Paper\u0000jam",
                "description": "\u0000",
                "deviceId": device["id"],
                "idempotencyKey": "key\u0000",
            }
        },
        as_user=ADMIN_FR,
    )
    commented = await gql(
        ADD_COMMENT, {"input": {"ticketId": ticket["id"], "body": "a\u0000"}}, as_user=ADMIN_FR
    )
    literal = await gql(
        'query { devices(first: 1, filter: {search: "a\\u0000"}) { nodes { id } } }',
        as_user=ADMIN_FR,
    )
    # then
    assert created.error_codes == ["BAD_USER_INPUT"]
    assert commented.error_codes == ["BAD_USER_INPUT"]
    assert literal.error_codes == ["BAD_USER_INPUT"]


# --- 4. global IDs beyond the database integer -----------------------------------------------


async def test_an_id_too_large_for_the_database_is_not_found(gql: GraphQLClient) -> None:
    # when
    one = await gql(QUERY_NODE, {"id": huge_id("Device")}, as_user=AGENT)
    many = await gql(QUERY_NODES, {"ids": [huge_id("Ticket"), huge_id("Account")]}, as_user=AGENT)
    updated = await gql(
        QUERY_UPDATE_DEVICE,
        {"input": {"id": huge_id("Device"), "version": 1}},
        as_user=ADMIN,
    )
    # then
    assert one.errors == [] and one.data == {"node": None}
    assert many.errors == [] and many.data == {"nodes": [None, None]}
    # like a malformed or unknown ID: the object is not found
    assert updated.errors == []
    assert [e["code"] for e in updated.data["updateDevice"]["userErrors"]] == ["NOT_FOUND"]


# --- 5. malformed IDs in identity and membership mutations -----------------------------------


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        (QUERY_REVOKE_MEMBERSHIP, {"input": {"membershipId": "not-an-id"}}),
        (QUERY_UPDATE_MEMBERSHIP, {"input": {"membershipId": "bm90LWFuLWlk"}}),
        (
            QUERY_INVITE,
            {"input": {"email": "x@acme.example", "accountId": "!!", "role": "ADMINISTRATOR"}},
        ),
    ],
)
async def test_a_malformed_id_in_a_mutation_is_bad_user_input(
    gql: GraphQLClient, query: str, variables: dict[str, object]
) -> None:
    # when
    result = await gql(query, variables, as_user=ADMIN, headers=FRENCH)
    # then
    assert result.error_codes == ["BAD_USER_INPUT"]
    assert "identifiant" in result.errors[0]["message"]


# --- 6. smaller ones --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    ["APPLICATION/JSON", "Application/Json; Charset=UTF-8", "application/json;charset=utf-8"],
)
async def test_media_types_are_case_insensitive(http: httpx.AsyncClient, content_type: str) -> None:
    # when
    response = await http.post(
        "/graphql", content=b'{"query": "{ __typename }"}', headers={"Content-Type": content_type}
    )
    # then
    assert response.status_code == 200
    assert response.json()["data"] == {"__typename": "Query"}


async def test_a_charset_other_than_utf8_is_refused(http: httpx.AsyncClient) -> None:
    # when
    response = await http.post(
        "/graphql",
        content=b'{"query": "{ __typename }"}',
        headers={"Content-Type": "application/json; charset=latin-1"},
    )
    # then
    assert response.status_code == 415
    assert response.json()["errors"][0]["extensions"]["code"] == "UNSUPPORTED_MEDIA_TYPE"


async def test_a_summary_of_invisible_characters_is_refused(gql: GraphQLClient) -> None:
    # given
    device = await covered_device(gql, ADMIN_FR)
    # when
    result = await gql(
        CREATE_TICKET,
        {
            "input": {
                "type": "INCIDENT",
                "summary": "\u200b\u200c\u200d\ufeff\u2060 \u00a0",
                "deviceId": device["id"],
            }
        },
        as_user=ADMIN_FR,
    )
    # then
    payload = result.data["createTicket"]
    assert payload["ticket"] is None
    assert [e["code"] for e in payload["userErrors"]] == ["TICKET_FIELD_REQUIRED"]


@pytest.mark.parametrize("query", [QUERY_DEVICES, QUERY_TICKETS, QUERY_ACCOUNTS])
async def test_search_text_is_capped(gql: GraphQLClient, query: str) -> None:
    # when
    result = await gql(query, {"filter": {"search": "x" * 201}}, as_user=AGENT, headers=FRENCH)
    # then
    assert result.error_codes == ["BAD_USER_INPUT"]
    assert "200" in result.errors[0]["message"]


async def test_a_get_mutation_accepting_anything_is_405(http: httpx.AsyncClient) -> None:
    # when
    response = await http.get(
        "/graphql", params={"query": MUTATION_LOGOUT}, headers={"Accept": "*/*"}
    )
    # then
    assert response.status_code == 405
    assert response.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"


def test_seconds_have_plurals() -> None:
    import i18n

    # then
    assert i18n.translate("QUERY_THROTTLED", "en", seconds=1).endswith("in 1 second.")
    assert i18n.translate("QUERY_THROTTLED", "en", seconds=2).endswith("in 2 seconds.")
    assert i18n.translate("THROTTLED", "fr", seconds=1).endswith("dans 1 seconde.")
    assert i18n.translate("THROTTLED", "it", seconds=1).endswith("tra 1 secondo.")
    assert i18n.translate("THROTTLED", "it", seconds=5).endswith("tra 5 secondi.")


# --- 7. messages in the reader's language ------------------------------------------------------


async def test_an_invalid_cursor_is_worded_in_the_readers_language(gql: GraphQLClient) -> None:
    # when
    result = await gql(QUERY_DEVICES_AFTER, {"after": "garbage"}, as_user=AGENT, headers=FRENCH)
    # then
    assert result.error_codes == ["BAD_USER_INPUT"]
    assert result.errors[0]["message"] == "Curseur non valide."


@pytest.mark.parametrize(
    ("headers", "content", "status", "french"),
    [
        ({"Content-Type": "text/plain"}, b"{}", 415, "application/json"),
        ({"Content-Type": "application/json"}, b"{", 400, "JSON"),
        ({"Content-Type": "application/json"}, b"x" * 1_000_001, 413, "octets"),
    ],
)
async def test_http_refusals_are_worded_in_the_readers_language(
    http: httpx.AsyncClient, headers: dict[str, str], content: bytes, status: int, french: str
) -> None:
    # when
    response = await http.post(
        "/graphql", content=content, headers={**headers, "Accept-Language": "fr-CH, en;q=0.5"}
    )
    # then
    assert response.status_code == status
    message = response.json()["errors"][0]["message"]
    assert french in message
    assert " " in message and ("Envoyez" in message or "dépasse" in message or "requête" in message)
