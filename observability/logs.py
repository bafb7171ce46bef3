"""JSON log lines (`LOG_FORMAT=json`): every record as one JSON object on one line, and one
record per GraphQL request on the `portal.request` logger with the request's figures as
fields (request id, caller, operation, status, outcome, cost, error codes, SQL statements,
duration). What goes in is chosen field by field: never variables, tokens or passwords."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import orjson

REQUEST_LOG = logging.getLogger("portal.request")

# The attribute of a log record holding its structured fields.
FIELDS = "portal_fields"


def log_request(fields: dict[str, Any]) -> None:
    REQUEST_LOG.info(
        "%s %s %s %s",
        fields.get("operation_type") or "-",
        fields.get("operation_name") or "-",
        fields.get("status"),
        fields.get("outcome"),
        extra={FIELDS: fields},
    )


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message", ...fields}` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(getattr(record, FIELDS, None) or {})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def configure_json_logging() -> None:
    """Every handler of the root logger and of uvicorn's loggers writes JSON lines; a root
    handler (stderr) is added when there is none. `portal.*` logs at INFO."""
    formatter = JsonFormatter()
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler())
    for name in ("", "uvicorn", "uvicorn.error", "uvicorn.access"):
        for handler in logging.getLogger(name).handlers:
            handler.setFormatter(formatter)
    logging.getLogger("portal").setLevel(logging.INFO)
