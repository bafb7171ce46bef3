"""Writes to the audit log, inside the mutation's own transaction."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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
