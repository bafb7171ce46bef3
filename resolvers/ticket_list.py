"""The scoped, filtered list of tickets, newest first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import false, or_, select

from calendars.business_hours import (
    SlaState,
)
from core import clock
from models import Ticket
from models.enums import TicketStatus, TicketType
from resolvers.accounts import account_tree
from resolvers.pagination import Page, PageRequest, SortField, paginate
from resolvers.search import contains
from resolvers.ticket_clock import sla_clause

if TYPE_CHECKING:
    from resolvers.context import Context


@dataclass
class TicketListFilter:
    statuses: Sequence[TicketStatus] | None = None
    types: Sequence[TicketType] | None = None
    device_ids: Sequence[int] | None = None
    account_ids: Sequence[int] | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    sla_state: SlaState | None = None
    search: str | None = None
    # Account.tickets: only this account's tree.
    within_account_id: int | None = None


async def ticket_connection(
    context: Context,
    *,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    filter: TicketListFilter,
) -> Page:
    """Newest first; scoped in SQL like every list."""
    scope = await context.require_scope()
    stmt = select(Ticket).where(scope.tickets_clause())
    if filter.statuses is not None:
        stmt = (
            stmt.where(Ticket.status.in_(filter.statuses))
            if filter.statuses
            else stmt.where(false())
        )
    if filter.types is not None:
        stmt = stmt.where(Ticket.type.in_(filter.types)) if filter.types else stmt.where(false())
    if filter.device_ids is not None:
        stmt = stmt.where(Ticket.device_id.in_(filter.device_ids))
    if filter.account_ids is not None:
        tree = account_tree(filter.account_ids, "filter_accounts")
        stmt = stmt.where(Ticket.account_id.in_(select(tree.c.id)))
    if filter.within_account_id is not None:
        tree = account_tree([filter.within_account_id], "within_account")
        stmt = stmt.where(Ticket.account_id.in_(select(tree.c.id)))
    if filter.created_after is not None:
        stmt = stmt.where(Ticket.created_at >= filter.created_after)
    if filter.created_before is not None:
        stmt = stmt.where(Ticket.created_at < filter.created_before)
    if filter.sla_state is not None:
        stmt = stmt.where(sla_clause(filter.sla_state, clock.now()))
    if filter.search:
        stmt = stmt.where(
            or_(
                contains(Ticket.number, filter.search),
                contains(Ticket.summary, filter.search),
                contains(Ticket.description, filter.search),
            )
        )
    sort = [SortField(Ticket.created_at, "datetime"), SortField(Ticket.id, "int")]
    return await paginate(
        context.session,
        stmt,
        sort,
        PageRequest(first, after, last, before),
        descending=True,
    )
