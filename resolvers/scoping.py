"""The one place rows are filtered to what a viewer may see.

A `Scope` is computed from the viewer's memberships and the policy table in `auth.policy`; it
turns into SQL clauses (applied inside every root list, loader and node lookup) and into the
permissions the viewer holds on one object. A person's scope is kept per process
(`ScopeCache`) and used again while its versions read the same (one small statement per
request instead of one or two and the building).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, cast

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    CompoundSelect,
    Select,
    Table,
    and_,
    bindparam,
    false,
    inspect,
    literal,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from auth.policy import (
    AGENT_PERMISSIONS,
    ASSIGNED_DEVICE_PERMISSIONS,
    CLIENT_SCOPES,
    SUPPLIED_DEVICE_PERMISSIONS,
    Permission,
    client_permissions,
    role_permissions,
)
from auth.principal import Principal
from auth.requirements import Audience
from models import (
    Account,
    ApiClient,
    Device,
    Membership,
    MembershipDevice,
    MembershipStockLocation,
    ScopeEpoch,
    StockLocation,
    Ticket,
    User,
    Webhook,
)
from models.enums import MembershipStatus, Role

P = Permission


@dataclass(frozen=True)
class Grant:
    """One active membership, with what its role permits and what is assigned to it."""

    membership_id: int
    account_id: int
    role: Role
    permissions: frozenset[Permission]
    device_ids: frozenset[int] = frozenset()
    stock_location_ids: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Scope:
    principal: Principal
    user: User | None = None
    client: ApiClient | None = None
    global_permissions: frozenset[Permission] = frozenset()
    grants: tuple[Grant, ...] = ()
    # Per account (sub-accounts included where the role reaches them): the permissions held.
    account_permissions: Mapping[int, frozenset[Permission]] = field(default_factory=dict)
    # Names this scope's clauses in caches of statements built from them (a cached scope serves
    # many requests: `resolvers.pagination.paginate(shape=...)`); shared by the copies
    # `replace` makes, which have the same clauses.
    statements_key: object = field(default_factory=object, compare=False, repr=False)

    # --- who -------------------------------------------------------------------------------

    @property
    def is_authenticated(self) -> bool:
        return self.user is not None or self.client is not None

    @property
    def user_id(self) -> int | None:
        return self.user.id if self.user is not None else None

    @property
    def is_global(self) -> bool:
        return P.VIEW_ALL_ACCOUNTS in self.global_permissions

    # --- what may be done -------------------------------------------------------------------

    def permissions_on_account(self, account_id: int) -> frozenset[Permission]:
        return self.global_permissions | self.account_permissions.get(account_id, frozenset())

    @property
    def audience(self) -> Audience:
        """Everything held on at least one object or globally: which schema the viewer sees."""
        held = set(self.global_permissions)
        for grant in self.grants:
            held |= grant.permissions
        for permissions in self.account_permissions.values():
            held |= permissions
        return Audience(
            frozenset(held), signed_in=self.is_authenticated, person=self.user is not None
        )

    def holds_anywhere(self, permission: Permission) -> bool:
        """For root fields and buttons: does any account (or a global grant) give it?"""
        return permission in self.global_permissions or any(
            permission in perms for perms in self.account_permissions.values()
        )

    def accounts_with(self, permission: Permission) -> frozenset[int]:
        return frozenset(a for a, perms in self.account_permissions.items() if permission in perms)

    def device_permissions(
        self, *, account_id: int, device_id: int, stock_location_id: int | None, e_maintenance: bool
    ) -> frozenset[Permission]:
        """What the viewer may do on one device, by the path that makes it visible."""
        perms = set(self.global_permissions)
        account_perms = self.account_permissions.get(account_id, frozenset())
        if P.VIEW_ALL_DEVICES in account_perms:
            perms |= account_perms
        for grant in self.grants:
            if grant.account_id != account_id:
                continue
            if P.VIEW_ASSIGNED_DEVICES in grant.permissions and device_id in grant.device_ids:
                perms |= grant.permissions & ASSIGNED_DEVICE_PERMISSIONS
            if (
                P.VIEW_SUPPLIED_DEVICES in grant.permissions
                and e_maintenance
                and stock_location_id in grant.stock_location_ids
            ):
                perms |= grant.permissions & SUPPLIED_DEVICE_PERMISSIONS
        return frozenset(perms)

    def permissions_on_device(self, device: Device) -> frozenset[Permission]:
        return self.device_permissions(
            account_id=device.account_id,
            device_id=device.id,
            stock_location_id=device.stock_location_id,
            e_maintenance=device.e_maintenance,
        )

    def stock_location_permissions(self, location: StockLocation) -> frozenset[Permission]:
        perms = set(self.global_permissions)
        account_perms = self.account_permissions.get(location.account_id, frozenset())
        if P.VIEW_ALL_STOCK_LOCATIONS in account_perms:
            perms |= account_perms
        for grant in self.grants:
            if (
                grant.account_id == location.account_id
                and P.VIEW_ASSIGNED_STOCK_LOCATIONS in grant.permissions
                and location.id in grant.stock_location_ids
            ):
                perms |= grant.permissions
        return frozenset(perms)

    # --- which rows may be seen (SQL) ------------------------------------------------------

    def accounts_clause(self, column: Any = Account.id) -> ColumnElement[bool]:
        """Accounts the viewer sees; with `column`, rows whose account (that column) it sees."""
        if self.is_global:
            return true()
        return _in(column, self.accounts_with(P.VIEW_ACCOUNT))

    def _assigned(
        self,
        reach: Permission,
        attribute: str,
        account: Any,
        column: Any,
        *extra: Any,
        also: Permission | None = None,
    ) -> list[ColumnElement[bool]]:
        """Per membership: its assigned ids, and only within its own account (an assignment
        that names another account's object grants nothing, as `device_permissions` says)."""
        clauses = []
        for grant in self.grants:
            ids = sorted(getattr(grant, attribute))
            if reach in grant.permissions and ids and (also is None or also in grant.permissions):
                clauses.append(and_(account == grant.account_id, column.in_(ids), *extra))
        return clauses

    def devices_clause(self, requiring: Permission | None = None) -> ColumnElement[bool]:
        """Devices the viewer sees; with `requiring`, only those on which the path that makes
        them visible also grants that permission (e.g. filtering on reading data)."""
        if self.is_global:
            return true() if requiring in (None, *self.global_permissions) else false()

        def grants(path: frozenset[Permission]) -> bool:
            return requiring is None or requiring in path

        all_devices = self.accounts_with(P.VIEW_ALL_DEVICES)
        if requiring is not None:
            all_devices &= self.accounts_with(requiring)
        clauses = [_in(Device.account_id, all_devices)]
        if grants(ASSIGNED_DEVICE_PERMISSIONS):
            clauses += self._assigned(
                P.VIEW_ASSIGNED_DEVICES, "device_ids", Device.account_id, Device.id, also=requiring
            )
        if grants(SUPPLIED_DEVICE_PERMISSIONS):
            clauses += self._assigned(
                P.VIEW_SUPPLIED_DEVICES,
                "stock_location_ids",
                Device.account_id,
                Device.stock_location_id,
                Device.e_maintenance.is_(True),
                also=requiring,
            )
        return _any(*clauses)

    def stock_locations_clause(self) -> ColumnElement[bool]:
        if self.is_global:
            return true()
        return _any(
            _in(StockLocation.account_id, self.accounts_with(P.VIEW_ALL_STOCK_LOCATIONS)),
            *self._assigned(
                P.VIEW_ASSIGNED_STOCK_LOCATIONS,
                "stock_location_ids",
                StockLocation.account_id,
                StockLocation.id,
            ),
        )

    def tickets_clause(self) -> ColumnElement[bool]:
        """Tickets of visible devices (for roles that see tickets) and account questions of
        accounts the viewer may ask about."""
        if self.is_global and P.VIEW_TICKETS in self.global_permissions:
            return true()
        ticket_accounts = self.accounts_with(P.VIEW_ALL_DEVICES) & self.accounts_with(
            P.VIEW_TICKETS
        )
        return _any(
            _in(Ticket.account_id, ticket_accounts),
            *self._assigned(
                P.VIEW_ASSIGNED_DEVICES,
                "device_ids",
                Ticket.account_id,
                Ticket.device_id,
                also=P.VIEW_TICKETS,
            ),
        )

    def webhooks_clause(self) -> ColumnElement[bool]:
        """Webhooks the viewer manages: those of the accounts (sub-accounts included where the
        role reaches them) on which it holds MANAGE_WEBHOOKS; agents: all, the every-account
        ones included."""
        if P.MANAGE_WEBHOOKS in self.global_permissions:
            return true()
        return _in(Webhook.account_id, self.accounts_with(P.MANAGE_WEBHOOKS))

    def users_clause(self) -> ColumnElement[bool]:
        """People: oneself, and the members (any membership status) of accounts whose members
        the viewer may see; agents see everyone."""
        if P.VIEW_MEMBERS in self.global_permissions:
            return true()
        accounts = sorted(self.accounts_with(P.VIEW_MEMBERS))
        return _any(
            User.id == self.user_id if self.user_id is not None else false(),
            User.id.in_(select(Membership.user_id).where(Membership.account_id.in_(accounts)))
            if accounts
            else false(),
        )


def _in(column: Any, ids: Iterable[int]) -> ColumnElement[bool]:
    ids = sorted(ids)
    return column.in_(ids) if ids else false()


def _any(*clauses: ColumnElement[bool]) -> ColumnElement[bool]:
    kept = [c for c in clauses if c is not false() and not _is_false(c)]
    return or_(*kept) if kept else false()


def _is_false(clause: ColumnElement[bool]) -> bool:
    return clause.compare(false())


_ASSIGNMENT_REACH = frozenset(
    {P.VIEW_ASSIGNED_DEVICES, P.VIEW_ASSIGNED_STOCK_LOCATIONS, P.VIEW_SUPPLIED_DEVICES}
)


def _epoch() -> Any:
    epoch = cast(Table, ScopeEpoch.__table__)
    return select(epoch.c.version).where(epoch.c.id == 1).scalar_subquery()


def _user_reach() -> Select[Any]:
    """One statement: the user, its active memberships, and the accounts below each
    membership's account (used for the roles that reach sub-accounts; the trees are a few
    rows); and the versions a cached scope is kept under (`ScopeCache`), read with them."""
    user_id: BindParameter[int] = bindparam("user_id")
    active = and_(Membership.user_id == User.id, Membership.status == MembershipStatus.ACTIVE)
    below = (
        select(Membership.id.label("membership_id"), Membership.account_id.label("account_id"))
        .where(Membership.user_id == user_id, Membership.status == MembershipStatus.ACTIVE)
        .cte("reach", recursive=True)
    )
    below = below.union_all(
        select(below.c.membership_id, Account.id).join(
            Account, Account.parent_id == below.c.account_id
        )
    )
    return (
        select(
            User,
            Membership.id,
            Membership.account_id,
            Membership.role,
            below.c.account_id,
            _epoch(),
        )
        .outerjoin(Membership, active)
        .outerjoin(
            below,
            and_(
                below.c.membership_id == Membership.id,
                below.c.account_id != Membership.account_id,
            ),
        )
        .where(User.id == user_id, User.is_active)
    )


def _assignments() -> CompoundSelect[Any]:
    """The devices and stock locations assigned to the given memberships."""
    ids: BindParameter[list[int]] = bindparam("membership_ids", expanding=True)
    return union_all(
        select(MembershipDevice.membership_id, MembershipDevice.device_id, literal(0)).where(
            MembershipDevice.membership_id.in_(ids)
        ),
        select(
            MembershipStockLocation.membership_id,
            MembershipStockLocation.stock_location_id,
            literal(1),
        ).where(MembershipStockLocation.membership_id.in_(ids)),
    )


# Built once: constructing them cost about 0.5 ms of every signed-in request (bench/README.md).
_USER_REACH = _user_reach()
_ASSIGNMENTS = _assignments()


async def build_scope(principal: Principal, session: AsyncSession) -> Scope:
    """Two statements at most for a customer (the second only for roles that reach objects
    through assignments), one for an agent or a machine client."""
    return (await _build_scope(principal, session))[0]


Versions = tuple[int, int]


async def _build_scope(
    principal: Principal, session: AsyncSession
) -> tuple[Scope, Versions | None]:
    """The scope, and for a person the versions read with its first statement (none when the
    user is unknown or deactivated: nothing to keep)."""
    if principal.api_client_id is not None:
        client = await session.scalar(
            select(ApiClient).where(ApiClient.id == principal.api_client_id, ApiClient.is_active)
        )
        if client is None:
            return Scope(principal=principal), None
        return Scope(
            principal=principal,
            client=client,
            global_permissions=client_permissions(s for s in client.scopes if s in CLIENT_SCOPES),
        ), None
    if principal.user_id is None:
        return Scope(principal=principal), None

    rows = (await session.execute(_USER_REACH, {"user_id": principal.user_id})).all()
    if not rows:
        return Scope(principal=principal), None
    user = rows[0][0]
    versions = (user.scope_version, rows[0][5])
    if user.is_agent:
        return Scope(principal=principal, user=user, global_permissions=AGENT_PERMISSIONS), versions
    memberships = list(
        dict.fromkeys((mid, acc, role) for _, mid, acc, role, _, _ in rows if mid is not None)
    )
    if not memberships:
        return Scope(principal=principal, user=user), versions
    descendants: dict[int, list[int]] = {}
    for _, mid, _, _, reached, _ in rows:
        if reached is not None:
            descendants.setdefault(mid, []).append(reached)

    membership_ids = [mid for mid, _, _ in memberships]
    assigned_devices: dict[int, set[int]] = {mid: set() for mid in membership_ids}
    assigned_locations: dict[int, set[int]] = {mid: set() for mid in membership_ids}
    # Only roles that reach objects through assignments need them read.
    membership_ids = [
        mid for mid, _, role in memberships if role_permissions(role) & _ASSIGNMENT_REACH
    ]
    assignment_rows: Iterable[Any] = (
        []
        if not membership_ids
        else await session.execute(_ASSIGNMENTS, {"membership_ids": membership_ids})
    )
    for mid, object_id, kind in assignment_rows:
        (assigned_locations if kind else assigned_devices)[mid].add(object_id)

    grants = tuple(
        Grant(
            membership_id=mid,
            account_id=account_id,
            role=role,
            permissions=role_permissions(role),
            device_ids=frozenset(assigned_devices[mid]),
            stock_location_ids=frozenset(assigned_locations[mid]),
        )
        for mid, account_id, role in memberships
    )
    account_permissions: dict[int, frozenset[Permission]] = {}
    for grant in grants:
        account_permissions[grant.account_id] = (
            account_permissions.get(grant.account_id, frozenset()) | grant.permissions
        )
    reaching_down = [g for g in grants if P.VIEW_SUB_ACCOUNTS in g.permissions]
    roots = {g.account_id for g in reaching_down}
    for grant in reaching_down:
        for descendant_id in descendants.get(grant.membership_id, ()):
            if descendant_id not in roots:
                account_permissions[descendant_id] = (
                    account_permissions.get(descendant_id, frozenset()) | grant.permissions
                )
    return Scope(
        principal=principal, user=user, grants=grants, account_permissions=account_permissions
    ), versions


_USER_COLUMNS = tuple(c.key for c in inspect(User).column_attrs)


def _detached(user: User) -> User:
    return User(**{key: getattr(user, key) for key in _USER_COLUMNS})


def _versions() -> Select[Any]:
    """The viewer's scope version and the account tree's epoch (migration d5a8e3c1f742); on
    the Core tables (no ORM entity to load)."""
    users = cast(Table, User.__table__)
    return select(users.c.scope_version, _epoch()).where(users.c.id == bindparam("user_id"))


_VERSIONS = _versions()


class ScopeCache:
    """People's scopes, kept in this process (one cache per app) and used again while the
    person's `users.scope_version` and the account tree's epoch read what they read when the
    scope was built. Triggers change them in the very transaction that changes a user, its
    memberships or assignments, or the account tree, so a change committed before a request
    starts is seen by that request, in every process.

    A scope is built with the versions read by its first statement (one snapshot): a change
    committing before its second statement leaves a newer scope under older versions, which
    the next request rebuilds; never an older scope under newer versions. A known viewer costs
    one small statement (the versions) when they still hold. Machine clients are not cached (their scope is their one row, read anyway)."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._entries: OrderedDict[int, tuple[tuple[int, int], Scope]] = OrderedDict()

    async def scope(
        self,
        principal: Principal,
        session: Callable[[], AsyncSession],
        read: Callable[[Any, dict[str, Any]], Awaitable[Any]] | None,
    ) -> Scope:
        """`session`: the operation's session, opened only when it is needed: a known viewer's
        versions are read by `read` outside any transaction (`AppServices.read_outside`; in
        the session when there is none)."""
        user_id = principal.user_id
        if user_id is None or principal.api_client_id is not None:
            return await build_scope(principal, session())
        entry = self._entries.get(user_id)
        if entry is not None:
            parameters = {"user_id": user_id}
            row = (
                await read(_VERSIONS, parameters)
                if read is not None
                else (await session().execute(_VERSIONS, parameters)).first()
            )
            if row is not None and (row[0], row[1]) == entry[0]:
                self._entries.move_to_end(user_id)
                cached = entry[1]
                if cached.principal == principal:
                    return cached
                return replace(cached, principal=principal)
            del self._entries[user_id]
        scope, versions = await _build_scope(principal, session())
        if versions is None or scope.user is None:
            return scope
        # Later requests share a copy of the user's row in no session (no rollback expires it;
        # this request keeps its session's row, which its own code may be changing).
        self._entries[user_id] = (versions, replace(scope, user=_detached(scope.user)))
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return scope
