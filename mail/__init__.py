"""Outgoing mail: written to the outbox inside the change's own transaction, delivered later
by `mail.sender` (SMTP, or `.eml` files under var/mail/ when no SMTP_URL is set).

A template is a name whose subject and body are the messages `<name>.subject` and `<name>.body`
of the catalogs (locale/, see i18n.py); domains call `enqueue_mail` from a mutation."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

import i18n
from models import OutboxMessage
from models.enums import OutboxKind


def known_template(template: str) -> bool:
    return i18n.known(f"{template}.subject") and i18n.known(f"{template}.body")


def render(template: str, language: str, params: dict[str, Any]) -> tuple[str, str]:
    subject = i18n.text(f"{template}.subject", language)
    body = i18n.text(f"{template}.body", language)
    return subject.format(**params), body.format(**params)


def enqueue_mail(
    session: AsyncSession, *, to: str, language: str, template: str, params: dict[str, Any]
) -> OutboxMessage:
    """Adds the mail to the outbox of the current transaction (sent only if it commits)."""
    if not known_template(template):
        raise KeyError(f"unknown mail template {template}")
    message = OutboxMessage(
        kind=OutboxKind.EMAIL,
        topic=f"mail.{template}",
        payload={
            "to": to,
            "language": language if language in i18n.SUPPORTED else i18n.DEFAULT,
            "template": template,
            "params": params,
        },
    )
    session.add(message)
    return message
