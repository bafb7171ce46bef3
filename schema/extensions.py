"""Schema extensions: one database session per operation, masking of unexpected errors, error
codes for request errors, and an audit entry for every executed mutation."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from graphql import ExecutionResult, FieldNode, GraphQLError, GraphQLSyntaxError, get_operation_ast
from sqlalchemy import event
from sqlalchemy.orm import Session
from strawberry.extensions import MaskErrors, SchemaExtension
from strawberry.types.graphql import OperationType

import i18n
from api import rule_messages
from core.errors import CodedError
from models import AuditLogEntry
from models.session import begin_writing
from resolvers.audit import AUDIT_ENTRIES, mutation_entry
from schema import unavailable

if TYPE_CHECKING:
    from resolvers.context import Context

log = logging.getLogger("portal.errors")
audit_log = logging.getLogger("portal.audit")

PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"


class _ClientMistakeFilter(logging.Filter):
    """Strawberry logs every error of an operation at ERROR; a document that does not parse or
    validate (a typo, or a name outside the caller's schema: routine with one schema per
    audience) is the client's mistake, already answered with its code, not a server error."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.msg
        return not (
            isinstance(error, GraphQLError) and error.original_error is None and not error.path
        )


logging.getLogger("strawberry.execution").addFilter(_ClientMistakeFilter())


class OperationSession(SchemaExtension):
    """Closes the operation's session (and so returns its connection) when it is done."""

    async def on_operation(self) -> Any:
        try:
            yield
        finally:
            context = self.execution_context.context
            if hasattr(context, "close_operation"):
                await context.close_operation()


def _expected(error: GraphQLError) -> bool:
    original = error.original_error
    if original is None:
        return True  # parse / validation errors are the client's own
    return isinstance(original, CodedError | GraphQLError)


def is_request_error(error: GraphQLError) -> bool:
    """Raised before execution (parse, validation, variables, cost, throttling): no path."""
    return not error.path


def _with_code(error: GraphQLError, code: str) -> GraphQLError:
    return GraphQLError(
        error.message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=error.original_error,
        extensions={**(error.extensions or {}), "code": code},
    )


class MaskUnexpectedErrors(MaskErrors):
    """Unexpected exceptions become "Unexpected error." plus a request id that is in the log
    (with the stack trace, which never reaches the client); expected errors keep their code;
    parse and validation errors get GRAPHQL_PARSE_FAILED / GRAPHQL_VALIDATION_FAILED."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=lambda e: not _expected(e))

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        context = self.execution_context.context
        return anonymised(
            error,
            getattr(context, "request_id", None),
            getattr(context, "language", i18n.DEFAULT),
        )

    def _process_result(self, result: object) -> None:
        # strawberry's asks a runtime-checkable Protocol, which costs more than the rest
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = self._process_errors(errors)  # type: ignore[attr-defined]

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        language = getattr(self.execution_context.context, "language", i18n.DEFAULT)
        return label_request_errors(reworded(super()._process_errors(errors), language))


def reworded(errors: list[GraphQLError], language: str) -> list[GraphQLError]:
    """Errors raised where the language is not known, worded in the reader's language."""
    result = []
    for error in errors:
        original = error.original_error
        if isinstance(original, CodedError):
            message = original.worded(language)
        else:  # the engine's and cached validation rules' English
            message = rule_messages.localized(error.message, language)
        if message is not None and message != error.message:
            error = GraphQLError(
                message,
                nodes=error.nodes,
                source=error.source,
                positions=error.positions,
                path=error.path,
                original_error=original,
                extensions=error.extensions,
            )
        result.append(error)
    return result


def anonymised(error: GraphQLError, request_id: str | None, language: str) -> GraphQLError:
    retry = unavailable.retryable(error, request_id, language)  # 503: one line, no trace
    if retry is not None:
        return retry
    log.error(
        "unexpected error (request %s) at %s", request_id, error.path, exc_info=error.original_error
    )
    return GraphQLError(
        i18n.translate("INTERNAL", language),
        nodes=error.nodes,
        path=error.path,
        extensions={"code": "INTERNAL", "requestId": request_id},
    )


def mask_unexpected(
    errors: list[GraphQLError], request_id: str | None, language: str
) -> list[GraphQLError]:
    """The safety net of the HTTP view: an exception raised by an extension hook skips the
    masking extension, so the view masks what is still unexpected."""
    return [e if _expected(e) else anonymised(e, request_id, language) for e in errors]


def label_request_errors(errors: list[GraphQLError]) -> list[GraphQLError]:
    """Parse and validation errors get GRAPHQL_PARSE_FAILED / GRAPHQL_VALIDATION_FAILED.
    Also called by the HTTP view: an error raised by an extension hook (the parser cache's
    syntax errors) skips the extensions' post-processing."""
    labelled = []
    for error in errors:
        if not (error.extensions or {}).get("code") and is_request_error(error):
            code = PARSE_FAILED if isinstance(error, GraphQLSyntaxError) else VALIDATION_FAILED
            error = _with_code(error, code)
        labelled.append(error)
    return labelled


# --- audit of mutations ------------------------------------------------------------------

AUDITED_FIELDS = "audited_mutations"


@event.listens_for(Session, "after_attach")
def _count_audit_entries(session: Session, instance: object) -> None:
    if isinstance(instance, AuditLogEntry):
        session.info[AUDIT_ENTRIES] = session.info.get(AUDIT_ENTRIES, 0) + 1


def audit_entries(context: Context) -> int:
    """Audit entries added to the operation's session so far."""
    return int(context.session.info.get(AUDIT_ENTRIES, 0))


def mark_audited(context: Context, response_key: str) -> None:
    context.session.info.setdefault(AUDITED_FIELDS, set()).add(response_key)


def add_mutation_entry(
    context: Context, mutation: str, outcome: str, details: dict[str, Any] | None = None
) -> None:
    """Adds the audit entry of a mutation whose resolver wrote none to the open transaction."""
    context.session.add(AuditLogEntry(**mutation_entry(context, mutation, outcome, details)))


async def record_mutation(
    context: Context, mutation: str, outcome: str, details: dict[str, Any] | None = None
) -> None:
    """The audit entry of a refused or failed mutation (whose own transaction was rolled back),
    in a short transaction of its own. A failing write is not swallowed: it raises, and the
    caller is answered with an error rather than with an outcome the log does not hold."""
    session = context.session
    await begin_writing(session)
    add_mutation_entry(context, mutation, outcome, details)
    try:
        await session.commit()
    except BaseException:
        with contextlib.suppress(Exception):  # the commit's error is the one to raise
            await session.rollback()
        raise


class MutationAudit(SchemaExtension):
    """Every executed root mutation field leaves an audit entry: `transactional` writes one
    with the outcome when the resolver wrote none; this covers the fields that never reached it
    (refused by a permission class, failing before their transaction)."""

    async def on_execute(self) -> AsyncIterator[None]:
        yield
        ctx = self.execution_context
        context = ctx.context
        result = ctx.result
        if (  # the operation type first: reading `context.session` opens a session
            ctx.operation_type != OperationType.MUTATION
            or not isinstance(result, ExecutionResult)
            or not hasattr(context, "session")
        ):
            return
        errors = result.errors or []
        if not result.data and all(is_request_error(e) for e in errors):
            return  # refused before execution: nothing ran
        done: set[str] = context.session.info.get(AUDITED_FIELDS, set())
        for key, name in self._root_fields().items():
            if key in done:
                continue
            failure = next((e for e in errors if e.path and e.path[0] == key), None)
            if failure is None and not (result.data and key in result.data):
                continue  # not executed
            code = (failure.extensions or {}).get("code", "INTERNAL") if failure else None
            await record_mutation(
                context, name, "refused" if failure else "ok", {"code": code} if code else {}
            )

    def _root_fields(self) -> dict[str, str]:
        document = self.execution_context.graphql_document
        if document is None:
            return {}
        operation = get_operation_ast(document, self.execution_context.operation_name)
        if operation is None:
            return {}
        fields: dict[str, str] = {}
        for selection in operation.selection_set.selections:
            if isinstance(selection, FieldNode):
                fields[(selection.alias or selection.name).value] = selection.name.value
        return fields
