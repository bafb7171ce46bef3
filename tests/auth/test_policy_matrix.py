"""The policy matrix: every demo user (each role, the vendor agent and the unrelated customer)
x every guarded field in the schema (found by introspection, so new ones are covered) x every
path (root lists, `node`, `nodes`, nested paths, aliases), against the oracle computed from
`auth.policy` and the demo rows (`tests/auth/oracle.py`).

Allowed reads answer without error, forbidden ones are a FORBIDDEN error on that field only,
and objects out of scope (other customers' above all) do not exist by any path, guessed global
IDs included."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, fields
from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    Undefined,
    get_named_type,
    is_leaf_type,
    is_non_null_type,
)
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry import relay
from strawberry.permission import PermissionExtension
from strawberry.types.base import StrawberryObjectDefinition

import models
from auth.policy import Permission
from auth.requirements import Audience, Requirement
from demo.fleet import DEMO_USERS
from schema.permissions import Requires
from schema.root import schema
from settings import Settings
from tests.auth.oracle import ORACLE_TYPES, Expected, World, load_world
from tests.conftest import ClientFactory
from tests.graphql import GraphQLClient

P = Permission
USERS = [email for email, *_ in DEMO_USERS]
GLOBEX = "admin@globex.example"
GRAPHQL = schema._schema


@dataclass(frozen=True)
class Guarded:
    """A field guarded by a permission, and how to ask for it."""

    type_name: str
    name: str  # GraphQL name
    requirement: Requirement
    nullable: bool
    description: str
    arguments: str | None  # None: it has a required argument we cannot make up

    def held_in(self, perms: frozenset[Permission]) -> bool:
        return self.requirement.met_by(perms)

    @property
    def selection(self) -> str:
        field = GRAPHQL.get_type(self.type_name).fields[self.name]  # type: ignore[union-attr]
        inner = "" if is_leaf_type(get_named_type(field.type)) else " { __typename }"
        return f"{self.name}{self.arguments or ''}{inner}"


def _argument_value(arg_type: Any) -> str | None:
    named = get_named_type(arg_type)
    if isinstance(named, GraphQLEnumType):
        return list(named.values)[-1]
    if isinstance(named, GraphQLScalarType):
        return {"Int": "1", "String": '"x"', "Boolean": "false", "Date": '"2027-01-15"'}.get(
            named.name
        )
    return None


def _guarded_fields() -> list[Guarded]:
    found = []
    for type_name, graphql_type in GRAPHQL.type_map.items():
        definition = getattr(graphql_type, "extensions", {}).get("strawberry-definition")
        if not isinstance(definition, StrawberryObjectDefinition):
            continue
        for field in definition.fields:
            for extension in field.extensions:
                if not isinstance(extension, PermissionExtension):
                    continue
                for permission in extension.permissions:
                    if not isinstance(permission, Requires) or not permission.requirement.any_of:
                        continue  # (a bare sign-in: tests/auth/test_anonymous.py)
                    name = schema.config.name_converter.get_graphql_name(field)
                    graphql_field = graphql_type.fields[name]  # type: ignore[attr-defined]
                    required = []
                    for arg_name, arg in graphql_field.args.items():
                        if is_non_null_type(arg.type) and arg.default_value is Undefined:
                            required.append((arg_name, _argument_value(arg.type)))
                    if "first" in graphql_field.args and "first" not in dict(required):
                        required.append(("first", "2"))  # lists inside lists need a page size
                    arguments: str | None = ""
                    if any(value is None for _, value in required):
                        arguments = None
                    elif required:
                        arguments = "(" + ", ".join(f"{n}: {v}" for n, v in required) + ")"
                    found.append(
                        Guarded(
                            type_name,
                            name,
                            permission.requirement,
                            not isinstance(graphql_field.type, GraphQLNonNull),
                            graphql_field.description or "",
                            arguments,
                        )
                    )
    return found


GUARDED = _guarded_fields()
READ_GUARDED = [g for g in GUARDED if g.type_name not in ("Mutation", "Subscription")]


def guarded_on(type_name: str, expected: Expected | None = None) -> list[Guarded]:
    """The guarded fields of a type; with `expected`, those in that viewer's schema (whose
    requirement it meets somewhere: the oracle's reading of the policy)."""
    return [
        g
        for g in READ_GUARDED
        if g.type_name == type_name
        and g.arguments is not None
        and (expected is None or g.requirement.admits(audience_of(expected)))
    ]


def audience_of(expected: Expected) -> Audience:
    return Audience(expected.anywhere(), signed_in=True, person=True)


def in_schema_of(expected: Expected, type_name: str, field: str | None = None) -> bool:
    """Whether the viewer's own schema has this type (and field)."""
    found = schema.for_audience(audience_of(expected))._schema.get_type(type_name)
    return found is not None and (field is None or field in found.fields)  # type: ignore[attr-defined]


def assert_fails_validation(result: Any) -> None:
    assert result.data is None
    assert result.error_codes and set(result.error_codes) == {"GRAPHQL_VALIDATION_FAILED"}


def node_types() -> list[str]:
    return sorted(t.name for t in GRAPHQL.get_possible_types(GRAPHQL.get_type("Node")))  # type: ignore[arg-type]


def root_list_of(type_name: str) -> str | None:
    """The root field listing objects of this type as a connection, if any."""
    for name, field in GRAPHQL.query_type.fields.items():  # type: ignore[union-attr]
        target = get_named_type(field.type)
        if (
            isinstance(target, GraphQLObjectType)
            and "nodes" in target.fields
            and get_named_type(target.fields["nodes"].type).name == type_name
            and not any(
                is_non_null_type(a.type) and a.default_value is Undefined
                for a in field.args.values()
            )
        ):
            return name
    return None


def gid(type_name: str, pk: int) -> str:
    return str(relay.GlobalID(type_name, str(pk)))


def pk_of(global_id: str) -> int:
    return int(relay.GlobalID.from_id(global_id).node_id)


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture
async def world(connection: AsyncConnection) -> World:
    return await load_world(connection)


@pytest.fixture
async def client(settings: Settings, client_with: ClientFactory) -> AsyncIterator[GraphQLClient]:
    """A client whose query-cost and rate limits (if any) do not get in the matrix's way."""
    generous = {
        "max_query_cost": 10**9,
        "rate_limit_capacity": 10**9,
        "rate_limit_restore_rate": 10**9,
        "max_aliases": 1000,
        "max_tokens": 100_000,
    }
    names = {f.name for f in fields(settings)}
    async with client_with(**{k: v for k, v in generous.items() if k in names}) as gql:
        yield gql


# --- checks -------------------------------------------------------------------------------


def _errors_by_path(result: Any) -> dict[tuple[Any, ...], str]:
    return {
        tuple(e.get("path") or ()): (e.get("extensions") or {}).get("code") for e in result.errors
    }


def check_guarded(
    errors: dict[tuple[Any, ...], str],
    path: tuple[Any, ...],
    node: dict[str, Any],
    guarded: list[Guarded],
    perms: frozenset[Permission],
    seen: set[tuple[Any, ...]],
    alias_prefix: str = "",
) -> None:
    for g in guarded:
        key = f"{alias_prefix}{g.name}"
        field_path = (*path, key)
        if g.held_in(perms):
            assert field_path not in errors, (field_path, errors.get(field_path), g.requirement)
        else:
            assert errors.get(field_path) == "FORBIDDEN", (field_path, g.requirement, sorted(perms))
            assert node[key] is None, field_path
            seen.add(field_path)


def assert_no_other_errors(
    errors: dict[tuple[Any, ...], str], expected: set[tuple[Any, ...]]
) -> None:
    unexpected = {p: c for p, c in errors.items() if p not in expected}
    assert not unexpected, unexpected


# --- the catalogue itself -------------------------------------------------------------------


def test_the_schema_has_guarded_fields() -> None:
    # the matrix below is only as good as what it finds
    names = {(g.type_name, g.name) for g in READ_GUARDED}
    assert {("Account", "creditStatus"), ("Account", "payments"), ("Account", "contracts")} <= names


def test_every_guarded_field_is_nullable() -> None:
    # a denial is an error on that field with the rest of the response intact
    assert [f"{g.type_name}.{g.name}" for g in READ_GUARDED if not g.nullable] == []


def test_every_guarded_field_says_what_it_requires() -> None:
    missing = [
        f"{g.type_name}.{g.name}"
        for g in GUARDED
        if not g.description.endswith(g.requirement.text())
    ]
    assert missing == []


# Types reached only through one guarded field of an oracle type, whose own guarded fields
# need the same permission on the same object (`granted` is the parent's): covered by the
# parent's cells of the matrix.
NESTED_ONLY = {"TonerLevel": ("Device", "tonerLevels")}


def test_every_guarded_read_is_covered_by_the_matrix() -> None:
    by_name = {(g.type_name, g.name): g for g in READ_GUARDED}
    uncovered = [
        f"{g.type_name}.{g.name}"
        for g in READ_GUARDED
        if g.arguments is None
        or (
            g.type_name not in (*ORACLE_TYPES, "Query")
            and not (
                g.type_name in NESTED_ONLY
                and by_name[NESTED_ONLY[g.type_name]].requirement == g.requirement
            )
        )
    ]
    assert uncovered == [], "add the type to tests/auth/oracle.py (or argument values here)"


# --- root fields ----------------------------------------------------------------------------


@pytest.mark.parametrize("email", USERS)
async def test_guarded_root_fields(client: GraphQLClient, world: World, email: str) -> None:
    # given
    expected = world.expected(email)
    guarded = guarded_on("Query", expected)
    if not guarded:
        pytest.skip("no guarded root field in the schema")
    query = "query { " + " ".join(g.selection for g in guarded) + " }"
    # when
    result = await client(query, as_user=email)
    # then
    errors = _errors_by_path(result)
    seen: set[tuple[Any, ...]] = set()
    check_guarded(errors, (), result.data or {}, guarded, expected.anywhere(), seen)
    assert_no_other_errors(errors, seen)


# --- root lists -----------------------------------------------------------------------------


LIST_CASES = [
    (email, type_name) for type_name in ORACLE_TYPES if root_list_of(type_name) for email in USERS
]


@pytest.mark.parametrize(("email", "type_name"), LIST_CASES)
async def test_root_list(client: GraphQLClient, world: World, email: str, type_name: str) -> None:
    # given
    expected = world.expected(email)
    root = root_list_of(type_name)
    assert root is not None
    if not in_schema_of(expected, "Query", root):
        # then: a list the viewer can never see is not in its schema at all
        assert_fails_validation(
            await client(f"{{ {root}(first: 1) {{ totalCount }} }}", as_user=email)
        )
        assert expected.ids(type_name) == {}
        return
    guarded = guarded_on(type_name, expected)
    selection = " ".join(g.selection for g in guarded)
    query = (
        f"query($after: String) {{ {root}(first: 100, after: $after) {{ "
        f"pageInfo {{ hasNextPage endCursor }} nodes {{ id {selection} }} }} }}"
    )
    # when: every page
    seen_ids: list[int] = []
    after = None
    while True:
        result = await client(query, {"after": after}, as_user=email)
        assert result.data is not None, result.errors
        page = result.data[root]
        errors = _errors_by_path(result)
        forbidden: set[tuple[Any, ...]] = set()
        for index, node in enumerate(page["nodes"]):
            pk = pk_of(node["id"])
            seen_ids.append(pk)
            perms = expected.of(type_name, pk)
            # then: only visible objects are listed, with guarded fields as the policy says
            assert perms is not None, f"{type_name} {pk} must not be visible to {email}"
            check_guarded(errors, (root, "nodes", index), node, guarded, perms, forbidden)
        assert_no_other_errors(errors, forbidden)
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert sorted(seen_ids) == sorted(expected.ids(type_name))


# --- node(id:) and nodes(ids:), guessed IDs included --------------------------------------------


NODE_CASES = [(email, type_name) for type_name in ORACLE_TYPES for email in USERS]


async def _max_id(connection: AsyncConnection, type_name: str) -> int:
    model = getattr(models, type_name)
    return int(await connection.scalar(select(func.max(model.id))) or 0)


@pytest.mark.parametrize(("email", "type_name"), NODE_CASES)
async def test_nodes_by_guessed_ids(
    client: GraphQLClient, world: World, connection: AsyncConnection, email: str, type_name: str
) -> None:
    # given: every ID from 1 to a few past the last one
    expected = world.expected(email)
    visible = expected.ids(type_name)
    if not in_schema_of(expected, type_name):
        # then: a type the viewer can never see is not in its schema at all
        query = f"query($ids: [ID!]!) {{ nodes(ids: $ids) {{ ... on {type_name} {{ id }} }} }}"
        assert_fails_validation(await client(query, {"ids": []}, as_user=email))
        assert visible == {}
        return
    guarded = guarded_on(type_name, expected)
    selection = " ".join(g.selection for g in guarded)
    all_ids = list(range(1, await _max_id(connection, type_name) + 4))
    query = (
        f"query($ids: [ID!]!) {{ nodes(ids: $ids) {{ ... on {type_name} {{ id {selection} }} }} }}"
    )
    for start in range(0, len(all_ids), 100):
        chunk = all_ids[start : start + 100]
        # when
        result = await client(query, {"ids": [gid(type_name, pk) for pk in chunk]}, as_user=email)
        # then
        assert result.data is not None, result.errors
        errors = _errors_by_path(result)
        forbidden: set[tuple[Any, ...]] = set()
        for index, (pk, node) in enumerate(zip(chunk, result.data["nodes"], strict=True)):
            if pk not in visible:
                assert node is None, f"{type_name} {pk} must not exist for {email}"
                continue
            assert node is not None and pk_of(node["id"]) == pk
            check_guarded(errors, ("nodes", index), node, guarded, visible[pk], forbidden)
        assert_no_other_errors(errors, forbidden)


@pytest.mark.parametrize(("email", "type_name"), NODE_CASES)
async def test_node_with_aliases(
    client: GraphQLClient, world: World, connection: AsyncConnection, email: str, type_name: str
) -> None:
    # given: node(id:) under aliases, every guarded field asked twice under aliases too
    expected = world.expected(email)
    visible = expected.ids(type_name)
    if not in_schema_of(expected, type_name):
        assert visible == {}  # the test above proves the type is not in the schema
        return
    guarded = guarded_on(type_name, expected)
    twice = " ".join(f"a_{g.name}: {g.selection} b_{g.name}: {g.selection}" for g in guarded)
    all_ids = list(range(1, await _max_id(connection, type_name) + 2))
    for start in range(0, len(all_ids), 50):
        chunk = all_ids[start : start + 50]
        query = (
            "query { "
            + " ".join(
                f'n{pk}: node(id: "{gid(type_name, pk)}") {{ ... on {type_name} {{ id {twice} }} }}'
                for pk in chunk
            )
            + " }"
        )
        # when
        result = await client(query, as_user=email)
        # then
        assert result.data is not None, result.errors
        errors = _errors_by_path(result)
        forbidden: set[tuple[Any, ...]] = set()
        for pk in chunk:
            node = result.data[f"n{pk}"]
            if pk not in visible:
                assert node is None, f"{type_name} {pk} must not exist for {email}"
                continue
            for prefix in ("a_", "b_"):
                check_guarded(errors, (f"n{pk}",), node, guarded, visible[pk], forbidden, prefix)
        assert_no_other_errors(errors, forbidden)


# --- every Node type: the other customer's objects do not exist ---------------------------------


async def _groups_of_objects(
    connection: AsyncConnection, world: World, type_name: str
) -> dict[int, set[int]]:
    """Per object, the customer groups it belongs to, for node types tied to accounts (directly,
    through a device or a stock location, or, for people, through their memberships)."""
    model = getattr(models, type_name, None)
    pairs: list[tuple[int, int | None]]
    if model is None:
        return {}
    if type_name == "User":
        users = await connection.execute(select(models.User.id))
        groups: dict[int, set[int]] = {pk: set() for (pk,) in users}
        for user_id, account_id in await connection.execute(
            select(models.Membership.user_id, models.Membership.account_id)
        ):
            groups[user_id].add(world.group(account_id))
        return groups
    if type_name == "Account" or hasattr(model, "account_id"):
        column = model.id if type_name == "Account" else model.account_id
        rows = await connection.execute(select(model.id, column))
        pairs = [(pk, account) for pk, account in rows]
    elif hasattr(model, "device_id"):
        rows = await connection.execute(select(model.id, model.device_id))
        pairs = [
            (pk, world.devices[d].account_id if d in world.devices else None) for pk, d in rows
        ]
    elif hasattr(model, "stock_location_id"):
        rows = await connection.execute(select(model.id, model.stock_location_id))
        pairs = [(pk, world.stock_locations.get(s)) for pk, s in rows]
    else:
        return {}
    return {pk: {world.group(a)} if a is not None else set() for pk, a in pairs}


CUSTOMERS = [e for e in USERS if e != "agent@vendor.example"]


@pytest.mark.parametrize("email", CUSTOMERS)
async def test_other_customers_objects_do_not_exist_by_any_node_type(
    client: GraphQLClient, world: World, connection: AsyncConnection, email: str
) -> None:
    expected = world.expected(email)
    mine = expected.groups()
    checked = 0
    for type_name in node_types():
        groups = await _groups_of_objects(connection, world, type_name)
        foreign = sorted(pk for pk, of in groups.items() if not of & mine)
        if not foreign:
            continue
        # given: a sample of other customers' objects of this type (every one for small tables)
        step = max(1, len(foreign) // 100)
        sample = foreign[::step][:100]
        ids = [gid(type_name, pk) for pk in sample]
        # when
        many = await client(
            "query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": ids}, as_user=email
        )
        one = await client(
            "query { "
            + " ".join(f'n{i}: node(id: "{v}") {{ id }}' for i, v in enumerate(ids[:20]))
            + " }",
            as_user=email,
        )
        # then
        assert many.data is not None and one.data is not None, (many.errors, one.errors)
        assert many.data["nodes"] == [None] * len(ids), type_name
        assert set(one.data.values()) == {None}, type_name
        assert all(c in ("FORBIDDEN", "UNAUTHENTICATED", None) for c in many.error_codes)
        checked += 1
    assert checked >= 4


QUERY_USERS = "query($ids: [ID!]!) { nodes(ids: $ids) { ... on User { id email } } }"


@pytest.mark.parametrize("email", USERS)
async def test_people_visible_by_node(
    client: GraphQLClient, world: World, connection: AsyncConnection, email: str
) -> None:
    # given: every user id
    expected = world.expected(email)
    users = dict((await connection.execute(select(models.User.id, models.User.email))).all())
    members = await connection.execute(
        select(models.Membership.account_id, models.Membership.user_id)
    )
    may_see_members = {
        a for a in world.parents if P.VIEW_MEMBERS in (expected.account(a) or frozenset())
    }
    visible = {u for a, u in members if a in may_see_members} | {
        pk for pk, e in users.items() if e == email
    }
    if expected.agent:
        visible = set(users)
    ids = sorted(users)
    # when
    result = await client(QUERY_USERS, {"ids": [gid("User", pk) for pk in ids]}, as_user=email)
    # then: oneself, the members of accounts whose members the viewer may see; nobody else
    assert not result.errors, result.errors
    got = {pk for pk, node in zip(ids, result.data["nodes"], strict=True) if node}
    assert got == visible


# --- nested paths -------------------------------------------------------------------------------


NESTED_DEVICE = """
  n{pk}: node(id: "{id}") {{
    ... on Device {{
      id
      account {{ id {account_guarded} devices(first: 100) {{ totalCount nodes {{ id {device_guarded} }} }} }}
      site {{ id account {{ id }} }}
    }}
  }}
"""


@pytest.mark.parametrize("email", USERS)
async def test_nested_device_account_devices(
    client: GraphQLClient, world: World, email: str
) -> None:
    # given: one visible device per account it is in (`device { account { devices } }`)
    expected = world.expected(email)
    visible_devices = expected.ids("Device")
    account_guarded = guarded_on("Account", expected)
    device_guarded = guarded_on("Device", expected)
    one_per_account: dict[int, int] = {}
    for pk in sorted(visible_devices):
        one_per_account.setdefault(world.devices[pk].account_id, pk)
    if not one_per_account:
        pytest.skip(f"{email} sees no device (the root list test proves it)")
    query = (
        "query {"
        + "".join(
            NESTED_DEVICE.format(
                pk=pk,
                id=gid("Device", pk),
                account_guarded=" ".join(g.selection for g in account_guarded),
                device_guarded=" ".join(g.selection for g in device_guarded),
            )
            for pk in one_per_account.values()
        )
        + "}"
    )
    # when
    result = await client(query, as_user=email)
    # then
    assert result.data is not None, result.errors
    errors = _errors_by_path(result)
    forbidden: set[tuple[Any, ...]] = set()
    for account_id, pk in one_per_account.items():
        device = result.data[f"n{pk}"]
        account_perms = expected.account(account_id)
        account = device["account"]
        site_account = device["site"]["account"] if device["site"] else None
        assert (site_account is None) == (account_perms is None)
        # the device's account exists for the viewer only if the policy lets it see it
        if account_perms is None:
            assert account is None
            continue
        assert pk_of(account["id"]) == account_id
        path = (f"n{pk}", "account")
        check_guarded(errors, path, account, account_guarded, account_perms, forbidden)
        # and that account's other devices: exactly the visible ones, nothing more
        inner = account["devices"]
        inner_ids = {pk_of(d["id"]) for d in inner["nodes"]}
        should = {d for d in visible_devices if world.devices[d].account_id == account_id}
        assert inner_ids == should
        assert inner["totalCount"] == len(should)
        for j, other in enumerate(inner["nodes"]):
            perms = visible_devices[pk_of(other["id"])]
            check_guarded(
                errors, (*path, "devices", "nodes", j), other, device_guarded, perms, forbidden
            )
    assert_no_other_errors(errors, forbidden)


QUERY_ACCOUNT_TREE = """
query { accounts(first: 100) { nodes { id parent { id } children { id } } } }
"""


@pytest.mark.parametrize("email", USERS)
async def test_account_hierarchy_shows_only_visible_accounts(
    client: GraphQLClient, world: World, email: str
) -> None:
    # given
    expected = world.expected(email)
    visible = set(expected.ids("Account"))
    # when
    result = await client(QUERY_ACCOUNT_TREE, as_user=email)
    if not in_schema_of(expected, "Query", "accounts"):
        assert_fails_validation(result)
        assert visible == set()
        return
    # then
    assert not result.errors, result.errors
    for account in result.data["accounts"]["nodes"]:
        pk = pk_of(account["id"])
        parent = world.parents[pk]
        assert (account["parent"] is not None) == (parent is not None and parent in visible)
        children = {pk_of(c["id"]) for c in account["children"]}
        assert children == {a for a, p in world.parents.items() if p == pk and a in visible}


# --- anonymous ------------------------------------------------------------------------------


async def test_anonymous_caller_cannot_even_ask_for_objects_by_id(
    client: GraphQLClient, world: World
) -> None:
    # given
    ids = [gid(t, pk) for t in ORACLE_TYPES for pk in range(1, 6)]
    # when
    many = await client("query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": ids})
    one = await client(f'{{ node(id: "{ids[0]}") {{ id }} }}')
    # then: `node` and `nodes` are not in an anonymous caller's schema: sign in first
    for result in (many, one):
        assert result.data is None
        assert result.error_codes == ["UNAUTHENTICATED"]


# --- viewer ----------------------------------------------------------------------------------


QUERY_VIEWER = """
query {
  viewer {
    authenticated
    user { email isAgent }
    memberships { role permissions %s }
    permissions
  }
}
"""


@pytest.mark.parametrize("email", USERS)
async def test_viewer_memberships_and_permissions(
    client: GraphQLClient, world: World, email: str
) -> None:
    # given
    expected = world.expected(email)
    from auth.policy import role_permissions

    # when: the membership's account is in the schemas of viewers that may see accounts
    sees_accounts = in_schema_of(expected, "ViewerMembership", "account")
    assert sees_accounts == (P.VIEW_ACCOUNT in expected.anywhere())
    account = "account { id name }" if sees_accounts else ""
    result = await client(QUERY_VIEWER % account, as_user=email)
    # then
    assert not result.errors, result.errors
    viewer = result.data["viewer"]
    assert viewer["authenticated"] is True
    assert viewer["user"] == {"email": email, "isAgent": expected.agent}
    assert sorted(viewer["permissions"]) == sorted(p.value for p in expected.anywhere())
    got = sorted(
        (m["role"], tuple(sorted(m["permissions"])), m.get("account") and m["account"]["name"])
        for m in viewer["memberships"]
    )
    want = sorted(
        (
            m.role.value,
            tuple(sorted(p.value for p in role_permissions(m.role))),
            # the account shows only to roles that may see it (a knowledge user may not)
            world.account_names[m.account_id] if expected.account(m.account_id) else None,
        )
        for m in expected.memberships
    )
    assert got == want
