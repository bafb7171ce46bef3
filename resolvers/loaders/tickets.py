"""Loaders for tickets, their comments and events, and per-device ticket figures.

Comments and events are keyed by `(ticket_id, sees_internal)`: a key without the internal-notes
permission never gets an internal row back, whichever path asked."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select

from calendars.business_hours import Calendar, Coverage
from models import Contract, Device, Site, Ticket, TicketComment, TicketEvent, User
from models.enums import TicketStatus
from resolvers.loaders.base import ByIdLoader, ContextLoader
from resolvers.scoping import Scope

OPEN_STATUSES = (
    TicketStatus.NEW,
    TicketStatus.ASSIGNED,
    TicketStatus.IN_PROGRESS,
    TicketStatus.ON_HOLD,
)


class TicketByIdLoader(ByIdLoader[Ticket]):
    model = Ticket

    def scope_clause(self, scope: Scope) -> ColumnElement[bool]:
        return scope.tickets_clause()


def _open_tickets(scope: Scope) -> tuple[ColumnElement[bool], ...]:
    return Ticket.status.in_(OPEN_STATUSES), scope.tickets_clause()


def open_ticket_count(scope: Scope, devices: Any) -> Any:
    """The open-ticket count of each row of `devices` (a subquery of device rows) as a
    correlated subquery, for a page of devices to carry (`resolvers.joined`): the tickets the
    loader below counts."""
    return (
        select(func.count())
        .where(Ticket.device_id == devices.c.id, *_open_tickets(scope))
        .correlate(devices)
        .scalar_subquery()
    )


class OpenTicketCountByDeviceIdLoader(ContextLoader):
    """Open tickets per device the viewer may see: one grouped count for a page of devices."""

    async def batch_load_fn(self, keys: Sequence[int]) -> list[int]:
        scope = await self.context.scope()
        stmt = (
            select(Ticket.device_id, func.count())
            .where(Ticket.device_id.in_(keys), *_open_tickets(scope))
            .group_by(Ticket.device_id)
        )
        counts = dict((await self.context.session.execute(stmt)).tuples().all())
        return [int(counts.get(key, 0)) for key in keys]


class LatestTicketsByDeviceIdLoader(ContextLoader):
    """Newest tickets per device, keyed by `(device_id, limit)`: one windowed statement."""

    async def batch_load_fn(self, keys: Sequence[tuple[int, int]]) -> list[list[Ticket]]:
        scope = await self.context.scope()
        limit = max(n for _, n in keys)
        rank = (
            func.row_number()
            .over(
                partition_by=Ticket.device_id,
                order_by=(Ticket.created_at.desc(), Ticket.id.desc()),
            )
            .label("rank")
        )
        ranked = (
            select(Ticket.id, rank)
            .where(Ticket.device_id.in_({d for d, _ in keys}), scope.tickets_clause())
            .subquery()
        )
        stmt = (
            select(Ticket, ranked.c.rank)
            .join(ranked, ranked.c.id == Ticket.id)
            .where(ranked.c.rank <= limit)
            .order_by(ranked.c.rank)
        )
        by_device: dict[int, list[Ticket]] = defaultdict(list)
        for ticket, _ in (await self.context.session.execute(stmt)).tuples():
            assert ticket.device_id is not None
            by_device[ticket.device_id].append(ticket)
        return [by_device.get(device_id, [])[:n] for device_id, n in keys]


class CommentsByTicketIdLoader(ContextLoader):
    """Comments of tickets (with the author's name and side), oldest first."""

    async def batch_load_fn(
        self, keys: Sequence[tuple[int, bool]]
    ) -> list[list[tuple[TicketComment, str | None, bool]]]:
        stmt = (
            select(TicketComment, User.name, User.is_agent)
            .outerjoin(User, User.id == TicketComment.author_user_id)
            .where(TicketComment.ticket_id.in_({t for t, _ in keys}))
            .order_by(TicketComment.created_at, TicketComment.id)
        )
        if not any(sees_internal for _, sees_internal in keys):
            stmt = stmt.where(TicketComment.internal.is_(False))
        groups: dict[int, list[Any]] = defaultdict(list)
        for comment, name, is_agent in (await self.context.session.execute(stmt)).tuples():
            groups[comment.ticket_id].append((comment, name, bool(is_agent)))
        return [
            [row for row in groups.get(ticket_id, []) if sees_internal or not row[0].internal]
            for ticket_id, sees_internal in keys
        ]


class EventsByTicketIdLoader(ContextLoader):
    """Events (the history) of tickets, oldest first, with the actor's name and side and the
    comment they carry."""

    async def batch_load_fn(self, keys: Sequence[tuple[int, bool]]) -> list[list[Any]]:
        stmt = (
            select(TicketEvent, User.name, User.is_agent, TicketComment)
            .outerjoin(User, User.id == TicketEvent.actor_user_id)
            .outerjoin(TicketComment, TicketComment.id == TicketEvent.comment_id)
            .where(TicketEvent.ticket_id.in_({t for t, _ in keys}))
            .order_by(TicketEvent.created_at, TicketEvent.id)
        )
        if not any(sees_internal for _, sees_internal in keys):
            stmt = stmt.where(TicketEvent.internal.is_(False))
        groups: dict[int, list[Any]] = defaultdict(list)
        for event, name, is_agent, comment in (await self.context.session.execute(stmt)).tuples():
            groups[event.ticket_id].append((event, name, bool(is_agent), comment))
        return [
            [row for row in groups.get(ticket_id, []) if sees_internal or not row[0].internal]
            for ticket_id, sees_internal in keys
        ]


async def device_calendars(conn: Any) -> dict[int, Calendar]:
    """Per device with a contract: its response calendar (seeding demo tickets in bulk)."""
    rows = await conn.execute(
        select(
            Device.id,
            Site.id,
            Site.time_zone,
            Site.country,
            Contract.coverage_start,
            Contract.coverage_end,
            Contract.coverage_days,
            Contract.response_time_hours,
        )
        .join(Site, Site.id == Device.site_id)
        .join(Contract, Contract.id == Device.contract_id)
    )
    return {
        device_id: Calendar(
            Coverage.of(start=start, end=end, days=days, time_zone=zone, country=country),
            timedelta(hours=hours),
            site_id,
        )
        for device_id, site_id, zone, country, start, end, days, hours in rows
    }
