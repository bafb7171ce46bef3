"""Meter readings: submission (portal, bulk upload, e-Maintenance), agent corrections, the
history and latest readings of a device, and usage analytics."""

from __future__ import annotations

from datetime import date, datetime
from operator import itemgetter
from typing import TYPE_CHECKING, Annotated, Any, cast

import strawberry
from strawberry import relay

from auth.policy import Permission
from auth.requirements import requires
from core.ids import global_id
from forecasting.meters import Basis, Flag, bits_to_flags
from models import MeterReading as MeterReadingRow
from models.enums import MeterType, ReadingSource
from resolvers import meters as rules
from resolvers import usage
from resolvers.audit import mutation_entry
from resolvers.loaders.accounts import SiteByIdLoader
from resolvers.loaders.meters import (
    EstimatedReadingsByDeviceIdLoader,
    LatestReadingsByDeviceIdLoader,
    MeterReadingByIdLoader,
    SubmitterNameByClientIdLoader,
    SubmitterNameByUserIdLoader,
)
from resolvers.reading_due import is_reading_due
from schema.compiled import direct
from schema.context import Info
from schema.enums import described_enum
from schema.errors import UserErrorType
from schema.mutations import Payload, payload_errors, transactional
from schema.node import then
from schema.pagination import After, Connection, First
from schema.permissions import mutation, permission_field

if TYPE_CHECKING:
    from schema.devices import Device  # devices carry their meter readings

P = Permission
DeviceRef = Annotated["Device", strawberry.lazy("schema.devices")]

MeterTypeEnum = described_enum(
    MeterType,
    name="MeterType",
    description="A page counter of a device (a model has several).",
    values={
        MeterType.TOTAL: "All pages the device has printed or copied.",
        MeterType.BLACK: "Black-and-white pages.",
        MeterType.COLOUR: "Colour pages.",
        MeterType.LARGE_BLACK: "Large-format (A3 and larger) black-and-white pages.",
        MeterType.LARGE_COLOUR: "Large-format (A3 and larger) colour pages.",
        MeterType.SCAN: "Scanned pages.",
    },
)
ReadingSourceEnum = described_enum(
    ReadingSource,
    name="ReadingSource",
    description="How a meter reading came in.",
    values={
        ReadingSource.PORTAL: "Typed in by a customer in the portal (`submitMeterReadings`).",
        ReadingSource.BULK_UPLOAD: "Part of a customer's upload (`submitMeterReadingsBatch`).",
        ReadingSource.REMOTE: "Reported by the device itself through e-Maintenance "
        "(`reportMeterReadings`).",
        ReadingSource.AGENT_CORRECTION: "Corrected by a vendor agent (`correctMeterReading`); "
        "the original value is in the audit log.",
    },
)
MeterReadingFlagEnum = described_enum(
    Flag,
    name="MeterReadingFlag",
    description="Something to look at in a stored reading (a flagged reading is stored all "
    "the same).",
    values={
        Flag.SPIKE: "Far more pages since the previous reading than the device usually prints "
        "(over three times its daily rate of the three whole months before that previous "
        "reading, and at least 500 pages), or as many as its model can print every day.",
        Flag.STALE_DEVICE: "The meter had not been read for more days than the portal allows "
        "(STALE_DEVICE_DAYS, 45 by default) before this reading.",
        Flag.ESTIMATED: "An estimate, not read off the counter: stored with `estimated: true`, "
        "or computed by `Device.estimatedReadings`.",
    },
)
EstimateBasisEnum = described_enum(
    Basis,
    name="EstimateBasis",
    description="How an estimated counter value was found.",
    values={
        Basis.READ: "The meter was read that day: the value is the reading.",
        Basis.INTERPOLATED: "Between two readings: their pages spread over the days between "
        "them by the device's week; the bounds are the two readings.",
        Basis.EXTRAPOLATED: "After the last reading: the device's usage trend carried on, with "
        "an 80 % interval.",
    },
)
UsageGroupByEnum = described_enum(
    usage.GroupBy,
    name="UsageGroupBy",
    description="What usage figures are totalled per.",
    values={
        usage.GroupBy.DEVICE: "One figure per device.",
        usage.GroupBy.SITE: "One figure per site (the devices standing there).",
        usage.GroupBy.ACCOUNT: "One figure per account (its own devices, sub-accounts apart).",
        usage.GroupBy.MODEL: "One figure per product model.",
    },
)
UsagePeriodEnum = described_enum(
    usage.Period,
    name="UsagePeriod",
    description="The length of the periods of a usage report.",
    values={
        usage.Period.DAY: "Calendar days.",
        usage.Period.WEEK: "Weeks from Monday to Sunday.",
        usage.Period.MONTH: "Calendar months.",
    },
)


@strawberry.type(description="Who submitted a reading: a person or a machine client.")
class ReadingSubmitter:
    name: str = strawberry.field(description="The person's or the client's name.")
    machine_client: bool = strawberry.field(
        description="Whether a machine client (e-Maintenance) reported it."
    )


@strawberry.type(description="One reading of one meter of a device on one day.")
class MeterReading(relay.Node):
    id: relay.NodeID[int]
    meter: MeterTypeEnum = strawberry.field(description="Which meter.")
    reading_date: date = strawberry.field(description="The day, in the device site's time zone.")
    value: int = strawberry.field(description="The counter value.")
    source: ReadingSourceEnum = strawberry.field(description="How it came in.")
    correction_reason: str | None = strawberry.field(
        description="Why an agent corrected it (the original value is in the audit log)."
    )
    flags: list[MeterReadingFlagEnum] = strawberry.field(
        description="What to look at in it, set when it was stored (empty: nothing)."
    )
    created_at: datetime = strawberry.field(description="When it was recorded.")
    row: strawberry.Private[MeterReadingRow]

    @classmethod
    def from_row(cls, row: MeterReadingRow) -> MeterReading:
        """From an ORM row or a Core row with the same columns (a page's latest readings:
        a few hundred rows, whose values are then taken by position at once)."""
        fields = getattr(row, "_fields", None)
        if fields is not None:
            getter = _VALUES.get(fields)
            if getter is None:
                getter = _VALUES[fields] = itemgetter(*(fields.index(n) for n in _COLUMNS))
            id_, meter, day, value, source, reason, flags, created_at = getter(cast(Any, row))
        else:
            id_, meter, day, value = row.id, row.meter, row.reading_date, row.value
            source, reason, flags = row.source, row.correction_reason, row.flags
            created_at = row.created_at
        return cls(
            id=id_,
            meter=meter,
            reading_date=day,
            value=value,
            source=source,
            correction_reason=reason,
            flags=bits_to_flags(flags) if flags else [],
            created_at=created_at,
            row=row,
        )

    @classmethod
    async def resolve_nodes(
        cls, *, info: Info, node_ids: Any, required: bool = False
    ) -> list[MeterReading | None]:
        scope = await info.context.require_scope()
        found = await info.context.loaders[MeterReadingByIdLoader].load_many(
            [int(i) for i in node_ids]
        )
        return [
            cls.from_row(pair[0])
            if pair is not None and P.VIEW_METER_READINGS in scope.permissions_on_device(pair[1])
            else None
            for pair in found
        ]

    @strawberry.field(description="Who submitted it (the agent, for a correction).")
    async def submitted_by(self, info: Info) -> ReadingSubmitter | None:
        if self.row.submitted_by_user_id is not None:
            name = await info.context.loaders[SubmitterNameByUserIdLoader].load(
                self.row.submitted_by_user_id
            )
            return ReadingSubmitter(name=name, machine_client=False) if name else None
        if self.row.submitted_by_client_id is not None:
            name = await info.context.loaders[SubmitterNameByClientIdLoader].load(
                self.row.submitted_by_client_id
            )
            return ReadingSubmitter(name=name, machine_client=True) if name else None
        return None

    @strawberry.field(description="The device read.")
    async def device(self, info: Info) -> DeviceRef | None:
        from schema.devices import Device  # devices carry their meter readings

        return await Device.load(info, self.row.device_id)


# The columns `MeterReading.from_row` reads, in its order, and a getter of their values per
# Core row shape (its field names).
_COLUMNS = (
    "id",
    "meter",
    "reading_date",
    "value",
    "source",
    "correction_reason",
    "flags",
    "created_at",
)
_VALUES: dict[tuple[str, ...], Any] = {}


@strawberry.type(description="A page of meter readings (in the order its list says).")
class MeterReadingConnection(Connection[MeterReading]):
    pass


@strawberry.type(description="The estimated counter of one meter on a day.")
class EstimatedReading:
    meter: MeterTypeEnum = strawberry.field(description="The meter.")
    on: date = strawberry.field(description="The day, in the device site's time zone.")
    value: int = strawberry.field(description="The estimated counter value.")
    low: int = strawberry.field(description="Lowest likely value (see `basis`).")
    high: int = strawberry.field(description="Highest likely value (see `basis`).")
    basis: EstimateBasisEnum = strawberry.field(description="How it was found.")
    flags: list[MeterReadingFlagEnum] = strawberry.field(
        description="ESTIMATED, unless the meter was read that day (then empty)."
    )


@strawberry.type(description="The newest reading of one meter of a device's model.")
class LatestReading:
    meter: MeterTypeEnum = strawberry.field(description="The meter.")
    reading: MeterReading | None = strawberry.field(
        description="Its newest reading; null when it has never been read."
    )


# --- Device fields (attached in schema/devices.py) ----------------------------------------


async def _device_meter_readings(
    root: Any,
    info: Info,
    meter: Annotated[
        MeterTypeEnum | None, strawberry.argument(description="Only this meter (all by default).")
    ] = None,
    from_: Annotated[
        date | None, strawberry.argument(name="from", description="From this day on.")
    ] = None,
    to: Annotated[date | None, strawberry.argument(description="Up to this day.")] = None,
    first: First = None,
    after: After = None,
    flags: Annotated[
        list[MeterReadingFlagEnum] | None,
        strawberry.argument(
            description="Only readings carrying at least one of these flags (all by default)."
        ),
    ] = None,
) -> MeterReadingConnection:
    page = await rules.meter_reading_connection(
        info.context,
        root.row.id,
        meter=meter,
        from_=from_,
        to=to,
        first=first,
        after=after,
        flags=[Flag(f) for f in flags] if flags is not None else None,
    )
    return MeterReadingConnection.of(page, MeterReading.from_row)


def _latest_readings_of(root: Any, context: Any) -> Any:
    return then(context.loaders[LatestReadingsByDeviceIdLoader].load(root.row.id), _latest)


@direct(_latest_readings_of)
def _device_latest_readings(root: Any, info: Info) -> list[LatestReading]:
    # a plain `def`: the list now when the loader has it, else an awaitable of it
    found: list[LatestReading] = _latest_readings_of(root, info.context)
    return found


def _latest(latest: list[tuple[Any, Any]]) -> list[LatestReading]:
    return [
        LatestReading(meter=meter, reading=MeterReading.from_row(r) if r is not None else None)
        for meter, r in latest
    ]


async def _device_estimated_readings(
    root: Any,
    info: Info,
    on: Annotated[
        date,
        strawberry.argument(
            description="The day, in the device site's time zone (not after today there)."
        ),
    ],
) -> list[EstimatedReading]:
    found = await info.context.loaders[EstimatedReadingsByDeviceIdLoader].load((root.row.id, on))
    return [
        EstimatedReading(
            meter=meter,
            on=on,
            value=e.value,
            low=e.low,
            high=e.high,
            basis=e.basis,
            flags=[] if e.basis is Basis.READ else [Flag.ESTIMATED],
        )
        for meter, e in found
    ]


async def _device_reading_due(root: Any, info: Info) -> bool:
    loaders = info.context.loaders
    latest = await loaders[LatestReadingsByDeviceIdLoader].load(root.row.id)
    site = await loaders[SiteByIdLoader].load(root.row.site_id)
    return is_reading_due(latest, site.time_zone if site is not None else None)


device_meter_readings = permission_field(
    P.VIEW_METER_READINGS,
    description="The meter history, newest first, optionally for one meter and a date range.",
    resolver=_device_meter_readings,
)
device_latest_readings = permission_field(
    P.VIEW_METER_READINGS,
    description="The newest reading of each meter of the device's model.",
    resolver=_device_latest_readings,
)
device_estimated_readings = permission_field(
    P.VIEW_METER_READINGS,
    description="The billing estimate of each meter of the device's model on a day without a "
    "reading, from its readings and usage trend, with its bounds (meters never read before "
    "that day, or without a trend, are left out).",
    resolver=_device_estimated_readings,
)
device_reading_due = permission_field(
    P.VIEW_METER_READINGS,
    description="Whether a reading is due: none since the 1st of the month (site time).",
    resolver=_device_reading_due,
)


# --- inputs and payloads ------------------------------------------------------------------


@strawberry.input(description="One meter's value.")
class MeterValueInput:
    meter: MeterTypeEnum = strawberry.field(description="The meter.")
    value: int = strawberry.field(description="The counter value read.")
    estimated: bool = strawberry.field(
        default=False,
        description="The value is an estimate (e.g. from `Device.estimatedReadings`), not read "
        "off the counter: stored with the ESTIMATED flag.",
    )


@strawberry.input(description="The readings of one device on one day.")
class SubmitMeterReadingsInput:
    device_id: strawberry.ID = strawberry.field(description="The device.")
    reading_date: date | None = strawberry.field(
        default=None, description="The day read; today in the device site's time zone if omitted."
    )
    readings: list[MeterValueInput] = strawberry.field(
        description=f"One value per meter (at most {rules.MAX_READINGS_PER_ROW})."
    )


@strawberry.input(description=f"Readings of up to {rules.MAX_BATCH_ROWS} devices.")
class MeterReadingsBatchInput:
    rows: list[SubmitMeterReadingsInput] = strawberry.field(
        description="One row per device and day, as in a spreadsheet."
    )


@strawberry.input(description="An agent's correction of one reading.")
class CorrectMeterReadingInput:
    reading_id: strawberry.ID = strawberry.field(description="The reading to correct.")
    value: int = strawberry.field(description="The right value.")
    reason: str = strawberry.field(description="Why (kept with the reading and in the audit log).")


@strawberry.type(description="Result of submitting one device's readings.")
class SubmitMeterReadingsPayload(Payload):
    device: DeviceRef | None = strawberry.field(default=None, description="The device read.")
    readings: list[MeterReading] = strawberry.field(
        default_factory=list, description="The readings stored (none when refused)."
    )


@strawberry.type(description="What became of one row of an upload.")
class MeterReadingsRowResult:
    index: int = strawberry.field(description="Position of the row in the input (from 0).")
    device_id: strawberry.ID = strawberry.field(description="The device ID as given.")
    device: DeviceRef | None = strawberry.field(description="The device, when found.")
    accepted: bool = strawberry.field(description="Whether its readings were stored.")
    readings: list[MeterReading] = strawberry.field(description="The readings stored.")
    errors: list[UserErrorType] = strawberry.field(
        description="Why the row was refused (nothing of it stored)."
    )


@strawberry.type(description="Result of an upload: good rows stored, bad rows reported.")
class MeterReadingsBatchPayload(Payload):
    results: list[MeterReadingsRowResult] = strawberry.field(
        default_factory=list, description="One result per input row, in input order."
    )
    accepted_count: int = strawberry.field(default=0, description="Rows stored.")
    refused_count: int = strawberry.field(default=0, description="Rows refused.")


@strawberry.type(description="Result of a correction.")
class CorrectMeterReadingPayload(Payload):
    reading: MeterReading | None = strawberry.field(default=None, description="The reading.")


@strawberry.input(description="Which readings a usage report covers; all conditions hold.")
class MeterUsageFilter:
    account_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Accounts (their sub-accounts included)."
    )
    site_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="Sites.")
    device_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="Devices.")
    meters: list[MeterTypeEnum] | None = strawberry.field(
        default=None, description="Meters (all by default)."
    )
    from_: date | None = strawberry.field(
        default=None, name="from", description="First day (default: a year before `to`)."
    )
    to: date | None = strawberry.field(default=None, description="Last day (default: today).")


@strawberry.type(description="Pages printed by one group on one meter in one period.")
class MeterUsage:
    group_id: strawberry.ID = strawberry.field(
        description="The device, site, account or product model totalled."
    )
    group_name: str = strawberry.field(description="Its name (serial number for a device).")
    meter: MeterTypeEnum = strawberry.field(description="The meter.")
    period_start: date = strawberry.field(description="First day of the period.")
    period_end: date = strawberry.field(description="Last day of the period.")
    pages: float = strawberry.field(
        description="Pages counted in the period (between two readings, spread evenly per day)."
    )


def _rows(inputs: list[SubmitMeterReadingsInput]) -> list[rules.RowIn]:
    return [
        rules.RowIn(
            device_id=str(row.device_id),
            reading_date=row.reading_date,
            readings=[
                rules.ReadingIn(MeterType(r.meter), r.value, r.estimated) for r in row.readings
            ],
        )
        for row in inputs
    ]


def _device(row: Any) -> Device | None:
    from schema.devices import Device  # devices carry their meter readings

    return Device.from_row(row) if row is not None else None


def _batch_payload(
    info: Info, inputs: list[SubmitMeterReadingsInput], outcomes: list[rules.RowOutcome]
) -> MeterReadingsBatchPayload:
    results = [
        MeterReadingsRowResult(
            index=o.index,
            device_id=inputs[o.index].device_id,
            device=_device(o.device),
            accepted=o.accepted,
            readings=[MeterReading.from_row(r) for r in o.readings],
            errors=payload_errors(info, o.errors),
        )
        for o in outcomes
    ]
    accepted = sum(1 for o in outcomes if o.accepted)
    return MeterReadingsBatchPayload(
        results=results, accepted_count=accepted, refused_count=len(outcomes) - accepted
    )


async def _submit_batch(
    info: Info,
    input: MeterReadingsBatchInput,
    source: ReadingSource,
    permission: Permission,
    *,
    remote: bool,
) -> MeterReadingsBatchPayload:
    """A batch of readings in one transaction: good rows stored, bad rows reported."""

    async def work() -> MeterReadingsBatchPayload:
        outcomes = await rules.submit_many(
            info.context, _rows(input.rows), source, permission=permission, remote=remote
        )
        return _batch_payload(info, input.rows, outcomes)

    return await transactional(info, MeterReadingsBatchPayload, work)


BATCH_INPUT = strawberry.argument(
    description="The rows: per device, the day and a value per meter."
)


@strawberry.type
class MeterMutation:
    @mutation(
        requires(P.SUBMIT_METER_READINGS),
        description="Submits one device's readings for a day; all accepted or all refused.",
    )
    async def submit_meter_readings(
        self,
        info: Info,
        input: Annotated[
            SubmitMeterReadingsInput,
            strawberry.argument(description="The device, the day and a value per meter."),
        ],
    ) -> SubmitMeterReadingsPayload:
        async def work() -> SubmitMeterReadingsPayload:
            [row] = _rows([input])
            # The mutation's audit entry, stored with the readings when one statement can.
            entry = mutation_entry(info.context, info.field_name, "ok")
            outcome = await rules.submit_one(info.context, row, ReadingSource.PORTAL, entry)
            if outcome.errors:
                return SubmitMeterReadingsPayload(user_errors=payload_errors(info, outcome.errors))
            return SubmitMeterReadingsPayload(
                device=_device(outcome.device),
                readings=[MeterReading.from_row(r) for r in outcome.readings],
            )

        return await transactional(info, SubmitMeterReadingsPayload, work)

    @mutation(
        requires(P.SUBMIT_METER_READINGS),
        description=f"Uploads readings of up to {rules.MAX_BATCH_ROWS} devices; good rows are "
        "stored, bad rows reported with their index and codes.",
    )
    async def submit_meter_readings_batch(
        self, info: Info, input: Annotated[MeterReadingsBatchInput, BATCH_INPUT]
    ) -> MeterReadingsBatchPayload:
        return await _submit_batch(
            info, input, ReadingSource.BULK_UPLOAD, P.SUBMIT_METER_READINGS, remote=False
        )

    @mutation(
        requires(P.REPORT_METER_READINGS),
        description="Readings sent by e-Maintenance for its devices (source REMOTE); answers "
        "per row like an upload.",
    )
    async def report_meter_readings(
        self, info: Info, input: Annotated[MeterReadingsBatchInput, BATCH_INPUT]
    ) -> MeterReadingsBatchPayload:
        return await _submit_batch(
            info, input, ReadingSource.REMOTE, P.REPORT_METER_READINGS, remote=True
        )

    @mutation(
        requires(P.CORRECT_METER_READINGS),
        description="Corrects a reading's value, with a reason; the original stays in the "
        "audit log.",
    )
    async def correct_meter_reading(
        self,
        info: Info,
        input: Annotated[
            CorrectMeterReadingInput,
            strawberry.argument(description="The reading, its right value and the reason."),
        ],
    ) -> CorrectMeterReadingPayload:
        async def work() -> CorrectMeterReadingPayload:
            row = await rules.correct_reading(
                info.context, str(input.reading_id), input.value, input.reason
            )
            return CorrectMeterReadingPayload(reading=MeterReading.from_row(row))

        return await transactional(info, CorrectMeterReadingPayload, work)


@strawberry.type
class MeterQuery:
    @permission_field(
        P.VIEW_USAGE_ANALYTICS,
        description="Pages printed per group and period, over the devices the viewer may see.",
    )
    async def meter_usage(
        self,
        info: Info,
        group_by: Annotated[
            UsageGroupByEnum, strawberry.argument(description="What each figure is totalled per.")
        ],
        period: Annotated[
            UsagePeriodEnum, strawberry.argument(description="The length of each period.")
        ],
        filter: Annotated[
            MeterUsageFilter | None,
            strawberry.argument(
                description="Which accounts, sites, devices, meters and days (by default every "
                "device the viewer may see, every meter, the last year)."
            ),
        ] = None,
    ) -> list[MeterUsage]:
        given = filter or MeterUsageFilter()
        rows = await usage.meter_usage(
            info.context,
            usage.UsageFilterIn(
                account_ids=given.account_ids,
                site_ids=given.site_ids,
                device_ids=given.device_ids,
                meters=[MeterType(m) for m in given.meters] if given.meters is not None else None,
                from_=given.from_,
                to=given.to,
            ),
            usage.GroupBy(group_by),
            usage.Period(period),
        )
        return [
            MeterUsage(
                group_id=strawberry.ID(global_id(r.group_type, r.group_id)),
                group_name=r.group_name,
                meter=r.meter,
                period_start=r.period_start,
                period_end=r.period_end,
                pages=r.pages,
            )
            for r in rows
        ]
