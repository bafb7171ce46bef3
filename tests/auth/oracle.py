"""What each demo user should see and may do, computed straight from `auth.policy` and the
demo rows (no SQL filtering, no `resolvers.scoping`): the oracle the policy matrix tests
compare the API against."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from auth.policy import (
    AGENT_PERMISSIONS,
    ASSIGNED_DEVICE_PERMISSIONS,
    SUPPLIED_DEVICE_PERMISSIONS,
    Permission,
    role_permissions,
)
from models import (
    Account,
    Device,
    Membership,
    MembershipDevice,
    MembershipStockLocation,
    Site,
    StockLocation,
    User,
)
from models.enums import MembershipStatus, Role

P = Permission
Perms = frozenset[Permission]


@dataclass(frozen=True)
class DeviceFacts:
    account_id: int
    stock_location_id: int | None
    e_maintenance: bool


@dataclass(frozen=True)
class MembershipFacts:
    account_id: int
    role: Role
    device_ids: frozenset[int]
    stock_location_ids: frozenset[int]


@dataclass
class World:
    parents: dict[int, int | None] = field(default_factory=dict)
    account_names: dict[int, str] = field(default_factory=dict)
    devices: dict[int, DeviceFacts] = field(default_factory=dict)
    sites: dict[int, int] = field(default_factory=dict)
    stock_locations: dict[int, int] = field(default_factory=dict)
    users: dict[str, tuple[bool, list[MembershipFacts]]] = field(default_factory=dict)

    def descendants(self, account_id: int) -> set[int]:
        found = {account_id}
        changed = True
        while changed:
            more = {a for a, p in self.parents.items() if p in found} - found
            found |= more
            changed = bool(more)
        return found

    def group(self, account_id: int) -> int:
        while (parent := self.parents[account_id]) is not None:
            account_id = parent
        return account_id

    def expected(self, email: str) -> Expected:
        agent, memberships = self.users[email]
        account_perms: dict[int, Perms] = {}
        for m in memberships:
            perms = role_permissions(m.role)
            reach = (
                self.descendants(m.account_id) if P.VIEW_SUB_ACCOUNTS in perms else {m.account_id}
            )
            for account_id in reach:
                account_perms[account_id] = account_perms.get(account_id, frozenset()) | perms
        return Expected(self, agent, memberships, account_perms)


@dataclass
class Expected:
    """None: the object does not exist for this viewer; else the permissions held on it."""

    world: World
    agent: bool
    memberships: list[MembershipFacts]
    account_perms: dict[int, Perms]

    def anywhere(self) -> Perms:
        if self.agent:
            return AGENT_PERMISSIONS
        held: Perms = frozenset()
        for perms in self.account_perms.values():
            held |= perms
        return held

    def groups(self) -> set[int]:
        """The customer groups this viewer belongs to (by any membership)."""
        return {self.world.group(m.account_id) for m in self.memberships}

    def account(self, account_id: int) -> Perms | None:
        if self.agent:
            return AGENT_PERMISSIONS
        perms = self.account_perms.get(account_id, frozenset())
        return perms if P.VIEW_ACCOUNT in perms else None

    def site(self, site_id: int) -> Perms | None:
        return self.account(self.world.sites[site_id])

    def device(self, device_id: int) -> Perms | None:
        if self.agent:
            return AGENT_PERMISSIONS
        facts = self.world.devices[device_id]
        on_account = self.account_perms.get(facts.account_id, frozenset())
        visible = P.VIEW_ALL_DEVICES in on_account
        perms = set(on_account) if visible else set()
        for m in self.memberships:
            if m.account_id != facts.account_id:
                continue
            role = role_permissions(m.role)
            if P.VIEW_ASSIGNED_DEVICES in role and device_id in m.device_ids:
                visible = True
                perms |= role & ASSIGNED_DEVICE_PERMISSIONS
            if (
                P.VIEW_SUPPLIED_DEVICES in role
                and facts.e_maintenance
                and facts.stock_location_id in m.stock_location_ids
            ):
                visible = True
                perms |= role & SUPPLIED_DEVICE_PERMISSIONS
        return frozenset(perms) if visible else None

    def stock_location(self, location_id: int) -> Perms | None:
        if self.agent:
            return AGENT_PERMISSIONS
        account_id = self.world.stock_locations[location_id]
        on_account = self.account_perms.get(account_id, frozenset())
        visible = P.VIEW_ALL_STOCK_LOCATIONS in on_account
        perms = set(on_account) if visible else set()
        for m in self.memberships:
            role = role_permissions(m.role)
            if (
                m.account_id == account_id
                and P.VIEW_ASSIGNED_STOCK_LOCATIONS in role
                and location_id in m.stock_location_ids
            ):
                visible = True
                perms |= role
        return frozenset(perms) if visible else None

    def of(self, type_name: str, pk: int) -> Perms | None:
        return {
            "Account": self.account,
            "Site": self.site,
            "Device": self.device,
            "StockLocation": self.stock_location,
        }[type_name](pk)

    def ids(self, type_name: str) -> dict[int, Perms]:
        table = {
            "Account": self.world.parents,
            "Site": self.world.sites,
            "Device": self.world.devices,
            "StockLocation": self.world.stock_locations,
        }[type_name]
        found = {pk: self.of(type_name, pk) for pk in table}
        return {pk: perms for pk, perms in found.items() if perms is not None}


ORACLE_TYPES = ("Account", "Site", "Device", "StockLocation")


async def load_world(connection: AsyncConnection) -> World:
    world = World()
    for pk, parent, name in await connection.execute(
        select(Account.id, Account.parent_id, Account.name)
    ):
        world.parents[pk] = parent
        world.account_names[pk] = name
    for pk, account_id, location_id, e_maintenance in await connection.execute(
        select(Device.id, Device.account_id, Device.stock_location_id, Device.e_maintenance)
    ):
        world.devices[pk] = DeviceFacts(account_id, location_id, bool(e_maintenance))
    world.sites = dict((await connection.execute(select(Site.id, Site.account_id))).all())  # type: ignore[arg-type]
    world.stock_locations = dict(
        (await connection.execute(select(StockLocation.id, StockLocation.account_id))).all()  # type: ignore[arg-type]
    )
    assigned_devices: dict[int, set[int]] = {}
    for mid, device_id in await connection.execute(
        select(MembershipDevice.membership_id, MembershipDevice.device_id)
    ):
        assigned_devices.setdefault(mid, set()).add(device_id)
    assigned_locations: dict[int, set[int]] = {}
    for mid, location_id in await connection.execute(
        select(MembershipStockLocation.membership_id, MembershipStockLocation.stock_location_id)
    ):
        assigned_locations.setdefault(mid, set()).add(location_id)
    users: dict[int, tuple[str, bool]] = {
        pk: (email, bool(agent))
        for pk, email, agent in await connection.execute(
            select(User.id, User.email, User.is_agent).where(User.is_active)
        )
    }
    for _, (email, agent) in users.items():
        world.users[email] = (agent, [])
    for mid, user_id, account_id, role in await connection.execute(
        select(Membership.id, Membership.user_id, Membership.account_id, Membership.role).where(
            Membership.status == MembershipStatus.ACTIVE
        )
    ):
        if user_id in users:
            world.users[users[user_id][0]][1].append(
                MembershipFacts(
                    account_id,
                    Role(role),
                    frozenset(assigned_devices.get(mid, ())),
                    frozenset(assigned_locations.get(mid, ())),
                )
            )
    return world
