"""Errors a client may see: top-level coded errors and per-mutation `userErrors`."""

from __future__ import annotations

from typing import Any

import strawberry

import i18n


class CodedError(Exception):
    """An expected failure that reaches the client as a top-level error with extensions.code."""

    code = "INTERNAL"

    def __init__(self, message: str | None = None, *, language: str = "en", **extra: Any) -> None:
        super().__init__(message or i18n.translate(self.code, language))
        self.extensions: dict[str, Any] = {"code": self.code, **extra}


class Unauthenticated(CodedError):
    code = "UNAUTHENTICATED"


class Forbidden(CodedError):
    code = "FORBIDDEN"


class NotFound(CodedError):
    code = "NOT_FOUND"


class BadUserInput(CodedError):
    code = "BAD_USER_INPUT"


class Throttled(CodedError):
    code = "THROTTLED"


class UserError(Exception):
    """A rule violation inside a mutation: turned into the payload's `userErrors`, and the
    mutation's transaction is rolled back."""

    def __init__(self, code: str, field: list[str] | str | None = None, **params: Any) -> None:
        super().__init__(code)
        self.code = code
        self.field = [field] if isinstance(field, str) else field
        self.params = params


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
