"""Which schema a demo user gets, read from the demo data and the policy table (not from the
code that cuts the schemas), for tests that ask each user only what its schema holds."""

from __future__ import annotations

from graphql import GraphQLObjectType

from auth.policy import AGENT_PERMISSIONS, Permission, role_permissions
from auth.requirements import Audience
from demo.fleet import DEMO_USERS
from schema.root import schema


def held_anywhere(email: str) -> frozenset[Permission]:
    """A role's permissions reach its account and, for administrators, the sub-accounts: the
    union over the user's memberships (an agent's: the agent's)."""
    for demo_email, _, _, agent, memberships in DEMO_USERS:
        if demo_email == email:
            if agent:
                return AGENT_PERMISSIONS
            held: frozenset[Permission] = frozenset()
            for _, role in memberships:
                held |= role_permissions(role)
            return held
    raise KeyError(email)


def audience_of(email: str) -> Audience:
    return Audience(held_anywhere(email), signed_in=True, person=True)


def fields_of(email: str, type_name: str) -> set[str]:
    """The fields of a type in this user's schema (none when the type is not in it)."""
    found = schema.for_audience(audience_of(email))._schema.get_type(type_name)
    return set(found.fields) if isinstance(found, GraphQLObjectType) else set()


def only_known(email: str, type_name: str, selection: str) -> str:
    """The lines of a selection whose field (first word) is in the user's schema."""
    known = fields_of(email, type_name)
    lines = [
        line for line in selection.strip().splitlines() if line.split()[0].split("(")[0] in known
    ]
    return "\n".join(lines)
