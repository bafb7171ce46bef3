"""What a webhook delivers: its query, executed as its owner through the same schema, context
and extensions as an HTTP request of that person (scope, field permissions, cost limits), at
the moment of delivery. The sender (`webhooks.sender`, below the schema in the layers) receives
this as its `Renderer` from the app."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from auth.principal import Principal
from core import clock
from core.ids import global_id
from models import DeliveryStatus, Webhook
from resolvers.context import AppServices, Context
from resolvers.webhooks import notify_disabled, owner_scope
from schema.extensions import mask_unexpected
from schema.root import schema
from webhooks.sender import Claimed, Refusal


def _request(delivery: Claimed) -> Request:
    """A request-shaped origin for the context: no headers, no client address."""
    return Request(
        {
            "type": "http",
            "method": "POST",
            "path": f"/webhooks/{delivery.webhook_id}",
            "headers": [],
            "query_string": b"",
            "client": None,
        }
    )


def background_services(services: AppServices) -> AppServices:
    """The services of work done for a person in the background (webhook payloads, export
    pages): an unlimited, in-process rate-limit bucket of their own, so that this work neither
    spends the person's requests' budget nor is lost to it. Cost and document limits still
    apply to each operation."""
    return AppServices(
        settings=replace(
            services.settings,
            redis_url=None,
            rate_limit_capacity=2**62,
            rate_limit_restore_rate=2**62,
        ),
        sessionmaker=services.sessionmaker,
        tokens=services.tokens,
    )


class SchemaRenderer:
    """The payload of a delivery: `{"type", "timestamp", "subject", "data"[, "errors"]}`,
    where `data` is the query's result as the owner would receive it over HTTP."""

    def __init__(self, services: AppServices) -> None:
        self.services = services
        self.run_services = background_services(services)

    async def render(self, delivery: Claimed) -> dict[str, Any] | Refusal:
        async with self.services.sessionmaker() as session:
            verdict = await owner_scope(session, delivery)
        if isinstance(verdict, Refusal):
            return verdict
        subject = global_id(delivery.subject_type, delivery.subject_id)
        context = Context(
            services=self.run_services,
            request=_request(delivery),
            response=None,
            request_id=f"webhook-delivery-{delivery.id}",
            principal=Principal(user_id=delivery.owner_user_id),
        )
        try:
            result = await schema.execute(
                delivery.query,
                variable_values={"id": subject, "event": delivery.event},
                context_value=context,
            )
        finally:
            await context.close_operation()
        if result.data is None:  # refused before execution (cost, limits) or invalid now
            return Refusal(DeliveryStatus.FAILED, "WEBHOOK_QUERY_REFUSED")
        body: dict[str, Any] = {
            "type": delivery.event,
            "timestamp": clock.now().isoformat(),
            "subject": subject,
            "data": result.data,
        }
        if result.errors:
            masked = mask_unexpected(result.errors, context.request_id, context.language)
            body["errors"] = [error.formatted for error in masked]
        return body

    async def notify_disabled(self, session: AsyncSession, webhook: Webhook) -> None:
        await notify_disabled(session, webhook)
