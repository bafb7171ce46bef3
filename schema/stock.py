"""Stock locations that e-Maintenance ships toner to, their stock levels, the toner levels
devices report and the replenishment orders a low level creates."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import strawberry
from strawberry import relay

from auth.policy import Permission
from auth.policy import Permission as P
from auth.requirements import SEES_DEVICES, SEES_STOCK_LOCATIONS, requires
from core.errors import BadUserInput
from forecasting.toner import Method, Reason
from forecasting.toner import TonerForecast as ForecastResult
from models import Consumable as ConsumableRow
from models import Device as DeviceRow
from models import ReplenishmentOrder as ReplenishmentOrderRow
from models import StockLevel as StockLevelRow
from models import StockLocation as StockLocationRow
from models import TonerLevel as TonerLevelRow
from models.enums import ConsumableKind, ReplenishmentStatus, TonerColour, TonerLevelState
from resolvers.forecasts import HISTORY_DAYS
from resolvers.forecasts import ConsumableDemand as DemandResult
from resolvers.loaders.stock import (
    ConsumableByIdLoader,
    DevicesByStockLocationIdLoader,
    ProjectedDemandByStockLocationIdLoader,
    ReplenishmentOrderByIdLoader,
    StockLevelsByStockLocationIdLoader,
    StockLocationByIdLoader,
    TonerForecastsByDeviceIdLoader,
)
from resolvers.scoping import Scope
from resolvers.stock import (
    record_stock_count,
    replenishment_order_connection,
    stock_location_connection,
    update_replenishment_order,
    update_stock_location,
)
from resolvers.toner import report_toner_levels
from schema.accounts import Account, Site
from schema.context import Info
from schema.devices import Device
from schema.enums import described_enum
from schema.mutations import Payload, transactional
from schema.node import LoadedNode
from schema.pagination import FILTER, After, Before, Connection, First, Last
from schema.permissions import mutation, permission_field, shown_to

ConsumableKindEnum = described_enum(
    ConsumableKind,
    name="ConsumableKind",
    description="What a consumable is.",
    values={
        ConsumableKind.TONER: "A toner cartridge (one colour).",
        ConsumableKind.DRUM: "A drum (imaging) unit.",
        ConsumableKind.WASTE_TONER: "A waste toner container.",
        ConsumableKind.STAPLES: "Staple cartridges for a finisher.",
    },
)
TonerColourEnum = described_enum(
    TonerColour,
    name="TonerColour",
    description="Toner colour.",
    values={
        TonerColour.BLACK: "Black (K).",
        TonerColour.CYAN: "Cyan (C).",
        TonerColour.MAGENTA: "Magenta (M).",
        TonerColour.YELLOW: "Yellow (Y).",
    },
)
# The longest horizon `projectedDemand` looks at.
MAX_DEMAND_DAYS = 366

TonerLevelStateEnum = described_enum(
    TonerLevelState,
    name="TonerLevelState",
    description="What a reported toner level is: a percentage, or a special value of the "
    "Printer MIB (prtMarkerSuppliesLevel), which is not a number.",
    values={
        TonerLevelState.MEASURED: "A measured percentage (`percent`).",
        TonerLevelState.UNKNOWN: 'The device cannot tell (Printer MIB -2 "unknown", or -1 '
        '"other"); no percentage.',
        TonerLevelState.SOME_REMAINING: "Some toner is left, the device cannot say how much "
        "(Printer MIB -3); no percentage, never low.",
    },
)
ReplenishmentStatusEnum = described_enum(
    ReplenishmentStatus,
    name="ReplenishmentStatus",
    description="PENDING → SHIPPED → DELIVERED (or CANCELLED while not delivered).",
    values={
        ReplenishmentStatus.PENDING: "Raised by a low toner level reported through "
        "e-Maintenance; not shipped yet.",
        ReplenishmentStatus.SHIPPED: "On its way to the stock location.",
        ReplenishmentStatus.DELIVERED: "Arrived at the stock location.",
        ReplenishmentStatus.CANCELLED: "Called off before delivery.",
    },
)


@strawberry.type(description="A consumable of the vendor's catalogue (toner, drum, ...).")
class Consumable(LoadedNode):
    id: relay.NodeID[int]
    sku: str = strawberry.field(description="Stock-keeping unit.")
    name: str = strawberry.field(description="Name.")
    kind: ConsumableKindEnum = strawberry.field(description="Kind.")
    colour: TonerColourEnum | None = strawberry.field(description="Toner colour, for toners.")
    reorder_threshold_percent: int = strawberry.field(
        description="A reported level at or under this percentage orders a replacement."
    )
    rated_yield_pages: int | None = strawberry.field(
        description="Pages a cartridge prints by the manufacturer's declared yield (ISO/IEC "
        "19752 for mono, ISO/IEC 19798 for colour toner, at 5 % coverage); null when none is "
        "declared. Toner forecasts start from it and learn what each device really gets."
    )

    by_id_loader = ConsumableByIdLoader
    requires_sign_in = True

    @classmethod
    def from_row(cls, row: ConsumableRow) -> Consumable:
        return cls(
            id=row.id,
            sku=row.sku,
            name=row.name,
            kind=row.kind,
            colour=row.colour,
            reorder_threshold_percent=row.reorder_threshold_percent,
            rated_yield_pages=row.rated_yield_pages,
        )


@strawberry.type(description="How much of one consumable a stock location holds.")
class StockLevel:
    consumable: Consumable = strawberry.field(description="The consumable.")
    quantity: int = strawberry.field(description="Units in stock.")
    reorder_point: int = strawberry.field(description="Stock is low at or under this quantity.")
    low: bool = strawberry.field(
        description="Whether the quantity is at or under the reorder point."
    )
    updated_at: datetime = strawberry.field(description="Last change (count or delivery).")

    @classmethod
    def from_rows(cls, level: StockLevelRow, consumable: ConsumableRow) -> StockLevel:
        return cls(
            consumable=Consumable.from_row(consumable),
            quantity=level.quantity,
            reorder_point=level.reorder_point,
            low=level.quantity <= level.reorder_point,
            updated_at=level.updated_at,
        )


TonerForecastReasonEnum = described_enum(
    Reason,
    name="TonerForecastReason",
    description="Why a toner forecast has no figures.",
    values={
        Reason.LEVEL_NOT_MEASURED: 'The device reports the level as unknown or "some '
        'remaining": there is no percentage to forecast from.',
        Reason.NOT_ENOUGH_READINGS: "Fewer than two readings, in order, of the meter this "
        f"toner prints on in the last {HISTORY_DAYS} days.",
        Reason.NO_METER: "The device's model has no meter counting this toner's pages.",
        Reason.NO_YIELD: "The consumable has no rated yield and no cartridge of this device "
        "has been used up yet.",
        Reason.NO_USAGE: "The meter has not moved: the device prints nothing.",
    },
)
TonerForecastMethodEnum = described_enum(
    Method,
    name="TonerForecastMethod",
    description="Pages per day always come from the meter the toner prints on (weekday-aware "
    "mean over its recent readings, the highest and lowest fifth left out); the methods differ "
    "in the yield a cartridge is taken to give.",
    values={
        Method.RATED_YIELD: "The consumable's rated yield: no cartridge of this device has been "
        "used up yet, and the one in it has not been used enough to tell.",
        Method.LEARNED_YIELD: "The rated yield corrected by the pages this device really got "
        "out of its past cartridges and is getting out of the one in it.",
        Method.OBSERVED_YIELD: "No rated yield: the pages this device got out of its cartridges.",
    },
)


@strawberry.type(
    description="When a toner cartridge is expected to run out. Either `reason` is set and "
    "every figure is null, or `reason` is null and every figure is set."
)
class TonerForecast:
    reason: TonerForecastReasonEnum | None = strawberry.field(
        description="Why there is no forecast (null when there is one)."
    )
    pages_per_day: float | None = strawberry.field(
        description="Pages per calendar day this toner prints on, averaged over a week (from "
        "the device's meter readings; robust to gaps, outliers and counter resets)."
    )
    pages_left: int | None = strawberry.field(
        description="Pages the cartridge still has: the level times the effective yield."
    )
    effective_yield_pages: int | None = strawberry.field(
        description="Pages a full cartridge gives this device (see `method`)."
    )
    days_to_empty: int | None = strawberry.field(
        description="Whole days from today (site time) until it is expected to be empty "
        "(0: empty now; at most 3650)."
    )
    empty_on: date | None = strawberry.field(
        description="The day it is expected to run out, in the site's time zone."
    )
    low: date | None = strawberry.field(
        description="Earliest day of the 80 % interval of `emptyOn` (10 % chance it runs out "
        "sooner)."
    )
    high: date | None = strawberry.field(
        description="Latest day of the 80 % interval of `emptyOn` (10 % chance it lasts longer)."
    )
    confidence: float | None = strawberry.field(
        description="From 0 to 1: 1 for a tight interval; lower as the interval widens "
        "against the forecast (irregular use, few readings, an unproven yield)."
    )
    method: TonerForecastMethodEnum | None = strawberry.field(
        description="Where the effective yield comes from."
    )

    @classmethod
    def from_forecast(cls, found: ForecastResult) -> TonerForecast:
        return cls(
            reason=found.reason,
            pages_per_day=round(found.pages_per_day, 1)
            if found.pages_per_day is not None
            else None,
            pages_left=round(found.pages_left) if found.pages_left is not None else None,
            effective_yield_pages=round(found.effective_yield)
            if found.effective_yield is not None
            else None,
            days_to_empty=found.days_to_empty,
            empty_on=found.empty_on,
            low=found.low,
            high=found.high,
            confidence=found.confidence,
            method=found.method,
        )


@strawberry.type(description="The last level an e-Maintenance device reported for a consumable.")
class TonerLevel:
    consumable: Consumable = strawberry.field(description="The consumable.")
    percent: int | None = strawberry.field(
        description="Level left, in percent; null when `state` is not MEASURED."
    )
    state: TonerLevelStateEnum = strawberry.field(
        description="A measured percentage, or the special value the device reported."
    )
    low: bool = strawberry.field(
        description="Whether the level is measured and at or under the consumable's reorder "
        "threshold."
    )
    reported_at: datetime = strawberry.field(description="When the device reported it.")
    row: strawberry.Private[TonerLevelRow]
    device: strawberry.Private[DeviceRow | None]

    @classmethod
    def from_rows(
        cls, level: TonerLevelRow, consumable: ConsumableRow, device: DeviceRow | None = None
    ) -> TonerLevel:
        return cls(
            consumable=Consumable.from_row(consumable),
            percent=level.percent,
            state=level.state,
            low=level.percent is not None and level.percent <= consumable.reorder_threshold_percent,
            reported_at=level.reported_at,
            row=level,
            device=device,
        )

    def granted(self, scope: Scope) -> frozenset[Permission]:
        return scope.permissions_on_device(self.device) if self.device is not None else frozenset()

    @permission_field(
        Permission.VIEW_TONER_LEVELS,
        description="When this toner is expected to run out, from the device's usage and the "
        "yield it gets from its cartridges (toners only; null for other consumables).",
    )
    async def forecast(self, info: Info) -> TonerForecast | None:
        found = await info.context.loaders[TonerForecastsByDeviceIdLoader].load(self.row.device_id)
        if found is None:
            return None
        result = found.by_consumable.get(self.row.consumable_id)
        return TonerForecast.from_forecast(result) if result is not None else None


@strawberry.type(
    description="What the e-Maintenance devices a stock location supplies will need of one "
    "consumable within a horizon, against the stock on its shelf."
)
class ConsumableDemand:
    consumable: Consumable = strawberry.field(description="The consumable.")
    cartridges_needed: int = strawberry.field(
        description="Cartridges the supplied devices are forecast to need within the horizon: "
        "when the current one runs out, then one per cartridge's worth of pages."
    )
    devices_in_need: int = strawberry.field(
        description="Supplied devices that will need at least one within the horizon."
    )
    devices_without_forecast: int = strawberry.field(
        description="Supplied devices taking it whose level has no forecast (see "
        "`TonerForecast.reason`): not counted in `cartridgesNeeded`."
    )
    on_hand: int = strawberry.field(description="Units on the location's shelf now.")
    on_order: int = strawberry.field(
        description="Units in replenishment orders not yet delivered (PENDING or SHIPPED)."
    )
    shortfall: int = strawberry.field(
        description="Cartridges needed beyond what is on hand and on order (0 when covered)."
    )
    runs_out_on: date | None = strawberry.field(
        description="The day the stock on hand (orders not counted) can no longer serve a need, "
        "in the supplied device's site time zone; null when it lasts the horizon."
    )

    @classmethod
    def from_demand(cls, found: DemandResult) -> ConsumableDemand:
        return cls(
            consumable=Consumable.from_row(found.consumable),
            cartridges_needed=found.cartridges_needed,
            devices_in_need=found.devices_in_need,
            devices_without_forecast=found.devices_without_forecast,
            on_hand=found.on_hand,
            on_order=found.on_order,
            shortfall=max(0, found.cartridges_needed - found.on_hand - found.on_order),
            runs_out_on=found.runs_out_on,
        )


@strawberry.type(description="Whom the carrier asks for at a stock location.")
class StockContact:
    name: str | None = strawberry.field(description="Contact name.")
    phone: str | None = strawberry.field(description="Phone number.")
    email: str | None = strawberry.field(description="E-mail address.")


@strawberry.type(
    description="A place that receives toner for the e-Maintenance devices it supplies."
)
class StockLocation(LoadedNode):
    id: relay.NodeID[int]
    name: str = strawberry.field(description="Name.")
    shipping_instructions: str = strawberry.field(description="What the carrier must know.")
    contact: StockContact = strawberry.field(description="Whom the carrier asks for.")
    lead_time_days: int = strawberry.field(
        description="Days a replenishment takes to arrive. A supplied device's toner forecast "
        "to run out within `leadTimeDays` + `safetyDays` is ordered just in time."
    )
    safety_days: int = strawberry.field(
        description="Days of margin added to the lead time for just-in-time orders."
    )
    version: int = strawberry.field(
        description="Changes with every update; give it back to `updateStockLocation`."
    )
    row: strawberry.Private[StockLocationRow]

    by_id_loader = StockLocationByIdLoader

    @classmethod
    def from_row(cls, row: StockLocationRow) -> StockLocation:
        return cls(
            id=row.id,
            name=row.name,
            shipping_instructions=row.shipping_instructions,
            contact=StockContact(
                name=row.contact_name, phone=row.contact_phone, email=row.contact_email
            ),
            lead_time_days=row.lead_time_days,
            safety_days=row.safety_days,
            version=row.version,
            row=row,
        )

    def granted(self, scope: Scope) -> frozenset[Permission]:
        return scope.stock_location_permissions(self.row)

    @permission_field(
        Permission.VIEW_STOCK_LEVELS,
        description="Per consumable (its stock levels and every toner its e-Maintenance devices "
        "report), by SKU: the cartridges the devices it supplies are forecast to need within "
        "`days` days, against the stock on hand, and the day that stock runs out.",
    )
    async def projected_demand(
        self,
        info: Info,
        days: Annotated[
            int,
            strawberry.argument(
                description=f"The horizon, in days from today (1-{MAX_DEMAND_DAYS})."
            ),
        ],
    ) -> list[ConsumableDemand] | None:
        if not 1 <= days <= MAX_DEMAND_DAYS:
            raise BadUserInput(
                message_code="DAYS_OUT_OF_RANGE",
                params={"minimum": 1, "maximum": MAX_DEMAND_DAYS},
                language=info.context.language,
                argument="days",
            )
        found = await info.context.loaders[ProjectedDemandByStockLocationIdLoader].load(
            (self.id, days)
        )
        return [ConsumableDemand.from_demand(d) for d in found]

    @strawberry.field(description="The site the location is at.")
    async def site(self, info: Info) -> Site | None:
        return await Site.load(info, self.row.site_id)

    @strawberry.field(description="The account the location belongs to.")
    async def account(self, info: Info) -> Account | None:
        return await Account.load(info, self.row.account_id)

    @permission_field(Permission.VIEW_STOCK_LEVELS, description="Stock per consumable, by SKU.")
    async def stock_levels(self, info: Info) -> list[StockLevel] | None:
        rows = await info.context.loaders[StockLevelsByStockLocationIdLoader].load(self.id)
        return [StockLevel.from_rows(level, consumable) for level, consumable in rows]

    @strawberry.field(
        **shown_to(
            SEES_DEVICES,
            "The e-Maintenance devices this location supplies that the viewer may see.",
        )
    )
    async def devices(self, info: Info) -> list[Device]:
        rows = await info.context.loaders[DevicesByStockLocationIdLoader].load(self.id)
        return [Device.from_row(r) for r in rows]

    @permission_field(
        Permission.VIEW_STOCK_LEVELS,
        description="Replenishment orders shipped here, newest first (keyset pages of at most "
        "100).",
    )
    async def replenishment_orders(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        statuses: Annotated[
            list[ReplenishmentStatusEnum] | None,
            strawberry.argument(description="Only orders in one of these statuses."),
        ] = None,
    ) -> ReplenishmentOrderConnection | None:
        page = await replenishment_order_connection(
            info.context,
            self.id,
            first=first,
            after=after,
            last=last,
            before=before,
            statuses=statuses,
        )
        return ReplenishmentOrderConnection.of(page, ReplenishmentOrder.from_row)


@strawberry.type(
    description="Toner sent to a stock location because a device reported a low level."
)
class ReplenishmentOrder(LoadedNode):
    id: relay.NodeID[int]
    status: ReplenishmentStatusEnum = strawberry.field(description="Where the order stands.")
    quantity: int = strawberry.field(description="Units ordered.")
    created_at: datetime = strawberry.field(description="When the low level created it.")
    shipped_at: datetime | None = strawberry.field(description="When it was shipped.")
    delivered_at: datetime | None = strawberry.field(description="When it was delivered.")
    row: strawberry.Private[ReplenishmentOrderRow]

    by_id_loader = ReplenishmentOrderByIdLoader

    @classmethod
    def from_row(cls, row: ReplenishmentOrderRow) -> ReplenishmentOrder:
        return cls(
            id=row.id,
            status=row.status,
            quantity=row.quantity,
            created_at=row.created_at,
            shipped_at=row.shipped_at,
            delivered_at=row.delivered_at,
            row=row,
        )

    @strawberry.field(description="The consumable ordered.")
    async def consumable(self, info: Info) -> Consumable:
        row = await info.context.loaders[ConsumableByIdLoader].load(self.row.consumable_id)
        return Consumable.from_row(row)

    @strawberry.field(
        **shown_to(SEES_DEVICES, "The device whose low level created the order, if visible.")
    )
    async def device(self, info: Info) -> Device | None:
        return await Device.load(info, self.row.device_id)

    @strawberry.field(description="Where the order ships to, if visible.")
    async def stock_location(self, info: Info) -> StockLocation | None:
        return await StockLocation.load(info, self.row.stock_location_id)


@strawberry.type(description="A page of replenishment orders, newest first.")
class ReplenishmentOrderConnection(Connection[ReplenishmentOrder]):
    pass


@strawberry.input(description="Narrows the stock locations list; all given conditions must hold.")
class StockLocationFilter:
    low_stock: bool | None = strawberry.field(
        default=None,
        description="true: only locations with a consumable at or under its reorder point; "
        "false: only locations with none.",
    )
    account_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Accounts (their sub-accounts included)."
    )


@strawberry.type(description="A page of stock locations.")
class StockLocationConnection(Connection[StockLocation]):
    pass


# --- mutations ------------------------------------------------------------------------------


@strawberry.input(description="Whom the carrier asks for; replaces the three values.")
class StockContactInput:
    name: str | None = strawberry.field(default=None, description="Contact name.")
    phone: str | None = strawberry.field(default=None, description="Phone number.")
    email: str | None = strawberry.field(default=None, description="E-mail address.")


@strawberry.input(description="New data for a stock location; omitted fields stay as they are.")
class UpdateStockLocationInput:
    id: strawberry.ID = strawberry.field(description="The stock location.")
    name: str | None = strawberry.field(default=None, description="New name.")
    shipping_instructions: str | None = strawberry.field(
        default=None, description="New shipping instructions."
    )
    contact: StockContactInput | None = strawberry.field(default=None, description="New contact.")
    lead_time_days: int | None = strawberry.field(
        default=None, description="Days a replenishment takes to arrive (0-365)."
    )
    safety_days: int | None = strawberry.field(
        default=None, description="Days of margin for just-in-time orders (0-365)."
    )
    version: int | None = strawberry.field(
        default=None,
        description="The version the change is based on; refused with STALE_VERSION when "
        "someone changed the location since.",
    )


@strawberry.input(description="The counted quantity of one consumable.")
class StockCountInput:
    consumable_id: strawberry.ID = strawberry.field(description="The consumable.")
    quantity: int = strawberry.field(description="Units counted (0 or more).")


@strawberry.input(description="A stock count: the quantities now on the shelf.")
class RecordStockCountInput:
    stock_location_id: strawberry.ID = strawberry.field(description="The stock location.")
    counts: list[StockCountInput] = strawberry.field(description="One entry per consumable.")


@strawberry.input(
    description="One level reported by a device; name the consumable by id or by toner colour."
)
class TonerLevelReportInput:
    consumable_id: strawberry.ID | None = strawberry.field(
        default=None, description="The consumable."
    )
    colour: TonerColourEnum | None = strawberry.field(
        default=None, description="The toner of this colour the device's model takes."
    )
    percent: int | None = strawberry.field(
        default=None,
        description="Level left, 0-100; or the Printer MIB's special value as the device gave "
        "it: -2 unknown (-1 other, taken as unknown), -3 some remaining. Required unless "
        "`state` says UNKNOWN or SOME_REMAINING.",
    )
    state: TonerLevelStateEnum | None = strawberry.field(
        default=None,
        description="UNKNOWN or SOME_REMAINING when the device cannot measure the level (then "
        "no `percent`); MEASURED (the default) with a `percent`.",
    )


@strawberry.input(description="Levels an e-Maintenance device reports.")
class ReportTonerLevelsInput:
    device_id: strawberry.ID = strawberry.field(description="The reporting device.")
    levels: list[TonerLevelReportInput] = strawberry.field(description="The levels.")


@strawberry.input(description="Moves a replenishment order on.")
class UpdateReplenishmentOrderInput:
    id: strawberry.ID = strawberry.field(description="The order.")
    status: ReplenishmentStatusEnum = strawberry.field(
        description="SHIPPED (from PENDING), DELIVERED (from SHIPPED; adds the quantity to the "
        "stock level) or CANCELLED (before delivery)."
    )


@strawberry.type(description="Result of `updateStockLocation`.")
class UpdateStockLocationPayload(Payload):
    stock_location: StockLocation | None = strawberry.field(
        default=None, description="The location as stored."
    )


@strawberry.type(description="Result of `recordStockCount`.")
class RecordStockCountPayload(Payload):
    stock_location: StockLocation | None = strawberry.field(
        default=None, description="The location, with its new levels."
    )


@strawberry.type(description="Result of `reportTonerLevels`.")
class ReportTonerLevelsPayload(Payload):
    toner_levels: list[TonerLevel] = strawberry.field(
        default_factory=list, description="The levels as stored."
    )
    replenishment_orders: list[ReplenishmentOrder] = strawberry.field(
        default_factory=list,
        description="Orders this report created (none when an order was already open).",
    )


@strawberry.type(description="Result of `updateReplenishmentOrder`.")
class UpdateReplenishmentOrderPayload(Payload):
    replenishment_order: ReplenishmentOrder | None = strawberry.field(
        default=None, description="The order as stored."
    )


@strawberry.type
class StockQuery:
    @strawberry.field(
        **shown_to(
            SEES_STOCK_LOCATIONS,
            "Stock locations the viewer may see (administrators: their accounts'; stock "
            "managers: the ones assigned to them; agents: all), by name.",
        )
    )
    async def stock_locations(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        filter: Annotated[StockLocationFilter | None, FILTER] = None,
    ) -> StockLocationConnection:
        page = await stock_location_connection(
            info.context, first=first, after=after, last=last, before=before, filter=filter
        )
        return StockLocationConnection.of(page, StockLocation.from_row)


@strawberry.type
class StockMutation:
    @mutation(
        requires(P.MANAGE_STOCK_LOCATIONS),
        description="Updates a stock location's name, shipping instructions and contact. ",
    )
    async def update_stock_location(
        self,
        info: Info,
        input: Annotated[
            UpdateStockLocationInput,
            strawberry.argument(
                description="The stock location, the version read and the new values."
            ),
        ],
    ) -> UpdateStockLocationPayload:
        async def work() -> UpdateStockLocationPayload:
            row = await update_stock_location(info.context, input)
            return UpdateStockLocationPayload(stock_location=StockLocation.from_row(row))

        return await transactional(info, UpdateStockLocationPayload, work)

    @mutation(
        requires(P.MANAGE_STOCK_LOCATIONS),
        description="Records counted quantities at a stock location. ",
    )
    async def record_stock_count(
        self,
        info: Info,
        input: Annotated[
            RecordStockCountInput,
            strawberry.argument(
                description="The stock location and the quantities counted on its shelf."
            ),
        ],
    ) -> RecordStockCountPayload:
        async def work() -> RecordStockCountPayload:
            row = await record_stock_count(info.context, input)
            return RecordStockCountPayload(stock_location=StockLocation.from_row(row))

        return await transactional(info, RecordStockCountPayload, work)

    @mutation(
        requires(P.REPORT_TONER_LEVELS),
        description="Toner levels from an e-Maintenance device; a level at or under the "
        "consumable's threshold orders a replacement for the device's stock location (at most "
        "one open order per device and consumable). ",
    )
    async def report_toner_levels(
        self,
        info: Info,
        input: Annotated[
            ReportTonerLevelsInput,
            strawberry.argument(
                description="The e-Maintenance device and the toner levels it measured."
            ),
        ],
    ) -> ReportTonerLevelsPayload:
        async def work() -> ReportTonerLevelsPayload:
            levels, orders = await report_toner_levels(info.context, input)
            return ReportTonerLevelsPayload(
                toner_levels=[TonerLevel.from_rows(level, c) for level, c in levels],
                replenishment_orders=[ReplenishmentOrder.from_row(o) for o in orders],
            )

        return await transactional(info, ReportTonerLevelsPayload, work)

    @mutation(
        requires(P.MANAGE_REPLENISHMENT),
        description="Moves a replenishment order on (vendor side). ",
    )
    async def update_replenishment_order(
        self,
        info: Info,
        input: Annotated[
            UpdateReplenishmentOrderInput,
            strawberry.argument(description="The replenishment order and the status it moves to."),
        ],
    ) -> UpdateReplenishmentOrderPayload:
        async def work() -> UpdateReplenishmentOrderPayload:
            row = await update_replenishment_order(info.context, input)
            return UpdateReplenishmentOrderPayload(
                replenishment_order=ReplenishmentOrder.from_row(row)
            )

        return await transactional(info, UpdateReplenishmentOrderPayload, work)
