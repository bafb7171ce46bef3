"""Devices of the fleet and their product models."""

from __future__ import annotations

from datetime import date
from typing import Any

import strawberry
from strawberry import relay

from auth.policy import Permission
from models import Device as DeviceRow
from models import ProductModel as ProductModelRow
from models.enums import DeviceStatus
from resolvers.loaders.accounts import AccountByIdLoader, ContractByIdLoader, SiteByIdLoader
from resolvers.loaders.devices import DeviceByIdLoader, ProductModelByIdLoader
from resolvers.scoping import Scope
from schema.accounts import Account, Contract, Site
from schema.context import Info
from schema.pagination import Connection

DeviceStatusEnum = strawberry.enum(
    DeviceStatus, name="DeviceStatus", description="Where a device stands in its life."
)


@strawberry.type(description="A printer or MFP model.")
class ProductModel(relay.Node):
    id: relay.NodeID[int]
    manufacturer: str = strawberry.field(description="Manufacturer.")
    name: str = strawberry.field(description="Model name.")
    colour: bool = strawberry.field(description="Whether it prints in colour.")
    max_pages_per_day: int = strawberry.field(description="Most pages it can print in a day.")

    @classmethod
    def from_row(cls, row: ProductModelRow) -> ProductModel:
        return cls(
            id=row.id,
            manufacturer=row.manufacturer,
            name=row.name,
            colour=row.colour,
            max_pages_per_day=row.max_pages_per_day,
        )

    @classmethod
    async def resolve_nodes(
        cls, *, info: Info, node_ids: Any, required: bool = False
    ) -> list[ProductModel | None]:
        await info.context.require_scope()
        rows = await info.context.loaders[ProductModelByIdLoader].load_many(
            [int(i) for i in node_ids]
        )
        return [cls.from_row(r) if r is not None else None for r in rows]


@strawberry.type(description="A device of the fleet.")
class Device(relay.Node):
    id: relay.NodeID[int]
    serial_number: str = strawberry.field(description="Manufacturer's serial number.")
    asset_tag: str | None = strawberry.field(description="Customer's asset tag.")
    cost_center: str | None = strawberry.field(description="Customer's cost centre.")
    location_description: str | None = strawberry.field(
        description="Where the device stands inside its site (floor, room)."
    )
    status: DeviceStatusEnum = strawberry.field(description="Life-cycle status.")  # type: ignore[valid-type]
    e_maintenance: bool = strawberry.field(
        description="Whether the device reports toner levels and meters by itself."
    )
    installed_on: date = strawberry.field(description="Installation date.")
    row: strawberry.Private[DeviceRow]

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
            row=row,
        )

    def granted(self, scope: Scope) -> frozenset[Permission]:
        return scope.permissions_on_device(self.row)

    @classmethod
    async def resolve_nodes(
        cls, *, info: Info, node_ids: Any, required: bool = False
    ) -> list[Device | None]:
        rows = await info.context.loaders[DeviceByIdLoader].load_many([int(i) for i in node_ids])
        return [cls.from_row(r) if r is not None else None for r in rows]

    @strawberry.field(description="The product model.")
    async def model(self, info: Info) -> ProductModel:
        row = await info.context.loaders[ProductModelByIdLoader].load(self.row.product_model_id)
        return ProductModel.from_row(row)

    @strawberry.field(description="The site the device stands at.")
    async def site(self, info: Info) -> Site | None:
        row = await info.context.loaders[SiteByIdLoader].load(self.row.site_id)
        return Site.from_row(row) if row is not None else None

    @strawberry.field(description="The account that holds the device.")
    async def account(self, info: Info) -> Account | None:
        row = await info.context.loaders[AccountByIdLoader].load(self.row.account_id)
        return Account.from_row(row) if row is not None else None

    @strawberry.field(description="The support contract covering the device, if any.")
    async def contract(self, info: Info) -> Contract | None:
        if self.row.contract_id is None:
            return None
        row = await info.context.loaders[ContractByIdLoader].load(self.row.contract_id)
        return Contract.from_row(row) if row is not None else None


@strawberry.input(description="Narrows the devices list; all given conditions must hold.")
class DeviceFilter:
    account_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Accounts (their sub-accounts included)."
    )
    site_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="Sites.")
    statuses: list[DeviceStatusEnum] | None = strawberry.field(  # type: ignore[valid-type]
        default=None, description="Life-cycle statuses."
    )
    e_maintenance: bool | None = strawberry.field(
        default=None, description="Only devices on (or off) e-Maintenance."
    )
    search: str | None = strawberry.field(
        default=None, description="Part of the serial number, asset tag or location."
    )


@strawberry.type(description="A page of devices.")
class DeviceConnection(Connection[Device]):
    pass


@strawberry.type
class DeviceQuery:
    @strawberry.field(description="Devices the viewer may see, by serial number.")
    async def devices(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        filter: DeviceFilter | None = None,
    ) -> DeviceConnection:
        from resolvers.devices import device_connection

        return await device_connection(
            info, first=first, after=after, last=last, before=before, filter=filter
        )
