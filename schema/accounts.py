"""Accounts (with their hierarchy), sites, contracts and payments."""

from __future__ import annotations

from datetime import date, time
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry import relay

from auth.policy import Permission
from auth.policy import Permission as P
from auth.requirements import SEES_ACCOUNTS, SEES_DEVICES, requires
from core import clock
from models import Account as AccountRow
from models import Contract as ContractRow
from models import Payment as PaymentRow
from models import Site as SiteRow
from models.enums import CreditStatus
from resolvers.accounts import account_connection, update_account
from resolvers.loaders.accounts import (
    AccountByIdLoader,
    ChildAccountsByParentIdLoader,
    ContractsByAccountIdLoader,
    DescendantAccountsByAccountIdLoader,
    PaymentsByAccountIdLoader,
    SiteByIdLoader,
    SitesByAccountIdLoader,
)
from resolvers.loaders.devices import DeviceCountByAccountIdLoader, DeviceCountBySiteIdLoader
from resolvers.scoping import Scope
from schema.context import Info
from schema.enums import described_enum
from schema.mutations import Payload, transactional
from schema.node import LoadedNode
from schema.pagination import FILTER, ORDER_BY, After, Before, Connection, First, Last
from schema.permissions import mutation, permission_field, shown_to

if TYPE_CHECKING:
    from schema.devices import DeviceConnection, DeviceFilter, DeviceOrder
    from schema.memberships import Invitation, Membership
    from schema.tickets import TicketConnection, TicketFilter

CreditStatusEnum = described_enum(
    CreditStatus,
    name="CreditStatus",
    description="Vendor's view of an account's credit.",
    values={
        CreditStatus.GOOD: "No concern.",
        CreditStatus.WATCH: "Watched by the vendor's credit control (e.g. late payments).",
        CreditStatus.ON_HOLD: "On credit hold: the vendor extends no further credit.",
    },
)


async def parent_devices(
    root: Any,
    info: Info,
    first: First = None,
    after: After = None,
    last: Last = None,
    before: Before = None,
    filter: Annotated[
        Annotated[DeviceFilter, strawberry.lazy("schema.devices")] | None,
        FILTER,
    ] = None,
    order_by: Annotated[
        Annotated[DeviceOrder, strawberry.lazy("schema.devices")] | None,
        ORDER_BY,
    ] = None,
) -> Annotated[DeviceConnection, strawberry.lazy("schema.devices")]:
    """`devices` of an account or of a site: the same list under either parent."""
    from schema.devices import device_list  # devices refer to accounts and sites

    parent = {"site_id": root.id} if isinstance(root, Site) else {"account_id": root.id}
    return await device_list(info, first, after, last, before, filter, order_by, **parent)


@strawberry.type(description="A customer account: a group, or a subsidiary of one.")
class Account(LoadedNode):
    id: relay.NodeID[int]
    name: str = strawberry.field(description="Company name.")
    customer_account_number: str = strawberry.field(
        description="Number on contracts, invoices and quotes."
    )
    system_account_number: str = strawberry.field(
        description="Number customer service identifies the account by."
    )
    country: str = strawberry.field(description="ISO 3166-1 alpha-2 country code.")
    language: str = strawberry.field(description="Preferred language (en, fr, it).")
    version: int = strawberry.field(
        description="Changes with every update; give it back to `updateAccount`."
    )
    parent_id: strawberry.Private[int | None]
    row: strawberry.Private[AccountRow]

    by_id_loader = AccountByIdLoader

    @classmethod
    def from_row(cls, row: AccountRow) -> Account:
        return cls(
            id=row.id,
            name=row.name,
            customer_account_number=row.customer_account_number,
            system_account_number=row.system_account_number,
            country=row.country,
            language=row.language,
            version=row.version,
            parent_id=row.parent_id,
            row=row,
        )

    def granted(self, scope: Scope) -> frozenset[Permission]:
        return scope.permissions_on_account(self.id)

    @strawberry.field(description="The group this account belongs to, if the viewer may see it.")
    async def parent(self, info: Info) -> Account | None:
        return await Account.load(info, self.parent_id)

    @strawberry.field(description="Direct subsidiaries the viewer may see.")
    async def children(self, info: Info) -> list[Account]:
        rows = await info.context.loaders[ChildAccountsByParentIdLoader].load(self.id)
        return [Account.from_row(r) for r in rows]

    @strawberry.field(
        description="Every sub-account below this one (children, their children...) the viewer "
        "may see, by name."
    )
    async def descendants(self, info: Info) -> list[Account]:
        rows = await info.context.loaders[DescendantAccountsByAccountIdLoader].load(self.id)
        return [Account.from_row(r) for r in rows]

    @strawberry.field(
        description="How many devices of this account (not its sub-accounts) the viewer may see."
    )
    async def device_count(self, info: Info) -> int:
        return await info.context.loaders[DeviceCountByAccountIdLoader].load(self.id)  # type: ignore[no-any-return]

    @strawberry.field(description="Sites of this account.")
    async def sites(self, info: Info) -> list[Site]:
        rows = await info.context.loaders[SitesByAccountIdLoader].load(self.id)
        return [Site.from_row(r) for r in rows]

    @permission_field(Permission.VIEW_CONTRACTS, description="Support contracts of this account.")
    async def contracts(self, info: Info) -> list[Contract] | None:
        rows = await info.context.loaders[ContractsByAccountIdLoader].load(self.id)
        # "today" at the account's first site, as for its account questions' contract
        sites = await info.context.loaders[SitesByAccountIdLoader].load(self.id)
        first = min(sites, key=lambda site: site.id) if sites else None
        today = clock.today_in(first.time_zone) if first is not None else clock.utc_today()
        return [Contract.from_row(r, today) for r in rows]

    @permission_field(Permission.VIEW_CREDIT_STATUS, description="Credit status (vendor only).")
    def credit_status(self) -> CreditStatusEnum | None:
        return self.row.credit_status

    @permission_field(Permission.VIEW_CREDIT_STATUS, description="Credit limit (vendor only).")
    def credit_limit(self) -> Decimal | None:
        return self.row.credit_limit

    @permission_field(
        Permission.VIEW_PAYMENTS, description="Payment history, newest first (vendor only)."
    )
    async def payments(self, info: Info) -> list[Payment] | None:
        rows = await info.context.loaders[PaymentsByAccountIdLoader].load(self.id)
        return [Payment.from_row(r) for r in rows]

    @permission_field(
        Permission.VIEW_MEMBERS,
        description="People with a role on this account, and pending access requests.",
    )
    async def members(
        self, info: Info
    ) -> list[Annotated[Membership, strawberry.lazy("schema.memberships")]] | None:
        from schema.memberships import account_members  # memberships refer to accounts

        return await account_members(info, self.id)

    @permission_field(
        Permission.MANAGE_USERS, description="Invitations to this account, newest first."
    )
    async def invitations(
        self, info: Info
    ) -> list[Annotated[Invitation, strawberry.lazy("schema.memberships")]] | None:
        from schema.memberships import account_invitations  # invitations refer to accounts

        return await account_invitations(info, self.id)

    devices = strawberry.field(
        resolver=parent_devices,
        **shown_to(SEES_DEVICES, "Devices of this account the viewer may see."),
    )

    @permission_field(
        Permission.VIEW_TICKETS,
        description="Tickets of this account and its sub-accounts the viewer may see, newest first.",
    )
    async def tickets(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        filter: Annotated[
            Annotated[TicketFilter, strawberry.lazy("schema.tickets")] | None,
            FILTER,
        ] = None,
    ) -> Annotated[TicketConnection, strawberry.lazy("schema.tickets")] | None:
        from schema.tickets import account_tickets  # tickets refer to accounts

        return await account_tickets(info, self.id, first, after, last, before, filter)


@strawberry.type(description="A place where devices stand.")
class Site(LoadedNode):
    id: relay.NodeID[int]
    name: str = strawberry.field(description="Site name.")
    street: str = strawberry.field(description="Street address.")
    postal_code: str = strawberry.field(description="Postal code.")
    city: str = strawberry.field(description="City.")
    country: str = strawberry.field(
        description="ISO 3166-1 alpha-2 country code; its public holidays apply."
    )
    time_zone: str = strawberry.field(
        description="IANA time zone; reading days and business hours are local to it."
    )
    account_id: strawberry.Private[int]

    by_id_loader = SiteByIdLoader

    @classmethod
    def from_row(cls, row: SiteRow) -> Site:
        return cls(
            id=row.id,
            name=row.name,
            street=row.street,
            postal_code=row.postal_code,
            city=row.city,
            country=row.country,
            time_zone=row.time_zone,
            account_id=row.account_id,
        )

    def granted(self, scope: Scope) -> frozenset[Permission]:
        return scope.permissions_on_account(self.account_id)

    @strawberry.field(description="The account the site belongs to.")
    async def account(self, info: Info) -> Account | None:
        return await Account.load(info, self.account_id)

    @strawberry.field(description="How many devices at this site the viewer may see.")
    async def device_count(self, info: Info) -> int:
        return await info.context.loaders[DeviceCountBySiteIdLoader].load(self.id)  # type: ignore[no-any-return]

    devices = strawberry.field(
        resolver=parent_devices,
        **shown_to(SEES_DEVICES, "Devices at this site the viewer may see."),
    )


@strawberry.type(description="A support contract; devices on an active one may get service work.")
class Contract:
    number: str = strawberry.field(description="Contract number.")
    starts_on: date = strawberry.field(description="First day covered.")
    ends_on: date = strawberry.field(description="Last day covered.")
    response_time_hours: int = strawberry.field(description="Response time, in business hours.")
    coverage_start: time = strawberry.field(description="Business hours start (site local time).")
    coverage_end: time = strawberry.field(description="Business hours end (site local time).")
    coverage_days: list[int] = strawberry.field(description="ISO weekdays covered (1 = Monday).")
    active: bool = strawberry.field(
        description="Whether the contract covers today, at the device's site (from an account: "
        "at its first site), as ticket creation decides."
    )

    @classmethod
    def from_row(cls, row: ContractRow, today: date) -> Contract:
        return cls(
            number=row.number,
            starts_on=row.starts_on,
            ends_on=row.ends_on,
            response_time_hours=row.response_time_hours,
            coverage_start=row.coverage_start,
            coverage_end=row.coverage_end,
            coverage_days=[int(d) for d in row.coverage_days],
            active=row.is_active_on(today),
        )


@strawberry.type(description="A payment against an invoice (vendor only).")
class Payment:
    invoice_number: str = strawberry.field(description="Invoice paid.")
    amount: Decimal = strawberry.field(description="Amount.")
    currency: str = strawberry.field(description="ISO 4217 currency.")
    due_on: date = strawberry.field(description="Due date.")
    paid_on: date | None = strawberry.field(description="Payment date; null while unpaid.")

    @classmethod
    def from_row(cls, row: PaymentRow) -> Payment:
        return cls(
            invoice_number=row.invoice_number,
            amount=row.amount,
            currency=row.currency,
            due_on=row.due_on,
            paid_on=row.paid_on,
        )


@strawberry.input(description="Narrows the accounts list.")
class AccountFilter:
    search: str | None = strawberry.field(default=None, description="Part of the name.")
    account_number: str | None = strawberry.field(
        default=None, description="Exact customer or system account number."
    )
    root_only: bool = strawberry.field(
        default=False, description="Only accounts whose parent the viewer cannot see."
    )


@strawberry.type(description="A page of accounts.")
class AccountConnection(Connection[Account]):
    pass


@strawberry.type
class AccountQuery:
    @strawberry.field(
        **shown_to(
            SEES_ACCOUNTS,
            "Accounts the viewer may see (administrators: their accounts and "
            "sub-accounts; agents: all), by name.",
        )
    )
    async def accounts(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        filter: Annotated[
            AccountFilter | None,
            FILTER,
        ] = None,
    ) -> AccountConnection:
        page = await account_connection(
            info.context, first=first, after=after, last=last, before=before, filter=filter
        )
        return AccountConnection.of(page, Account.from_row)


@strawberry.input(description="Changes to an account; omitted fields stay as they are.")
class UpdateAccountInput:
    id: strawberry.ID = strawberry.field(description="The account.")
    version: int = strawberry.field(description="The `version` the change was made from.")
    name: str | None = strawberry.field(default=strawberry.UNSET, description="Company name.")
    language: str | None = strawberry.field(
        default=strawberry.UNSET, description="Preferred language (en, fr, it)."
    )
    country: str | None = strawberry.field(
        default=strawberry.UNSET, description="ISO 3166-1 alpha-2 country code."
    )


@strawberry.type(description="Result of `updateAccount`.")
class UpdateAccountPayload(Payload):
    account: Account | None = strawberry.field(default=None, description="The account, updated.")


@strawberry.type
class AccountMutation:
    @mutation(
        requires(P.UPDATE_ACCOUNT),
        description="Changes an account's name, language or country, recorded in the audit log.",
    )
    async def update_account(
        self,
        info: Info,
        input: Annotated[
            UpdateAccountInput,
            strawberry.argument(description="The account, the version read and the new values."),
        ],
    ) -> UpdateAccountPayload:
        async def work() -> UpdateAccountPayload:
            row = await update_account(info.context, input)
            return UpdateAccountPayload(account=Account.from_row(row))

        return await transactional(info, UpdateAccountPayload, work)
