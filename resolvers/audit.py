"""Writes to the audit log, inside the mutation's own transaction."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from models import AuditLogEntry

if TYPE_CHECKING:
    from resolvers.context import Context


def audit(
    context: Context,
    action: str,
    object_type: str,
    object_id: int | None,
    details: dict[str, Any] | None = None,
    *,
    user_id: int | None = None,
) -> None:
    principal = context.principal
    context.session.add(
        AuditLogEntry(
            actor_user_id=user_id if user_id is not None else principal.user_id,
            actor_client_id=principal.api_client_id,
            action=action,
            object_type=object_type,
            object_id=object_id,
            request_id=context.request_id,
            details=details or {},
        )
    )


def system_audit(
    session: AsyncSession,
    action: str,
    object_type: str,
    object_id: int | None,
    details: dict[str, Any] | None = None,
) -> None:
    """An audit entry of what a periodic task did on its own (no actor, no request)."""
    session.add(
        AuditLogEntry(
            action=action, object_type=object_type, object_id=object_id, details=details or {}
        )
    )


# session.info key: audit entries written in the operation's session so far (an ORM entry counts
# when added, see schema/extensions.py; one written by a statement, with `count_written`).
AUDIT_ENTRIES = "audit_entries"


def mutation_entry(
    context: Context, mutation: str, outcome: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The audit entry of a mutation whose resolver wrote none, as column values."""
    principal = context.principal
    return {
        "actor_user_id": principal.user_id,
        "actor_client_id": principal.api_client_id,
        "action": f"mutation:{mutation}",
        "object_type": "Mutation",
        "object_id": None,
        "request_id": context.request_id,
        "details": {"outcome": outcome, **(details or {})},
        "created_at": clock.now(),
    }


def count_written(context: Context) -> None:
    """Counts an audit entry a statement wrote (not added through the ORM)."""
    info = context.session.info
    info[AUDIT_ENTRIES] = info.get(AUDIT_ENTRIES, 0) + 1
