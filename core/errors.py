"""Errors every layer may raise: top-level coded errors (`extensions.code`) and the rule
violations a mutation turns into `userErrors` (the GraphQL types for them live in schema/errors.py)."""

from __future__ import annotations

from typing import Any

import i18n


class CodedError(Exception):
    """An expected failure that reaches the client as a top-level error with extensions.code."""

    code = "INTERNAL"

    def __init__(
        self,
        message: str | None = None,
        *,
        language: str = "en",
        message_code: str | None = None,
        params: dict[str, Any] | None = None,
        **extra: Any,
    ) -> None:
        """`message_code` (an i18n code, with `params`) words the message; the error masking
        words it again in the request's language, for code that does not know the language."""
        self.message_code = message_code
        self.params = params or {}
        if message_code is not None:
            message = i18n.translate(message_code, language, **self.params)
        super().__init__(message or i18n.translate(self.code, language))
        self.extensions: dict[str, Any] = {"code": self.code, **extra}

    def worded(self, language: str) -> str | None:
        """The message in `language`, when it is worded from a message code."""
        if self.message_code is None:
            return None
        return i18n.translate(self.message_code, language, **self.params)


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
