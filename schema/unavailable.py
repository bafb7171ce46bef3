"""The database is unreachable, or (SQLite) busy past the busy timeout: HTTP 503 with
`extensions.code = "SERVICE_UNAVAILABLE"` and `Retry-After`, one warning line and no trace (not a bug).

Raised inside an operation (a resolver's statement), the masking extension turns the error into
this one and the HTTP view sets the status; raised outside (reading the caller's token in
`get_context`), the view answers it directly. `models.session.database_unavailable` decides
which errors are an outage."""

from __future__ import annotations

import logging

from graphql import GraphQLError

import i18n
from models.session import database_unavailable, is_database_busy

log = logging.getLogger("portal.errors")

CODE = "SERVICE_UNAVAILABLE"
RETRY_AFTER_SECONDS = 5
# SQLite's write lock held past the busy timeout: the next try will most likely get it.
BUSY_RETRY_AFTER_SECONDS = 1


class _OutageFilter(logging.Filter):
    """Strawberry logs every execution error with its trace (`strawberry.execution`); an outage
    already has its line from `unavailable` below."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, GraphQLError) and database_unavailable(record.msg))


logging.getLogger("strawberry.execution").addFilter(_OutageFilter())

__all__ = [
    "CODE",
    "RETRY_AFTER_SECONDS",
    "database_unavailable",
    "is_database_busy",
    "log_outage",
    "retryable",
]


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


def retryable(error: GraphQLError, request_id: str | None, language: str) -> GraphQLError | None:
    """The client's error for a database that is unreachable or (SQLite) busy past the busy
    timeout, met inside an operation: nothing was done, try again. None for any other error."""
    if database_unavailable(error):
        log_outage(error, request_id, f"at {error.path}")
        message, seconds = i18n.translate(CODE, language), RETRY_AFTER_SECONDS
    elif is_database_busy(error.original_error):
        log.warning("database busy (request %s) at %s", request_id, error.path)
        seconds = BUSY_RETRY_AFTER_SECONDS
        message = i18n.translate("DATABASE_BUSY", language, seconds=seconds)
    else:
        return None
    return GraphQLError(
        message,
        nodes=error.nodes,
        path=error.path,
        extensions={"code": CODE, "requestId": request_id, "retryAfter": seconds},
    )
