"""Assembles the Schema from the per-domain root types and the extensions every operation runs
through (kept out of the package `__init__`, so importing one small schema module does not build
the whole Schema)."""

from __future__ import annotations

from strawberry.extensions import ParserCache, ValidationCache
from strawberry.tools import merge_types
from strawberry.types.base import get_object_definition

from api.limits import ApiProtection
from api.persisted import PersistedQueries
from observability.requests import RequestObserver
from schema.accounts import AccountMutation, AccountQuery
from schema.audiences import PortalSchema
from schema.bulk_exports import BulkExportMutation, BulkExportQuery
from schema.devices import DeviceMutation, DeviceQuery
from schema.extension_chain import chain
from schema.extensions import MaskUnexpectedErrors, MutationAudit, OperationSession
from schema.identity import IdentityMutation
from schema.knowledge import KnowledgeMutation, KnowledgeQuery
from schema.memberships import MembershipMutation
from schema.meter_readings import MeterReadingQuery
from schema.meters import MeterMutation, MeterQuery
from schema.node import NodeQuery
from schema.sites import SiteQuery
from schema.stock import StockMutation, StockQuery
from schema.ticket_live import TicketSubscription
from schema.ticket_mutations import TicketMutation
from schema.tickets import TicketQuery
from schema.viewer import ViewerQuery
from schema.webhooks import WebhookMutation, WebhookQuery


def _described(merged: type, description: str) -> None:
    """Gives a root type made by `merge_types` its description (merge_types takes none)."""
    get_object_definition(merged, strict=True).description = description


Query = merge_types(
    "Query",
    (
        ViewerQuery,
        NodeQuery,
        AccountQuery,
        DeviceQuery,
        SiteQuery,
        StockQuery,
        KnowledgeQuery,
        MeterQuery,
        MeterReadingQuery,
        TicketQuery,
        WebhookQuery,
        BulkExportQuery,
    ),
)
_described(
    Query,
    "What a caller may read: the viewer, any object by ID, and the lists of accounts, sites, "
    "devices, stock locations, tickets, meter readings, knowledge articles, webhooks and "
    "bulk exports it may see.",
)
Mutation = merge_types(
    "Mutation",
    (
        IdentityMutation,
        MembershipMutation,
        AccountMutation,
        DeviceMutation,
        StockMutation,
        KnowledgeMutation,
        MeterMutation,
        TicketMutation,
        WebhookMutation,
        BulkExportMutation,
    ),
)
_described(
    Mutation,
    "What a caller may change: each mutation takes one `input` and returns a payload with the "
    "changed object and `userErrors` for the rules it breaks (nothing is half-written).",
)

Subscription = merge_types("Subscription", (TicketSubscription,))
_described(
    Subscription,
    "Live updates over the graphql-transport-ws protocol: ticket changes as they happen.",
)

schema = PortalSchema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    # One extension running them all in this order (`schema.extension_chain`: strawberry's
    # per-hook wrapping cost more than a small operation). Factories, not instances: an
    # extension instance holds its request's execution context, so one shared by concurrent
    # requests would read another's. The parser and validation caches live at module level
    # (keyed by size), shared by every request.
    extensions=[
        chain(
            PersistedQueries,  # first: fills in the query text before anything reads it
            OperationSession,
            RequestObserver,  # names the operation in the request's log line and metrics
            ApiProtection,
            MutationAudit,
            MaskUnexpectedErrors,
            lambda: ParserCache(maxsize=256),
            lambda: ValidationCache(maxsize=256),
        )
    ],
)
