"""The domain vocabulary, shared by the models, the policy and the GraphQL schema."""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    ADMINISTRATOR = "ADMINISTRATOR"
    DEVICE_MANAGER = "DEVICE_MANAGER"
    STOCK_MANAGER = "STOCK_MANAGER"
    DEVICE_STOCK_MANAGER = "DEVICE_STOCK_MANAGER"
    KNOWLEDGE_USER = "KNOWLEDGE_USER"


class MembershipStatus(enum.StrEnum):
    ACTIVE = "ACTIVE"
    PENDING = "PENDING"  # an access request waiting for an administrator
    REJECTED = "REJECTED"


class CreditStatus(enum.StrEnum):
    GOOD = "GOOD"
    WATCH = "WATCH"
    ON_HOLD = "ON_HOLD"


class MeterType(enum.StrEnum):
    TOTAL = "TOTAL"
    BLACK = "BLACK"
    COLOUR = "COLOUR"
    LARGE_BLACK = "LARGE_BLACK"
    LARGE_COLOUR = "LARGE_COLOUR"
    SCAN = "SCAN"


class ReadingSource(enum.StrEnum):
    PORTAL = "PORTAL"
    BULK_UPLOAD = "BULK_UPLOAD"
    REMOTE = "REMOTE"
    AGENT_CORRECTION = "AGENT_CORRECTION"


class DeviceStatus(enum.StrEnum):
    ACTIVE = "ACTIVE"
    MOVE_PENDING = "MOVE_PENDING"
    REMOVAL_PENDING = "REMOVAL_PENDING"
    REMOVED = "REMOVED"


class TicketType(enum.StrEnum):
    INCIDENT = "INCIDENT"
    SUPPLIES = "SUPPLIES"
    MOVE = "MOVE"
    REMOVAL = "REMOVAL"
    ACCOUNT_QUERY = "ACCOUNT_QUERY"


class TicketStatus(enum.StrEnum):
    NEW = "NEW"
    ASSIGNED = "ASSIGNED"
    IN_PROGRESS = "IN_PROGRESS"
    ON_HOLD = "ON_HOLD"
    RESOLVED = "RESOLVED"
    CLOSED = "CLOSED"
    CANCELLED = "CANCELLED"


# Tickets in these statuses still wait for work (open-ticket counts, who may cancel).
OPEN_TICKET_STATUSES = frozenset(
    {TicketStatus.NEW, TicketStatus.ASSIGNED, TicketStatus.IN_PROGRESS, TicketStatus.ON_HOLD}
)


class ConsumableKind(enum.StrEnum):
    TONER = "TONER"
    DRUM = "DRUM"
    WASTE_TONER = "WASTE_TONER"
    STAPLES = "STAPLES"


class TonerColour(enum.StrEnum):
    BLACK = "BLACK"
    CYAN = "CYAN"
    MAGENTA = "MAGENTA"
    YELLOW = "YELLOW"


class TonerLevelState(enum.StrEnum):
    """What a reported level is: a percentage, or one of the Printer MIB's special values
    (prtMarkerSuppliesLevel -2 "unknown", -3 "some remaining"), which are not numbers."""

    MEASURED = "MEASURED"
    UNKNOWN = "UNKNOWN"
    SOME_REMAINING = "SOME_REMAINING"


class ReplenishmentStatus(enum.StrEnum):
    PENDING = "PENDING"
    SHIPPED = "SHIPPED"
    DELIVERED = "DELIVERED"
    CANCELLED = "CANCELLED"


class TokenPurpose(enum.StrEnum):
    CONFIRM_EMAIL = "CONFIRM_EMAIL"
    RESET_PASSWORD = "RESET_PASSWORD"


class OutboxKind(enum.StrEnum):
    EMAIL = "EMAIL"
    EVENT = "EVENT"


class Language(enum.StrEnum):
    EN = "en"
    FR = "fr"
    IT = "it"
