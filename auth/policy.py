"""The access policy: the one table of who may do and see what.

Customer roles hold permissions per account membership; vendor agents and machine clients hold
theirs globally. Which objects a role reaches (all devices of an account, assigned ones, the ones
its stock locations supply) is itself a permission, read by `resolvers.scoping`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from models.enums import OPEN_TICKET_STATUSES, Role, TicketStatus
from models.enums import TicketStatus as S


class Permission(enum.StrEnum):
    # reach: which rows a membership makes visible
    VIEW_ACCOUNT = "VIEW_ACCOUNT"
    VIEW_SUB_ACCOUNTS = "VIEW_SUB_ACCOUNTS"
    VIEW_ALL_DEVICES = "VIEW_ALL_DEVICES"
    VIEW_ASSIGNED_DEVICES = "VIEW_ASSIGNED_DEVICES"
    VIEW_SUPPLIED_DEVICES = "VIEW_SUPPLIED_DEVICES"
    VIEW_ALL_STOCK_LOCATIONS = "VIEW_ALL_STOCK_LOCATIONS"
    VIEW_ASSIGNED_STOCK_LOCATIONS = "VIEW_ASSIGNED_STOCK_LOCATIONS"
    VIEW_ALL_ACCOUNTS = "VIEW_ALL_ACCOUNTS"
    # reads
    VIEW_CONTRACTS = "VIEW_CONTRACTS"
    VIEW_METER_READINGS = "VIEW_METER_READINGS"
    VIEW_TICKETS = "VIEW_TICKETS"
    VIEW_TONER_LEVELS = "VIEW_TONER_LEVELS"
    VIEW_STOCK_LEVELS = "VIEW_STOCK_LEVELS"
    VIEW_MEMBERS = "VIEW_MEMBERS"
    VIEW_USAGE_ANALYTICS = "VIEW_USAGE_ANALYTICS"
    READ_KNOWLEDGE = "READ_KNOWLEDGE"
    # writes
    UPDATE_DEVICE = "UPDATE_DEVICE"
    SUBMIT_METER_READINGS = "SUBMIT_METER_READINGS"
    CREATE_TICKETS = "CREATE_TICKETS"
    REQUEST_DEVICE_CHANGES = "REQUEST_DEVICE_CHANGES"
    UPDATE_ACCOUNT = "UPDATE_ACCOUNT"
    ASK_ACCOUNT_QUESTIONS = "ASK_ACCOUNT_QUESTIONS"
    MANAGE_USERS = "MANAGE_USERS"
    MANAGE_STOCK_LOCATIONS = "MANAGE_STOCK_LOCATIONS"
    MANAGE_WEBHOOKS = "MANAGE_WEBHOOKS"
    # vendor only
    VIEW_CREDIT_STATUS = "VIEW_CREDIT_STATUS"
    VIEW_PAYMENTS = "VIEW_PAYMENTS"
    VIEW_INTERNAL_NOTES = "VIEW_INTERNAL_NOTES"
    WORK_TICKETS = "WORK_TICKETS"
    CORRECT_METER_READINGS = "CORRECT_METER_READINGS"
    MANAGE_KNOWLEDGE = "MANAGE_KNOWLEDGE"
    MANAGE_REPLENISHMENT = "MANAGE_REPLENISHMENT"
    # machine clients (e-Maintenance)
    REPORT_METER_READINGS = "REPORT_METER_READINGS"
    REPORT_TONER_LEVELS = "REPORT_TONER_LEVELS"


P = Permission

_DEVICE_WORK = frozenset(
    {
        P.VIEW_ACCOUNT,
        P.VIEW_ASSIGNED_DEVICES,
        P.VIEW_CONTRACTS,
        P.VIEW_METER_READINGS,
        P.VIEW_TICKETS,
        P.VIEW_TONER_LEVELS,
        P.UPDATE_DEVICE,
        P.SUBMIT_METER_READINGS,
        P.CREATE_TICKETS,
        P.REQUEST_DEVICE_CHANGES,
        P.READ_KNOWLEDGE,
    }
)
_STOCK_WORK = frozenset(
    {
        P.VIEW_ACCOUNT,
        P.VIEW_ASSIGNED_STOCK_LOCATIONS,
        P.VIEW_SUPPLIED_DEVICES,
        P.VIEW_TONER_LEVELS,
        P.VIEW_STOCK_LEVELS,
        P.MANAGE_STOCK_LOCATIONS,
        P.READ_KNOWLEDGE,
    }
)

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMINISTRATOR: (
        _DEVICE_WORK
        | _STOCK_WORK
        | {
            P.VIEW_SUB_ACCOUNTS,
            P.VIEW_ALL_DEVICES,
            P.VIEW_ALL_STOCK_LOCATIONS,
            P.VIEW_MEMBERS,
            P.VIEW_USAGE_ANALYTICS,
            P.UPDATE_ACCOUNT,
            P.ASK_ACCOUNT_QUESTIONS,
            P.MANAGE_USERS,
            P.MANAGE_WEBHOOKS,
        }
    )
    - {P.VIEW_ASSIGNED_DEVICES, P.VIEW_ASSIGNED_STOCK_LOCATIONS, P.VIEW_SUPPLIED_DEVICES},
    Role.DEVICE_MANAGER: _DEVICE_WORK,
    Role.STOCK_MANAGER: _STOCK_WORK,
    Role.DEVICE_STOCK_MANAGER: _DEVICE_WORK | _STOCK_WORK,
    Role.KNOWLEDGE_USER: frozenset({P.READ_KNOWLEDGE}),
}

# The role the first confirmed person of an account nobody administers receives.
FIRST_USER_ROLE: Role = Role.ADMINISTRATOR
# Stored on an access request until an administrator chooses the role (grants nothing: a
# pending membership is not in any scope).
ACCESS_REQUEST_ROLE: Role = Role.KNOWLEDGE_USER

# What a role grants on a device it reaches only through an assignment or a supplying stock
# location (an administrator's reach is the whole account, so all its permissions apply).
ASSIGNED_DEVICE_PERMISSIONS: frozenset[Permission] = _DEVICE_WORK - {P.VIEW_ACCOUNT}
SUPPLIED_DEVICE_PERMISSIONS: frozenset[Permission] = frozenset({P.VIEW_TONER_LEVELS})

AGENT_PERMISSIONS: frozenset[Permission] = frozenset(Permission) - {
    P.VIEW_ASSIGNED_DEVICES,
    P.VIEW_ASSIGNED_STOCK_LOCATIONS,
    P.VIEW_SUPPLIED_DEVICES,
    P.REPORT_METER_READINGS,
    P.REPORT_TONER_LEVELS,
    # Agents act for the vendor; customers raise their own tickets and readings.
    P.SUBMIT_METER_READINGS,
    P.MANAGE_USERS,
}

# Scopes a machine credential may be given; each maps to exactly the permissions it names.
CLIENT_SCOPES: dict[str, frozenset[Permission]] = {
    "meter_readings:report": frozenset({P.REPORT_METER_READINGS}),
    "toner_levels:report": frozenset({P.REPORT_TONER_LEVELS}),
    "analytics:read": frozenset({P.VIEW_ALL_ACCOUNTS, P.VIEW_USAGE_ANALYTICS}),
}


# Who may move a ticket from which status to which.
AGENT_TRANSITIONS: dict[TicketStatus, frozenset[TicketStatus]] = {
    S.NEW: frozenset({S.ASSIGNED, S.IN_PROGRESS, S.CANCELLED}),
    S.ASSIGNED: frozenset({S.IN_PROGRESS, S.CANCELLED}),
    S.IN_PROGRESS: frozenset({S.ON_HOLD, S.RESOLVED, S.CANCELLED}),
    S.ON_HOLD: frozenset({S.IN_PROGRESS, S.RESOLVED, S.CANCELLED}),
    S.RESOLVED: frozenset({S.CLOSED, S.IN_PROGRESS}),
    S.CLOSED: frozenset(),
    S.CANCELLED: frozenset(),
}
# Customers: cancel their own open tickets; confirm (close) or reopen a resolved one.
CUSTOMER_TRANSITIONS: dict[TicketStatus, frozenset[TicketStatus]] = {
    **{status: frozenset({S.CANCELLED}) for status in OPEN_TICKET_STATUSES},
    S.RESOLVED: frozenset({S.CLOSED, S.IN_PROGRESS}),
    S.CLOSED: frozenset(),
    S.CANCELLED: frozenset(),
}


def works_tickets(permissions: frozenset[Permission]) -> bool:
    """Whether these permissions work tickets for the vendor (an agent's) rather than follow
    them as a customer."""
    return Permission.WORK_TICKETS in permissions


def ticket_transitions(
    permissions: frozenset[Permission],
) -> dict[S, frozenset[S]]:
    """The status changes the holder of `permissions` on a ticket may make."""
    return AGENT_TRANSITIONS if works_tickets(permissions) else CUSTOMER_TRANSITIONS


def role_permissions(role: Role) -> frozenset[Permission]:
    return ROLE_PERMISSIONS[role]


def client_permissions(scopes: Iterable[str]) -> frozenset[Permission]:
    granted: set[Permission] = set()
    for scope in scopes:
        granted |= CLIENT_SCOPES[scope]
    return frozenset(granted)


def roles_with(*permissions: Permission) -> list[Role]:
    """Customer roles holding every one of `permissions` (for SQL filters on memberships)."""
    return [role for role, perms in ROLE_PERMISSIONS.items() if set(permissions) <= perms]


def roles_granting(permission: Permission) -> list[str]:
    """Human-readable list for field descriptions ("Requires: ...")."""
    names = [role.value for role, perms in ROLE_PERMISSIONS.items() if permission in perms]
    if permission in AGENT_PERMISSIONS:
        names.append("AGENT")
    names.extend(scope for scope, perms in CLIENT_SCOPES.items() if permission in perms)
    return names


# Roles that administer an account, and those that administer its sub-accounts as well.
ACCOUNT_MANAGER_ROLES: list[Role] = roles_with(Permission.MANAGE_USERS)
GROUP_MANAGER_ROLES: list[Role] = roles_with(Permission.MANAGE_USERS, Permission.VIEW_SUB_ACCOUNTS)
# Roles that submit the readings of the devices assigned to them (reminded first when one is
# missing; else the account's managers).
READING_ASSIGNEE_ROLES: list[Role] = roles_with(
    Permission.VIEW_ASSIGNED_DEVICES, Permission.SUBMIT_METER_READINGS
)
