"""Webhooks and their deliveries by id, filtered to the webhooks the viewer manages."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, select

from models import Webhook, WebhookDelivery
from resolvers.loaders.base import ByIdLoader

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
