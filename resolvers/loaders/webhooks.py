"""Webhooks and their deliveries by id, filtered to the webhooks the viewer manages."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, func, select

from models import Webhook, WebhookDelivery
from resolvers.loaders.base import ByIdLoader, ContextLoader
from resolvers.pagination import SortField, first_pages

if TYPE_CHECKING:
    from resolvers.scoping import Scope


class WebhookByIdLoader(ByIdLoader[Webhook]):
    model = Webhook

    def scope_clause(self, scope: Scope) -> ColumnElement[bool]:
        return scope.webhooks_clause()


class WebhookDeliveryByIdLoader(ByIdLoader[WebhookDelivery]):
    """Deliveries are visible with their webhook."""

    model = WebhookDelivery

    def scope_clause(self, scope: Scope) -> ColumnElement[bool]:
        return WebhookDelivery.webhook_id.in_(select(Webhook.id).where(scope.webhooks_clause()))


DELIVERY_SORT = [SortField(WebhookDelivery.id, "int")]


class DeliveryPageByWebhookIdLoader(ContextLoader):
    """First page of each webhook's deliveries, newest first. Key: (webhook id, page size); one
    windowed statement per page size in the batch. The caller has already seen the webhook."""

    async def batch_load_fn(self, keys: Sequence[tuple[int, int]]) -> list[Any]:
        by_limit: dict[int, set[int]] = defaultdict(set)
        for webhook_id, limit in keys:
            by_limit[limit].add(webhook_id)
        results: dict[tuple[int, int], Any] = {}
        for limit, webhook_ids in by_limit.items():
            pages = await first_pages(
                self.context.session,
                select(WebhookDelivery),
                WebhookDelivery.webhook_id.expression,
                sorted(webhook_ids),
                DELIVERY_SORT,
                limit,
                descending=True,
            )
            for webhook_id, page in pages.items():
                results[(webhook_id, limit)] = page
        return [results[key] for key in keys]


class DeliveryCountByWebhookIdLoader(ContextLoader):
    """How many deliveries each webhook has (one grouped count per batch)."""

    async def batch_load_fn(self, keys: Sequence[int]) -> list[int]:
        column = WebhookDelivery.webhook_id
        stmt = select(column, func.count()).where(column.in_(sorted(set(keys)))).group_by(column)
        counts = dict((await self.context.session.execute(stmt)).tuples().all())
        return [int(counts.get(key, 0)) for key in keys]
