"""The `meterReadings` list: the readings of every device the viewer may read meters of, for
analytics (and bulk exports), in (reading day, id) order."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import strawberry

from auth.policy import Permission
from auth.requirements import requires
from forecasting.meters import Flag
from models.enums import MeterType, ReadingSource
from resolvers.meter_readings import ReadingFilterIn, reading_connection
from schema.context import Info
from schema.lookahead import connection_node_paths
from schema.meters import (
    MeterReading,
    MeterReadingConnection,
    MeterReadingFlagEnum,
    MeterTypeEnum,
    ReadingSourceEnum,
)
from schema.pagination import FILTER, After, First
from schema.permissions import shown_to

READS_METERS = requires(Permission.VIEW_METER_READINGS)


@strawberry.input(description="Narrows the meter readings list; all given conditions must hold.")
class MeterReadingFilter:
    device_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="Devices.")
    site_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Sites (the devices standing there now)."
    )
    account_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Accounts (their sub-accounts included)."
    )
    from_: date | None = strawberry.field(
        default=None, name="from", description="First reading day (site time), inclusive."
    )
    to: date | None = strawberry.field(
        default=None, description="Last reading day (site time), inclusive."
    )
    meters: list[MeterTypeEnum] | None = strawberry.field(
        default=None, description="Meters (all by default)."
    )
    sources: list[ReadingSourceEnum] | None = strawberry.field(
        default=None, description="How the readings came in (all by default)."
    )
    flags: list[MeterReadingFlagEnum] | None = strawberry.field(
        default=None, description="Only readings carrying at least one of these flags."
    )


def reading_filter(given: MeterReadingFilter | None) -> ReadingFilterIn | None:
    """The resolvers' filter from the GraphQL input."""
    if given is None:
        return None
    return ReadingFilterIn(
        device_ids=[str(i) for i in given.device_ids] if given.device_ids is not None else None,
        site_ids=[str(i) for i in given.site_ids] if given.site_ids is not None else None,
        account_ids=[str(i) for i in given.account_ids] if given.account_ids is not None else None,
        from_=given.from_,
        to=given.to,
        meters=[MeterType(m) for m in given.meters] if given.meters is not None else None,
        sources=[ReadingSource(s) for s in given.sources] if given.sources is not None else None,
        flags=[Flag(f) for f in given.flags] if given.flags is not None else None,
    )


@strawberry.type
class MeterReadingQuery:
    @strawberry.field(
        **shown_to(
            READS_METERS,
            "Meter readings of every device whose readings the viewer may see, oldest first "
            "(by reading day, then as stored; keyset pages of at most 100). For analytics "
            "tools: export them all with `startBulkExport`.",
        )
    )
    async def meter_readings(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        filter: Annotated[MeterReadingFilter | None, FILTER] = None,
    ) -> MeterReadingConnection:
        page = await reading_connection(
            info.context,
            first=first,
            after=after,
            filter=reading_filter(filter),
            node_paths=connection_node_paths(info),
        )
        return MeterReadingConnection.of(page, MeterReading.from_row)
