"""Live ticket updates (`ticketUpdated`, graphql-transport-ws): events announced by any worker,
each re-read with the subscriber's current scope before it is sent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Annotated

import strawberry

from auth.policy import Permission as P
from auth.requirements import requires
from core import clock
from core.errors import Unauthenticated
from core.ids import decode_id
from pubsub.tickets import Resync, TicketEventMessage, broker_for
from resolvers.ticket_events import subscription_targets, visible_event
from schema.context import Info
from schema.permissions import shown_to
from schema.tickets import TicketEvent


async def _visible_event(info: Info, message: TicketEventMessage) -> TicketEvent | None:
    context = info.context
    rows = await visible_event(
        context.services, context.principal, context.language, message.event_id
    )
    return None if rows is None else TicketEvent.from_row(*rows)


@strawberry.type
class TicketSubscription:
    @strawberry.subscription(
        **shown_to(
            requires(P.VIEW_TICKETS),
            "Each change of the tickets the viewer may see (one ticket, or an account "
            "and its sub-accounts, or all), as it happens on any server; internal events reach "
            "agents only. A RESYNC event means events may have been missed (sent when live "
            "delivery between servers is interrupted and again when it is restored): refetch. "
            "Ends when the access token expires.",
        )
    )
    async def ticket_updated(
        self,
        info: Info,
        ticket_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Only the changes of this ticket."),
        ] = None,
        account_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(
                description="Only the changes of the tickets of this account and its sub-accounts."
            ),
        ] = None,
    ) -> AsyncGenerator[TicketEvent, None]:
        context = info.context
        principal = context.principal
        if principal.is_anonymous:
            raise Unauthenticated(language=context.language)
        language = context.language
        wanted_ticket = (
            None if ticket_id is None else decode_id(ticket_id, "Ticket", language=language)
        )
        wanted_account = (
            None if account_id is None else decode_id(account_id, "Account", language=language)
        )
        accounts = await subscription_targets(
            context.services, principal, language, wanted_ticket, wanted_account
        )
        expires_at = principal.token_expires_at
        async with broker_for(context.services).subscribe() as queue:
            while True:
                timeout = None if expires_at is None else expires_at - clock.timestamp()
                if timeout is not None and timeout <= 0:
                    raise Unauthenticated(
                        message_code="ACCESS_TOKEN_EXPIRED", language=context.language
                    )
                try:
                    message = await asyncio.wait_for(queue.get(), timeout)
                except TimeoutError:
                    continue  # the loop ends the subscription on expiry
                if isinstance(message, Resync):
                    yield TicketEvent.resync()
                    continue
                if wanted_ticket is not None and message.ticket_id != wanted_ticket:
                    continue
                if accounts is not None and message.account_id not in accounts:
                    continue
                event = await _visible_event(info, message)
                if expires_at is not None and clock.timestamp() >= expires_at:
                    raise Unauthenticated(
                        message_code="ACCESS_TOKEN_EXPIRED", language=context.language
                    )
                if event is not None:
                    yield event
