"""Devices: the scoped, filtered, ordered and keyset-paged list, and `updateDevice`."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Protocol

import strawberry
from sqlalchemy import (
    ColumnElement,
    Date,
    Select,
    and_,
    func,
    literal,
    or_,
    select,
)

from auth.policy import Permission
from core import clock
from core.errors import BadUserInput, UserError
from core.ids import decode_id, decode_id_or_none
from models import Contract, Device, ProductModel, Site
from resolvers.accounts import account_tree
from resolvers.joined import Computed, Joined, Preloaded, ToOne, selected_joins
from resolvers.loaders.accounts import AccountByIdLoader, ContractByIdLoader, SiteByIdLoader
from resolvers.loaders.devices import (
    DeviceCountByAccountIdLoader,
    DeviceCountBySiteIdLoader,
    DevicePageByAccountIdLoader,
    DevicePageBySiteIdLoader,
    ProductModelByIdLoader,
    scoped_devices,
)
from resolvers.loaders.meters import LatestReadingsByDeviceIdLoader
from resolvers.loaders.stock import StockLocationByIdLoader
from resolvers.loaders.tickets import OpenTicketCountByDeviceIdLoader, open_ticket_count
from resolvers.pagination import Page, PageRequest, SortField, build_page, paginate
from resolvers.reading_due import reading_due_clause
from resolvers.scoping import Scope
from resolvers.search import contains
from resolvers.versioned import row_to_update, write_versioned

if TYPE_CHECKING:
    from resolvers.context import Context


class Valued(Protocol):
    """An enum member of the GraphQL layer, read by its name or value."""

    @property
    def name(self) -> str: ...
    @property
    def value(self) -> Any: ...


class DeviceOrder(Protocol):
    """What the devices list reads of its order."""

    @property
    def field(self) -> Valued: ...
    @property
    def direction(self) -> Valued: ...


class ContractFilter(Protocol):
    @property
    def state(self) -> Valued: ...
    @property
    def within_days(self) -> int: ...


class DeviceFilter(Protocol):
    """What the devices list reads of its filter."""

    @property
    def account_ids(self) -> Sequence[str] | None: ...
    @property
    def site_ids(self) -> Sequence[str] | None: ...
    @property
    def model_ids(self) -> Sequence[str] | None: ...
    @property
    def contract(self) -> ContractFilter | None: ...
    @property
    def statuses(self) -> Sequence[Any] | None: ...
    @property
    def e_maintenance(self) -> bool | None: ...
    @property
    def search(self) -> str | None: ...
    @property
    def reading_due(self) -> bool | None: ...


class DeviceChanges(Protocol):
    """What `updateDevice` reads of its input (fields left out are UNSET)."""

    @property
    def id(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def location_description(self) -> str | None: ...
    @property
    def asset_tag(self) -> str | None: ...
    @property
    def cost_center(self) -> str | None: ...
    @property
    def site_id(self) -> str | None: ...


class DeviceOrderField(enum.Enum):
    SERIAL = "SERIAL"
    SITE = "SITE"
    MODEL = "MODEL"
    LAST_READING_DATE = "LAST_READING_DATE"
    INSTALL_DATE = "INSTALL_DATE"


class ContractState(enum.Enum):
    ACTIVE = "ACTIVE"
    EXPIRED = "EXPIRED"
    EXPIRING = "EXPIRING"


NEVER = date(1, 1, 1)


def last_reading_date() -> ColumnElement[Any]:
    """The device's newest reading day, a day before any reading when it has none.

    Read from the denormalised `devices.last_reading_date` (kept by `record_reading_dates`):
    a correlated `max(reading_date)` per device took 1-2 s on the large fleet (20,000 devices,
    3.3 M readings) since the readings index leads with (device, meter)."""
    return func.coalesce(Device.last_reading_date, literal(NEVER, Date()), type_=Date())


@dataclass(frozen=True)
class DeviceSort:
    """Sort keys of one order and the joins they need; every order ends with the id."""

    field: DeviceOrderField = DeviceOrderField.SERIAL
    descending: bool = False

    @classmethod
    def of(cls, order: DeviceOrder | None) -> DeviceSort:
        if order is None:
            return cls()
        return cls(DeviceOrderField(order.field.value), order.direction.name == "DESC")

    def keys(self) -> list[SortField]:
        serial = SortField(Device.serial_number, "str")
        pk = SortField(Device.id, "int")
        match self.field:
            case DeviceOrderField.SERIAL:
                return [serial, pk]
            case DeviceOrderField.SITE:
                return [SortField(Site.name, "str"), serial, pk]
            case DeviceOrderField.MODEL:
                return [SortField(ProductModel.name, "str"), serial, pk]
            case DeviceOrderField.LAST_READING_DATE:
                return [SortField(last_reading_date(), "date"), pk]
            case DeviceOrderField.INSTALL_DATE:
                return [SortField(Device.installed_on, "date"), pk]

    def joined(self, stmt: Select[Any]) -> Select[Any]:
        if self.field is DeviceOrderField.SITE:
            return stmt.join(Site, Site.id == Device.site_id)
        if self.field is DeviceOrderField.MODEL:
            return stmt.join(ProductModel, ProductModel.id == Device.product_model_id)
        return stmt


def _ids(values: Sequence[Any], type_name: str, language: str) -> list[int]:
    return [decode_id(value, type_name, language=language) for value in values]


def _contract_clause(state: ContractState, within_days: int, today: date) -> ColumnElement[bool]:
    active = and_(Contract.starts_on <= today, Contract.ends_on >= today)
    if state is ContractState.ACTIVE:
        condition: ColumnElement[bool] = active
    elif state is ContractState.EXPIRED:
        condition = Contract.ends_on < today
    else:
        condition = and_(active, Contract.ends_on <= today + timedelta(days=within_days))
    return Device.contract_id.in_(select(Contract.id).where(condition))


def device_filter_clauses(
    filter: DeviceFilter | None, language: str, scope: Scope
) -> list[ColumnElement[bool]]:
    """The conditions of a `DeviceFilter`; IDs the viewer cannot see simply match nothing,
    since the scope clause is always applied next to them."""
    if filter is None:
        return []
    clauses: list[ColumnElement[bool]] = []
    if filter.account_ids is not None:
        tree = account_tree(_ids(filter.account_ids, "Account", language))
        clauses.append(Device.account_id.in_(select(tree.c.id)))
    if filter.site_ids is not None:
        clauses.append(Device.site_id.in_(_ids(filter.site_ids, "Site", language)))
    if filter.model_ids is not None:
        clauses.append(
            Device.product_model_id.in_(_ids(filter.model_ids, "ProductModel", language))
        )
    if filter.statuses is not None:
        clauses.append(Device.status.in_(filter.statuses))
    if filter.contract is not None:
        within = filter.contract.within_days
        if within < 0 or within > 3650:
            raise BadUserInput(
                message_code="WITHIN_DAYS_OUT_OF_RANGE",
                params={"maximum": 3650},
                language=language,
                argument="withinDays",
            )
        clauses.append(
            _contract_clause(ContractState(filter.contract.state.value), within, clock.utc_today())
        )
    if filter.e_maintenance is not None:
        clauses.append(Device.e_maintenance.is_(filter.e_maintenance))
    if filter.reading_due is not None:
        clauses.append(reading_due_clause(filter.reading_due))
        # Reading data narrows the list only where the viewer may read readings.
        clauses.append(scope.devices_clause(requiring=Permission.VIEW_METER_READINGS))
    if filter.search and filter.search.strip():
        clauses.append(
            or_(
                contains(Device.serial_number, filter.search),
                contains(Device.asset_tag, filter.search),
                contains(Device.location_description, filter.search),
            )
        )
    return clauses


# Device fields (GraphQL names) whose values a page of devices can carry, by the loader each
# field reads from.
DEVICE_JOINS: dict[str, Joined] = {
    "model": ToOne(ProductModelByIdLoader, Device.product_model_id),
    "site": ToOne(SiteByIdLoader, Device.site_id),
    "account": ToOne(AccountByIdLoader, Device.account_id),
    "contract": ToOne(ContractByIdLoader, Device.contract_id),
    "stockLocation": ToOne(StockLocationByIdLoader, Device.stock_location_id),
    "openTicketCount": Computed(OpenTicketCountByDeviceIdLoader, open_ticket_count),
}

# Device fields whose loaders run for the whole page as soon as it is in (`Preloaded`), with
# the permission their field's guard asks (`schema.meters`).
DEVICE_PRELOADS: dict[str, Preloaded] = {
    "latestReadings": Preloaded(
        LatestReadingsByDeviceIdLoader,
        Permission.VIEW_METER_READINGS,
        Scope.permissions_on_device,
    ),
}


async def device_connection(
    context: Context,
    *,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    filter: DeviceFilter | None,
    order_by: DeviceOrder | None = None,
    account_id: int | None = None,
    site_id: int | None = None,
    node_fields: frozenset[str] = frozenset(),
) -> Page:
    """A page of devices. Under an account or a site (`account_id` / `site_id`), a plain first
    page with no filter is batched across parents by loaders (page and `totalCount`)."""

    scope = await context.require_scope()
    request = PageRequest(first, after, last, before).validated()
    sort = DeviceSort.of(order_by)
    parent = account_id if account_id is not None else site_id
    by_site = site_id is not None

    if parent is not None and filter is None:
        counts = context.loaders[
            DeviceCountBySiteIdLoader if by_site else DeviceCountByAccountIdLoader
        ]

        async def count() -> int:
            return int(await counts.load(parent))

        if request.is_first_page:
            pages = context.loaders[
                DevicePageBySiteIdLoader if by_site else DevicePageByAccountIdLoader
            ]
            rows, has_more = await pages.load((parent, request.limit, sort))
            return build_page(rows, sort.keys(), request, has_more, count)
    else:
        count = None  # type: ignore[assignment]

    stmt = scoped_devices(scope).where(*device_filter_clauses(filter, context.language, scope))
    if account_id is not None:
        stmt = stmt.where(Device.account_id == account_id)
    if site_id is not None:
        stmt = stmt.where(Device.site_id == site_id)
    return await paginate(
        context.session,
        sort.joined(stmt),
        sort.keys(),
        request,
        descending=sort.descending,
        count=count,
        count_stmt=stmt,
        ride=selected_joins(DEVICE_JOINS, node_fields, scope, context.loaders, DEVICE_PRELOADS),
        # the whole list's statements depend on the scope and the order alone (a filter or a
        # parent brings values of its own)
        shape=(scope.statements_key, "devices", sort)
        if filter is None and parent is None
        else None,
    )


# --- updateDevice ---------------------------------------------------------------------------

_TEXT_LIMITS = {"location_description": 200, "asset_tag": 64, "cost_center": 64}
_FIELD_NAMES = {
    "location_description": "locationDescription",
    "asset_tag": "assetTag",
    "cost_center": "costCenter",
    "site_id": "siteId",
}


def _text(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


async def update_device(context: Context, input: DeviceChanges) -> Device:
    """Raises `UserError` (NOT_FOUND, STALE_VERSION, VALUE_TOO_LONG, SITE_NOT_IN_ACCOUNT) or
    `Forbidden`; a device the viewer cannot see answers like a missing one."""
    scope = await context.require_scope()
    session = context.session
    row = await row_to_update(
        context,
        Device,
        input.id,
        scope.devices_clause(),
        scope.permissions_on_device,
        Permission.UPDATE_DEVICE,
        input.version,
    )

    changes: dict[str, Any] = {}
    for attribute, limit in _TEXT_LIMITS.items():
        value = getattr(input, attribute)
        if value is strawberry.UNSET:
            continue
        value = _text(value)
        if value is not None and len(value) > limit:
            raise UserError("VALUE_TOO_LONG", _FIELD_NAMES[attribute], max=limit)
        if value != getattr(row, attribute):
            changes[attribute] = value
    if input.site_id is not strawberry.UNSET and input.site_id is not None:
        site_id = decode_id_or_none(input.site_id, "Site")
        site_account = (
            await session.scalar(select(Site.account_id).where(Site.id == site_id))
            if site_id is not None
            else None
        )
        if site_account is None or site_account != row.account_id:
            raise UserError("SITE_NOT_IN_ACCOUNT", "siteId")
        if site_id != row.site_id:
            changes["site_id"] = site_id

    return await write_versioned(
        context, row, input.version, changes, "device.update", field_name=_FIELD_NAMES.__getitem__
    )
