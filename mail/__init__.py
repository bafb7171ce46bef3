"""Outgoing mail: written to the outbox inside the change's own transaction, delivered later
by `mail.sender` (SMTP, or `.eml` files under var/mail/ when no SMTP_URL is set).

Domains register their templates (subject and body per language) with `register_templates`
and call `enqueue_mail` from a mutation."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

import i18n
from models import OutboxMessage
from models.enums import OutboxKind

# template name -> language -> (subject, body); bodies use str.format placeholders.
TEMPLATES: dict[str, dict[str, tuple[str, str]]] = {}


def register_templates(templates: dict[str, dict[str, tuple[str, str]]]) -> None:
    for name, texts in templates.items():
        missing = set(i18n.SUPPORTED) - set(texts)
        if missing:
            raise ValueError(f"mail template {name} lacks {sorted(missing)}")
        if name in TEMPLATES and TEMPLATES[name] != texts:
            raise ValueError(f"mail template {name} registered twice")
        TEMPLATES[name] = texts


def render(template: str, language: str, params: dict[str, Any]) -> tuple[str, str]:
    texts = TEMPLATES[template]
    subject, body = texts.get(language) or texts[i18n.DEFAULT]
    return subject.format(**params), body.format(**params)


def enqueue_mail(
    session: AsyncSession, *, to: str, language: str, template: str, params: dict[str, Any]
) -> OutboxMessage:
    """Adds the mail to the outbox of the current transaction (sent only if it commits)."""
    if template not in TEMPLATES:
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
