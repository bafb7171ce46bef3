"""What a ticket subscriber may receive: the targets it subscribed to, checked against its
scope, and each announced event re-read with the subscriber's current scope (a membership taken
away stops the stream's content at once). Each read uses a short session of its own: a
subscription lives long, a pooled connection must not."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from auth.principal import Principal
from core.errors import NotFound, Unauthenticated
from models import Account, Ticket, TicketComment, TicketEvent, User
from resolvers.accounts import account_tree
from resolvers.scoping import build_scope
from resolvers.tickets import sees_internal

if TYPE_CHECKING:
    from resolvers.context import AppServices

# (event, ticket, actor name, actor is an agent, comment or None)
EventRows = tuple[TicketEvent, Ticket, str | None, bool, TicketComment | None]


async def subscription_targets(
    services: AppServices,
    principal: Principal,
    language: str,
    ticket_id: int | None,
    account_id: int | None,
) -> set[int] | None:
    """Checks the viewer may see the ticket and the account it subscribes to (NOT_FOUND
    otherwise); returns the account and its sub-accounts, or None for no account filter."""
    async with services.sessionmaker() as session:
        scope = await build_scope(principal, session)
        if not scope.is_authenticated:
            raise Unauthenticated(language=language)
        if ticket_id is not None:
            found = await session.scalar(
                select(Ticket.id).where(Ticket.id == ticket_id, scope.tickets_clause())
            )
            if found is None:
                raise NotFound(language=language)
        if account_id is None:
            return None
        visible = await session.scalar(
            select(Account.id).where(Account.id == account_id, scope.accounts_clause())
        )
        if visible is None:
            raise NotFound(language=language)
        tree = account_tree([account_id], "subscribed_accounts")
        return set((await session.scalars(select(tree.c.id))).all())


async def visible_event(
    services: AppServices, principal: Principal, language: str, event_id: int
) -> EventRows | None:
    """The event with its ticket, actor and comment, if the viewer may see it now (internal
    events only for those who see internal notes)."""
    async with services.sessionmaker() as session:
        scope = await build_scope(principal, session)
        if not scope.is_authenticated:
            raise Unauthenticated(language=language)
        row: Any = (
            await session.execute(
                select(TicketEvent, Ticket, User.name, User.is_agent, TicketComment)
                .join(Ticket, Ticket.id == TicketEvent.ticket_id)
                .outerjoin(User, User.id == TicketEvent.actor_user_id)
                .outerjoin(TicketComment, TicketComment.id == TicketEvent.comment_id)
                .where(TicketEvent.id == event_id, scope.tickets_clause())
            )
        ).one_or_none()
        if row is None:
            return None
        event, ticket, name, is_agent, comment = row
        if event.internal and not sees_internal(scope, ticket):
            return None
        return event, ticket, name, bool(is_agent), comment
