"""SQLAlchemy models, one module per domain; importing this package registers them all."""

from models.account import Account, Contract, Payment, Site
from models.audit import AuditLogEntry
from models.base import Base
from models.bulk_export import BulkExport, ExportStatus
from models.device import Device, TonerLevel
from models.knowledge import KnowledgeArticle, KnowledgeArticleTranslation
from models.meter import MeterReading, MeterUsageMonth
from models.outbox import OutboxMessage
from models.product import Consumable, ProductModel, ProductModelMeter, product_model_consumables
from models.reminder import ReadingReminder
from models.stock import ReplenishmentOrder, StockLevel, StockLocation
from models.ticket import Ticket, TicketComment, TicketEvent, TicketNumberCounter
from models.toner import CartridgeReplacement, TonerLevelReport
from models.user import (
    ApiClient,
    Invitation,
    LoginThrottle,
    Membership,
    MembershipDevice,
    MembershipStockLocation,
    OneTimeToken,
    RefreshToken,
    ScopeEpoch,
    User,
)
from models.webhook import DeliveryStatus, Webhook, WebhookDelivery

__all__ = [
    "Account",
    "ApiClient",
    "AuditLogEntry",
    "Base",
    "BulkExport",
    "CartridgeReplacement",
    "Consumable",
    "Contract",
    "DeliveryStatus",
    "Device",
    "ExportStatus",
    "Invitation",
    "KnowledgeArticle",
    "KnowledgeArticleTranslation",
    "LoginThrottle",
    "Membership",
    "MembershipDevice",
    "MembershipStockLocation",
    "MeterReading",
    "MeterUsageMonth",
    "OneTimeToken",
    "OutboxMessage",
    "Payment",
    "ProductModel",
    "ProductModelMeter",
    "ReadingReminder",
    "RefreshToken",
    "ReplenishmentOrder",
    "ScopeEpoch",
    "Site",
    "StockLevel",
    "StockLocation",
    "Ticket",
    "TicketComment",
    "TicketEvent",
    "TicketNumberCounter",
    "TonerLevel",
    "TonerLevelReport",
    "User",
    "Webhook",
    "WebhookDelivery",
    "product_model_consumables",
]
