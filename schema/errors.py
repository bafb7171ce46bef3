"""The GraphQL shape of a mutation's rule violations (`userErrors`); the errors themselves are
raised from every layer and live in core/errors.py."""

from __future__ import annotations

import strawberry

import i18n
from core.errors import UserError


@strawberry.type(name="UserError", description="A rule the input broke; nothing was stored.")
class UserErrorType:
    field: list[str] | None = strawberry.field(
        description="Path to the input field at fault, if any."
    )
    message: str = strawberry.field(description="What went wrong, in the caller's language.")
    code: str = strawberry.field(description="Stable machine-readable reason.")


def to_user_error(error: UserError, language: str) -> UserErrorType:
    return UserErrorType(
        field=error.field,
        message=i18n.translate(error.code, language, **error.params),
        code=error.code,
    )
