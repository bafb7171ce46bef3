"""The database is unreachable: HTTP 503 with `extensions.code = "SERVICE_UNAVAILABLE"` and a
`Retry-After` header, one warning line in the log and no stack trace (an outage is not a bug).

Raised inside an operation (a resolver's statement), the masking extension turns the error into
this one and the HTTP view sets the status; raised outside (reading the caller's token in
`get_context`), the view answers it directly. `models.session.database_unavailable` decides
which errors are an outage."""

from __future__ import annotations

import logging

from graphql import GraphQLError

import i18n
from models.session import database_unavailable

log = logging.getLogger("portal.errors")

CODE = "SERVICE_UNAVAILABLE"
RETRY_AFTER_SECONDS = 5

i18n.register(
    {
        CODE: {
            "en": "The service is temporarily unavailable; try again in a few seconds.",
            "fr": "Le service est momentanément indisponible ; réessayez dans quelques secondes.",
            "it": "Il servizio è temporaneamente non disponibile; riprova tra qualche secondo.",
        }
    }
)


class _OutageFilter(logging.Filter):
    """Strawberry logs every execution error with its trace (`strawberry.execution`); an outage
    already has its line from `unavailable` below."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, GraphQLError) and database_unavailable(record.msg))


logging.getLogger("strawberry.execution").addFilter(_OutageFilter())

__all__ = ["CODE", "RETRY_AFTER_SECONDS", "database_unavailable", "log_outage", "unavailable"]


def log_outage(error: BaseException, request_id: str | None, where: str) -> None:
    """One line, no trace: what failed and for which request."""
    cause = error
    while isinstance(cause, GraphQLError) and cause.original_error is not None:
        cause = cause.original_error
    log.warning(
        "database unavailable (request %s) %s: %s: %s",
        request_id,
        where,
        type(cause).__name__,
        str(cause).splitlines()[0][:200] if str(cause) else "",
    )


def unavailable(error: GraphQLError, request_id: str | None, language: str) -> GraphQLError:
    """The client's error for an outage met inside an operation."""
    log_outage(error, request_id, f"at {error.path}")
    return GraphQLError(
        i18n.translate(CODE, language),
        nodes=error.nodes,
        path=error.path,
        extensions={"code": CODE, "requestId": request_id, "retryAfter": RETRY_AFTER_SECONDS},
    )
