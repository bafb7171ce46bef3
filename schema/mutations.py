"""The shared mutation wrapper: one transaction per mutation; a `UserError` rolls it back and
becomes the payload's `userErrors`, so nothing is stored half-way."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import strawberry

from core.errors import CodedError, UserError
from models.session import begin_writing
from schema import unavailable
from schema.context import Info
from schema.errors import UserErrorType, to_user_error
from schema.extensions import (
    add_mutation_entry,
    audit_entries,
    mark_audited,
    record_mutation,
)

PayloadT = TypeVar("PayloadT")


@strawberry.interface(description="What every mutation payload carries.")
class Payload:
    user_errors: list[UserErrorType] = strawberry.field(
        default_factory=list,
        description="Rules the input broke; when not empty, nothing was changed.",
    )


async def transactional(
    info: Info,
    payload: type[PayloadT],
    work: Callable[[], Awaitable[PayloadT]],
    *,
    write_lock_first: bool = True,
) -> PayloadT:
    """Runs `work` in one transaction that is committed with its audit entries, or not at all.
    The transaction is a writer from its start (on SQLite: BEGIN IMMEDIATE, see
    `begin_writing`) unless `write_lock_first` is false: then `work` reads first (a sign-in
    checks a password outside the lock) and calls `begin_writing` before it writes."""
    context = info.context
    session = context.session
    # Every mutation leaves an audit entry: the resolver's own, or one with the outcome, in
    # the same transaction as the change; for a refusal, written after the rollback (a
    # rolled-back transaction loses its entries).
    mark_audited(context, str(info.path.key))
    entries_before = audit_entries(context)
    try:
        if write_lock_first:
            await begin_writing(session)
        result = await work()
        if audit_entries(context) == entries_before:
            add_mutation_entry(context, info.field_name, "ok")
        await session.commit()
    except UserError as error:
        # Read before the rollback: it expires the viewer's row the language may come from.
        language = info.context.language
        await session.rollback()
        await record_mutation(context, info.field_name, "refused", {"code": error.code})
        return payload(user_errors=[to_user_error(error, language)])  # type: ignore[call-arg]
    except Exception as error:
        await session.rollback()
        if isinstance(error, CodedError):
            code = error.code
        else:
            code = unavailable.CODE if unavailable.is_database_busy(error) else "INTERNAL"
        await record_mutation(context, info.field_name, "failed", {"code": code})
        raise
    except BaseException:
        await session.rollback()
        raise
    return result


def payload_errors(info: Info, errors: list[UserError]) -> list[UserErrorType]:
    return [to_user_error(e, info.context.language) for e in errors]
