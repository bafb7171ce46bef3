"""The shared mutation wrapper: one transaction per mutation; a `UserError` rolls it back and
becomes the payload's `userErrors`, so nothing is stored half-way."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import strawberry

from schema.context import Info
from schema.errors import UserError, UserErrorType, to_user_error

PayloadT = TypeVar("PayloadT")


@strawberry.interface(description="What every mutation payload carries.")
class Payload:
    user_errors: list[UserErrorType] = strawberry.field(
        default_factory=list,
        description="Rules the input broke; when not empty, nothing was changed.",
    )


async def transactional(
    info: Info, payload: type[PayloadT], work: Callable[[], Awaitable[PayloadT]]
) -> PayloadT:
    session = info.context.session
    try:
        result = await work()
        await session.commit()
        return result
    except UserError as error:
        # Read before the rollback: it expires the viewer's row the language may come from.
        language = info.context.language
        await session.rollback()
        return payload(user_errors=[to_user_error(error, language)])  # type: ignore[call-arg]
    except BaseException:
        await session.rollback()
        raise


def payload_errors(info: Info, errors: list[UserError]) -> list[UserErrorType]:
    return [to_user_error(e, info.context.language) for e in errors]
