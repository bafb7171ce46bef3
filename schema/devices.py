"""Devices of the fleet and their product models."""

from __future__ import annotations

import enum
import inspect
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry import relay

from auth.policy import Permission
from auth.policy import Permission as P
from auth.requirements import SEES_ACCOUNTS, SEES_DEVICES, SEES_STOCK_LOCATIONS, requires
from core import clock
from models import Device as DeviceRow
from models import ProductModel as ProductModelRow
from models.enums import DeviceStatus
from resolvers.context import Context
from resolvers.devices import device_connection, update_device
from resolvers.loaders.accounts import ContractByIdLoader, SiteByIdLoader
from resolvers.loaders.devices import DeviceByIdLoader, ProductModelByIdLoader
from resolvers.loaders.stock import TonerLevelsByDeviceIdLoader
from resolvers.loaders.tickets import OpenTicketCountByDeviceIdLoader
from resolvers.scoping import Scope
from schema.accounts import Account, Contract, Site
from schema.compiled import direct
from schema.context import Info
from schema.enums import described_enum
from schema.lookahead import connection_node_fields
from schema.meters import (
    device_estimated_readings,
    device_latest_readings,
    device_meter_readings,
    device_reading_due,
)
from schema.mutations import Payload, transactional
from schema.node import LoadedNode, converted, then
from schema.pagination import FILTER, ORDER_BY, After, Before, Connection, Direction, First, Last
from schema.permissions import mutation, permission_field, shown_to

if TYPE_CHECKING:
    from schema.stock import StockLocation, TonerLevel
    from schema.tickets import Ticket

DeviceStatusEnum = described_enum(
    DeviceStatus,
    name="DeviceStatus",
    description="Where a device stands in its life.",
    values={
        DeviceStatus.ACTIVE: "Installed and in service at its site.",
        DeviceStatus.MOVE_PENDING: "A move to another site or room was requested "
        "(`requestDeviceMove`) and waits for the vendor.",
        DeviceStatus.REMOVAL_PENDING: "Its removal was requested (`requestDeviceRemoval`) and "
        "waits for the vendor.",
        DeviceStatus.REMOVED: "Removed by the vendor; kept for its history.",
    },
)


@strawberry.type(description="A printer or MFP model.")
class ProductModel(LoadedNode):
    id: relay.NodeID[int]
    manufacturer: str = strawberry.field(description="Manufacturer.")
    name: str = strawberry.field(description="Model name.")
    colour: bool = strawberry.field(description="Whether it prints in colour.")
    max_pages_per_day: int = strawberry.field(description="Most pages it can print in a day.")

    by_id_loader = ProductModelByIdLoader
    requires_sign_in = True

    @classmethod
    def from_row(cls, row: ProductModelRow) -> ProductModel:
        return cls(
            id=row.id,
            manufacturer=row.manufacturer,
            name=row.name,
            colour=row.colour,
            max_pages_per_day=row.max_pages_per_day,
        )


@strawberry.type(description="A device of the fleet.")
class Device(LoadedNode):
    id: relay.NodeID[int]
    serial_number: str = strawberry.field(description="Manufacturer's serial number.")
    asset_tag: str | None = strawberry.field(description="Customer's asset tag.")
    cost_center: str | None = strawberry.field(description="Customer's cost centre.")
    location_description: str | None = strawberry.field(
        description="Where the device stands inside its site (floor, room)."
    )
    status: DeviceStatusEnum = strawberry.field(description="Life-cycle status.")
    e_maintenance: bool = strawberry.field(
        description="Whether the device reports toner levels and meters by itself."
    )
    installed_on: date = strawberry.field(description="Installation date.")
    version: int = strawberry.field(
        description="Changes with every update; give it back to `updateDevice`."
    )
    row: strawberry.Private[DeviceRow]

    by_id_loader = DeviceByIdLoader

    @classmethod
    def from_row(cls, row: DeviceRow) -> Device:
        return cls(
            id=row.id,
            serial_number=row.serial_number,
            asset_tag=row.asset_tag,
            cost_center=row.cost_center,
            location_description=row.location_description,
            status=row.status,
            e_maintenance=row.e_maintenance,
            installed_on=row.installed_on,
            version=row.version,
            row=row,
        )

    def granted(self, scope: Scope) -> frozenset[Permission]:
        return scope.permissions_on_device(self.row)

    # The relations below are plain `def`s returning `then(...)` / `related(...)`: the value
    # itself when the page primed its loader (`resolvers.joined`), else an awaitable of it.
    # Each reads through a `(device, context)` function, which the compiled execution path
    # (`schema.compiled.direct`) calls without building a resolve info.

    def _model(self, context: Context) -> Any:
        loader = context.loaders[ProductModelByIdLoader]
        return converted(loader, self.row.product_model_id, ProductModel.from_row)

    @strawberry.field(description="The product model.")
    @direct(_model)
    def model(self, info: Info) -> ProductModel:
        found: ProductModel = self._model(info.context)
        return found

    def _site(self, context: Context) -> Any:
        return Site.related(context, self.row.site_id)

    @strawberry.field(description="The site the device stands at.")
    @direct(_site)
    def site(self, info: Info) -> Site | None:
        found: Site | None = self._site(info.context)
        return found

    def _account(self, context: Context) -> Any:
        return Account.related(context, self.row.account_id)

    @strawberry.field(**shown_to(SEES_ACCOUNTS, "The account that holds the device."))
    @direct(_account)
    def account(self, info: Info) -> Account | None:
        found: Account | None = self._account(info.context)
        return found

    def _contract(self, context: Context) -> Any:
        if self.row.contract_id is None:
            return None
        loaders = context.loaders
        site_id = self.row.site_id

        def with_site(row: Any) -> Any:
            if row is None:
                return None
            return then(
                loaders[SiteByIdLoader].load(site_id),
                lambda site: Contract.from_row(
                    row, clock.today_in(site.time_zone if site else "UTC")
                ),
            )

        found = then(loaders[ContractByIdLoader].load(self.row.contract_id), with_site)
        if inspect.isawaitable(found):  # the contract was not loaded yet: the site after it
            return _settled_twice(found)
        return found

    @permission_field(
        Permission.VIEW_CONTRACTS, description="The support contract covering the device, if any."
    )
    @direct(_contract)
    def contract(self, info: Info) -> Contract | None:
        found: Contract | None = self._contract(info.context)
        return found

    @permission_field(
        Permission.VIEW_TICKETS,
        description="Newest tickets of the device (page further with `tickets(filter: "
        "{deviceIds})`).",
    )
    async def tickets(
        self,
        info: Info,
        first: Annotated[
            int, strawberry.argument(description="How many of its newest tickets (at most 100).")
        ] = 10,
    ) -> list[Annotated[Ticket, strawberry.lazy("schema.tickets")]] | None:
        from schema.tickets import device_tickets  # tickets refer to devices

        return await device_tickets(info, self.row.id, first)

    def _open_ticket_count(self, context: Context) -> Any:
        return then(context.loaders[OpenTicketCountByDeviceIdLoader].load(self.row.id), _same)

    @permission_field(Permission.VIEW_TICKETS, description="How many of its tickets are open.")
    @direct(_open_ticket_count)
    def open_ticket_count(self, info: Info) -> int | None:
        count: int | None = self._open_ticket_count(info.context)
        return count

    @permission_field(
        Permission.VIEW_TONER_LEVELS,
        description="Last toner levels the device reported (e-Maintenance), by SKU.",
    )
    async def toner_levels(
        self, info: Info
    ) -> list[Annotated[TonerLevel, strawberry.lazy("schema.stock")]] | None:
        from schema.stock import TonerLevel  # stock types refer to devices

        rows = await info.context.loaders[TonerLevelsByDeviceIdLoader].load(self.id)
        return [TonerLevel.from_rows(level, consumable, self.row) for level, consumable in rows]

    def _stock_location(self, context: Context) -> Any:
        from schema.stock import StockLocation  # stock types refer to devices

        return StockLocation.related(context, self.row.stock_location_id)

    @strawberry.field(
        **shown_to(
            SEES_STOCK_LOCATIONS,
            "The stock location that receives toner for this device, if the viewer may see it.",
        )
    )
    @direct(_stock_location)
    def stock_location(
        self, info: Info
    ) -> Annotated[StockLocation, strawberry.lazy("schema.stock")] | None:
        found: StockLocation | None = self._stock_location(info.context)
        return found

    meter_readings = device_meter_readings
    latest_readings = device_latest_readings
    reading_due = device_reading_due
    estimated_readings = device_estimated_readings


def _same(value: Any) -> Any:
    return value


async def _settled_twice(found: Any) -> Any:
    """Awaits what may itself give an awaitable (a contract, then its site)."""
    value = await found
    return await value if inspect.isawaitable(value) else value


@strawberry.enum(
    name="DeviceOrderField",
    description="What the devices list is sorted by (ties broken by serial number, then id).",
)
class DeviceOrderFieldEnum(enum.Enum):
    SERIAL = strawberry.enum_value("SERIAL", description="Serial number.")
    SITE = strawberry.enum_value("SITE", description="Name of the site it stands at.")
    MODEL = strawberry.enum_value("MODEL", description="Product model name.")
    LAST_READING_DATE = strawberry.enum_value(
        "LAST_READING_DATE",
        description="Day of its latest meter reading (a device never read sorts as oldest).",
    )
    INSTALL_DATE = strawberry.enum_value("INSTALL_DATE", description="Day it was installed.")


@strawberry.enum(
    name="ContractState",
    description="ACTIVE: covers today; EXPIRED: ended; EXPIRING: active, ends within N days.",
)
class ContractStateEnum(enum.Enum):
    ACTIVE = strawberry.enum_value(
        "ACTIVE", description="The support contract covers today (service work may be raised)."
    )
    EXPIRED = strawberry.enum_value("EXPIRED", description="The support contract has ended.")
    EXPIRING = strawberry.enum_value(
        "EXPIRING", description="Active, and ends within `withinDays` days."
    )


@strawberry.input(description="A contract condition on devices.")
class ContractStateFilter:
    state: ContractStateEnum = strawberry.field(description="The state the contract is in.")
    within_days: int = strawberry.field(
        default=30, description="For EXPIRING: the contract ends within this many days (0-3650)."
    )


@strawberry.input(description="How to sort devices.")
class DeviceOrder:
    field: DeviceOrderFieldEnum = strawberry.field(
        description="Sort key: SERIAL, SITE (site name), MODEL (model name), LAST_READING_DATE "
        "(never read sorts as oldest), INSTALL_DATE."
    )
    direction: Direction = strawberry.field(default=Direction.ASC, description="Direction.")


@strawberry.input(description="Narrows the devices list; all given conditions must hold.")
class DeviceFilter:
    account_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Accounts (their sub-accounts included)."
    )
    site_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="Sites.")
    model_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Product models."
    )
    contract: ContractStateFilter | None = strawberry.field(
        default=None, description="Where the device's support contract stands."
    )
    statuses: list[DeviceStatusEnum] | None = strawberry.field(
        default=None, description="Life-cycle statuses."
    )
    e_maintenance: bool | None = strawberry.field(
        default=None, description="Only devices on (or off) e-Maintenance."
    )
    search: str | None = strawberry.field(
        default=None, description="Part of the serial number, asset tag or location."
    )
    reading_due: bool | None = strawberry.field(
        default=None,
        description="Only devices with no meter reading since the 1st of the month, site time "
        "(or, false, only those with one).",
    )


@strawberry.type(description="A page of devices.")
class DeviceConnection(Connection[Device]):
    pass


async def device_list(
    info: Info,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    filter: DeviceFilter | None,
    order_by: DeviceOrder | None,
    *,
    account_id: int | None = None,
    site_id: int | None = None,
) -> DeviceConnection:
    """A page of devices, with the relations its nodes select fetched along (one place for the
    root list and the lists under an account or a site)."""
    page = await device_connection(
        info.context,
        first=first,
        after=after,
        last=last,
        before=before,
        filter=filter,
        order_by=order_by,
        account_id=account_id,
        site_id=site_id,
        node_fields=connection_node_fields(info),
    )
    return DeviceConnection.of(page, Device.from_row)


@strawberry.type
class DeviceQuery:
    @strawberry.field(
        **shown_to(
            SEES_DEVICES,
            "Devices the viewer may see (keyset pages of at most 100; by serial number "
            "unless `orderBy` says otherwise).",
        )
    )
    async def devices(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        filter: Annotated[DeviceFilter | None, FILTER] = None,
        order_by: Annotated[DeviceOrder | None, ORDER_BY] = None,
    ) -> DeviceConnection:
        return await device_list(info, first, after, last, before, filter, order_by)


@strawberry.input(description="Changes to a device; omitted fields stay as they are.")
class UpdateDeviceInput:
    id: strawberry.ID = strawberry.field(description="The device.")
    version: int = strawberry.field(description="The `version` the change was made from.")
    location_description: str | None = strawberry.field(
        default=strawberry.UNSET, description="Where it stands inside its site; null clears it."
    )
    asset_tag: str | None = strawberry.field(
        default=strawberry.UNSET, description="Customer's asset tag; null clears it."
    )
    cost_center: str | None = strawberry.field(
        default=strawberry.UNSET, description="Customer's cost centre; null clears it."
    )
    site_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="Another site of the device's account."
    )


@strawberry.type(description="Result of `updateDevice`.")
class UpdateDevicePayload(Payload):
    device: Device | None = strawberry.field(default=None, description="The device, updated.")


@strawberry.type
class DeviceMutation:
    @mutation(
        requires(P.UPDATE_DEVICE),
        description="Changes a device's location, asset tag, cost centre or site (of the same "
        "account), recorded in the audit log. Device managers: their assigned devices.",
    )
    async def update_device(
        self,
        info: Info,
        input: Annotated[
            UpdateDeviceInput,
            strawberry.argument(description="The device, the version read and the new values."),
        ],
    ) -> UpdateDevicePayload:
        async def work() -> UpdateDevicePayload:
            row = await update_device(info.context, input)
            return UpdateDevicePayload(device=Device.from_row(row))

        return await transactional(info, UpdateDevicePayload, work)
