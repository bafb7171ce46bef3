"""What a field or mutation requires, and the audiences that may be granted it.

A field declares one `Requirement`; the schema a caller receives holds exactly the fields whose
requirement its `Audience` (everything it holds anywhere) can meet. The declaration also writes
the "Requires: …" sentence into the field's description, so schema and documentation agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from auth.policy import (
    AGENT_PERMISSIONS,
    CLIENT_SCOPES,
    Permission,
    client_permissions,
    role_permissions,
    roles_granting,
)
from models.enums import Role


@dataclass(frozen=True)
class Audience:
    """The permissions a caller holds on at least one object (or globally), whether it is
    signed in, and whether it is a person (not a machine client): what decides which schema it
    sees."""

    permissions: frozenset[Permission] = frozenset()
    signed_in: bool = False
    person: bool = False

    @classmethod
    def of_roles(cls, roles: Iterable[Role]) -> Audience:
        held: frozenset[Permission] = frozenset()
        for role in roles:
            held |= role_permissions(role)
        return cls(held, signed_in=True, person=True)

    @classmethod
    def of_client(cls, scopes: Iterable[str]) -> Audience:
        return cls(client_permissions(scopes), signed_in=True)


ANONYMOUS_AUDIENCE = Audience()
AGENT_AUDIENCE = Audience(AGENT_PERMISSIONS, signed_in=True, person=True)
# Whoever could hold anything: the schema every other one is cut from.
FULL_AUDIENCE = Audience(frozenset(Permission), signed_in=True, person=True)


def named_audiences() -> dict[str, Audience]:
    """One audience per role, the agent, each machine-client scope and anonymous callers: the
    per-audience SDL files are exported under these names."""
    named = {role.value: Audience.of_roles([role]) for role in Role}
    named["AGENT"] = AGENT_AUDIENCE
    named.update({scope: Audience.of_client([scope]) for scope in CLIENT_SCOPES})
    named["ANONYMOUS"] = ANONYMOUS_AUDIENCE
    return named


@dataclass(frozen=True)
class Requirement:
    """Open to anyone (no permission, not signed in), to anyone signed in (or any signed-in
    person), or to whoever holds one of `any_of` on the object at hand (on at least one object,
    for root fields)."""

    any_of: frozenset[Permission] = frozenset()
    signed_in: bool = False
    person: bool = False

    def admits(self, audience: Audience) -> bool:
        """Whether a caller with this audience can ever meet the requirement."""
        if self.person and not audience.person:
            return False
        if self.any_of:
            return not self.any_of.isdisjoint(audience.permissions)
        return audience.signed_in or not self.signed_in

    def met_by(self, granted: frozenset[Permission]) -> bool:
        """Whether these permissions (on one object, or anywhere) meet it."""
        return not self.any_of or not self.any_of.isdisjoint(granted)

    @property
    def sorted_permissions(self) -> list[Permission]:
        order = list(Permission)
        return sorted(self.any_of, key=order.index)

    def text(self) -> str:
        """The sentence appended to the description of the field that declares it."""
        if not self.any_of:
            if self.person:
                return "Requires: a signed-in person (not a machine client)."
            return "Requires: signing in." if self.signed_in else "Open to anonymous callers."
        parts = [
            f"{p.value} ({', '.join(roles_granting(p)) or 'nobody'})"
            for p in self.sorted_permissions
        ]
        if len(parts) == 1:
            return f"Requires: {parts[0]}."
        return f"Requires one of: {'; '.join(parts)}."


PUBLIC = Requirement()
SIGNED_IN = Requirement(signed_in=True)
PERSON = Requirement(signed_in=True, person=True)


def requires(*permissions: Permission) -> Requirement:
    """One of `permissions` (a single one, usually)."""
    if not permissions:
        raise ValueError("name at least one permission (or use PUBLIC / SIGNED_IN)")
    return Requirement(frozenset(Permission(p) for p in permissions), signed_in=True)


# What makes each kind of row visible at all (`resolvers.scoping` applies the same reach per
# row): lists and relations of that kind exist only for audiences holding one of these.
SEES_ACCOUNTS = requires(Permission.VIEW_ACCOUNT, Permission.VIEW_ALL_ACCOUNTS)
SEES_DEVICES = requires(
    Permission.VIEW_ALL_DEVICES,
    Permission.VIEW_ASSIGNED_DEVICES,
    Permission.VIEW_SUPPLIED_DEVICES,
    Permission.VIEW_ALL_ACCOUNTS,
)
SEES_STOCK_LOCATIONS = requires(
    Permission.VIEW_ALL_STOCK_LOCATIONS,
    Permission.VIEW_ASSIGNED_STOCK_LOCATIONS,
    Permission.VIEW_ALL_ACCOUNTS,
)
