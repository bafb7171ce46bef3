"""Schema extensions: one database session per operation, and masking of unexpected errors."""

from __future__ import annotations

import logging
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import MaskErrors, SchemaExtension

from schema.errors import CodedError

log = logging.getLogger("portal.errors")


class OperationSession(SchemaExtension):
    """Closes the operation's session (and so returns its connection) when it is done."""

    async def on_operation(self) -> Any:  # type: ignore[override]
        yield
        context = self.execution_context.context
        if hasattr(context, "close_operation"):
            await context.close_operation()


def _expected(error: GraphQLError) -> bool:
    original = error.original_error
    if original is None:
        return True  # parse / validation errors are the client's own
    return isinstance(original, CodedError | GraphQLError)


class MaskUnexpectedErrors(MaskErrors):
    """Unexpected exceptions become "Unexpected error" plus a request id that is in the log."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=lambda e: not _expected(e))

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        context = self.execution_context.context
        request_id = getattr(context, "request_id", None)
        log.error(
            "unexpected error (request %s) at %s",
            request_id,
            error.path,
            exc_info=error.original_error,
        )
        return GraphQLError(
            "Unexpected error.",
            nodes=error.nodes,
            path=error.path,
            extensions={"code": "INTERNAL", "requestId": request_id},
        )
