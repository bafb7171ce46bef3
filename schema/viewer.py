"""`viewer`: the signed-in user, memberships and permissions (so a UI can hide buttons)."""

from __future__ import annotations

import strawberry
from strawberry import relay

from auth.policy import Permission
from auth.requirements import SEES_ACCOUNTS
from models import User as UserRow
from models.enums import Role
from resolvers.loaders.users import UserByIdLoader
from resolvers.scoping import Scope
from schema.accounts import Account
from schema.context import Info
from schema.enums import described_enum
from schema.node import LoadedNode
from schema.permissions import shown_to

P = Permission

PermissionEnum = described_enum(
    Permission,
    name="Permission",
    description="Something a viewer may do or see.",
    values={
        # reach: which rows a membership makes visible
        P.VIEW_ACCOUNT: "See the account itself: its name, numbers and sites.",
        P.VIEW_SUB_ACCOUNTS: "See the account's sub-accounts (subsidiaries) and what they hold.",
        P.VIEW_ALL_DEVICES: "See every device of the account.",
        P.VIEW_ASSIGNED_DEVICES: "See the devices assigned to the membership only.",
        P.VIEW_SUPPLIED_DEVICES: "See the e-Maintenance devices that the assigned stock "
        "locations supply (their toner levels).",
        P.VIEW_ALL_STOCK_LOCATIONS: "See every stock location of the account.",
        P.VIEW_ASSIGNED_STOCK_LOCATIONS: "See the stock locations assigned to the membership only.",
        P.VIEW_ALL_ACCOUNTS: "See every account (vendor agents and analytics clients).",
        # reads
        P.VIEW_CONTRACTS: "See support contracts and their response times.",
        P.VIEW_METER_READINGS: "See meter readings, the meter history and whether a reading is "
        "due.",
        P.VIEW_TICKETS: "See tickets, their comments and their response clock.",
        P.VIEW_TONER_LEVELS: "See the toner levels e-Maintenance devices report.",
        P.VIEW_STOCK_LEVELS: "See stock levels and replenishment orders of stock locations.",
        P.VIEW_MEMBERS: "See who is a member of the account, with which role.",
        P.VIEW_USAGE_ANALYTICS: "See usage figures (pages printed per group and period).",
        P.READ_KNOWLEDGE: "Read knowledge articles.",
        # writes
        P.UPDATE_DEVICE: "Change a device's location, asset tag, cost centre or site.",
        P.SUBMIT_METER_READINGS: "Submit meter readings (one by one or uploaded).",
        P.CREATE_TICKETS: "Create tickets for devices (faults, supplies).",
        P.REQUEST_DEVICE_CHANGES: "Ask for a device to be moved or removed.",
        P.UPDATE_ACCOUNT: "Change the account's name, language or country.",
        P.ASK_ACCOUNT_QUESTIONS: "Ask questions about the account (ACCOUNT_QUERY tickets).",
        P.MANAGE_USERS: "Invite users, approve access requests, give and take roles.",
        P.MANAGE_STOCK_LOCATIONS: "Keep stock location data: name, shipping instructions, "
        "stock counts.",
        P.MANAGE_WEBHOOKS: "Create, change and remove the account's webhooks and see their "
        "deliveries.",
        # vendor only
        P.VIEW_CREDIT_STATUS: "See an account's credit status and limit (vendor only).",
        P.VIEW_PAYMENTS: "See an account's payment history (vendor only).",
        P.VIEW_INTERNAL_NOTES: "See a ticket's internal notes (vendor only).",
        P.WORK_TICKETS: "Work tickets: change their status, answer customers, write internal "
        "notes (vendor only).",
        P.CORRECT_METER_READINGS: "Correct a meter reading, with a reason (vendor only).",
        P.MANAGE_KNOWLEDGE: "Write and publish knowledge articles (vendor only).",
        P.MANAGE_REPLENISHMENT: "Move replenishment orders along: shipped, delivered, "
        "cancelled (vendor only).",
        # machine clients (e-Maintenance)
        P.REPORT_METER_READINGS: "Report meter readings of e-Maintenance devices (machine "
        "clients).",
        P.REPORT_TONER_LEVELS: "Report toner levels of e-Maintenance devices (machine clients).",
    },
)
RoleEnum = described_enum(
    Role,
    name="Role",
    description="A user's role on one account.",
    values={
        Role.ADMINISTRATOR: "Sees every device and stock location of the account and its "
        "sub-accounts; may do everything customers may, invite users and give and take roles; "
        "the account's main contact.",
        Role.DEVICE_MANAGER: "Sees only the devices assigned to it: tickets, meter readings, "
        "device location and move / removal requests for those devices.",
        Role.STOCK_MANAGER: "Sees the stock locations assigned to it and the e-Maintenance "
        "devices they supply; keeps their name, shipping instructions and stock levels.",
        Role.DEVICE_STOCK_MANAGER: "Both DEVICE_MANAGER and STOCK_MANAGER.",
        Role.KNOWLEDGE_USER: "Reads knowledge articles only.",
    },
)


@strawberry.type(description="A person who uses the portal.")
class User(LoadedNode):
    id: relay.NodeID[int]
    email: str = strawberry.field(description="Sign-in e-mail address.")
    name: str = strawberry.field(description="Full name.")
    language: str = strawberry.field(description="Preferred language (en, fr, it).")
    is_agent: bool = strawberry.field(description="Vendor staff (sees every account).")

    by_id_loader = UserByIdLoader

    @classmethod
    def from_row(cls, row: UserRow) -> User:
        return cls(
            id=row.id,
            email=row.email,
            name=row.name,
            language=row.language,
            is_agent=row.is_agent,
        )


@strawberry.type(description="The viewer's role on one account.")
class ViewerMembership:
    role: RoleEnum = strawberry.field(description="Role on this account.")
    permissions: list[PermissionEnum] = strawberry.field(
        description="What the role allows on this account."
    )
    account_id: strawberry.Private[int]

    @strawberry.field(**shown_to(SEES_ACCOUNTS, "The account."))
    async def account(self, info: Info) -> Account | None:
        return await Account.load(info, self.account_id)


@strawberry.type(description="Who is signed in and what they may do.")
class Viewer:
    scope: strawberry.Private[Scope]

    @strawberry.field(
        description="The signed-in user; null for anonymous callers and machine clients."
    )
    def user(self) -> User | None:
        user = self.scope.user
        if user is None:
            return None
        return User.from_row(user)

    @strawberry.field(description="Whether the caller is signed in.")
    def authenticated(self) -> bool:
        return self.scope.is_authenticated

    @strawberry.field(description="Active memberships, one per account.")
    def memberships(self) -> list[ViewerMembership]:
        return [
            ViewerMembership(
                role=g.role, permissions=sorted(g.permissions), account_id=g.account_id
            )
            for g in self.scope.grants
        ]

    @strawberry.field(
        description="Everything the viewer holds on at least one account, or globally."
    )
    def permissions(self) -> list[PermissionEnum]:
        return sorted(p for p in Permission if self.scope.holds_anywhere(p))


@strawberry.type
class ViewerQuery:
    @strawberry.field(description="The caller: anonymous, a user, or a machine client.")
    async def viewer(self, info: Info) -> Viewer:
        return Viewer(scope=await info.context.scope())
