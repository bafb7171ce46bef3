"""Request errors worded in English by the GraphQL engine or by validation rules cached per
configuration (so they cannot know the reader's language): the error masking words them
again in the reader's language, by recognising the English message."""

from __future__ import annotations

import re

import i18n

# English message -> its code; named groups are the message's parameters.
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"'(?P<operation>.*)' exceeds maximum operation depth of (?P<maximum>\d+)"),
        "MAX_DEPTH_EXCEEDED",
    ),
    (
        re.compile(r"(?P<count>\d+) aliases found\. Allowed: (?P<maximum>\d+)"),
        "MAX_ALIASES_EXCEEDED",
    ),
    (
        re.compile(
            r"Syntax Error: Document contains more than (?P<maximum>\d+) tokens\. Parsing aborted\."
        ),
        "MAX_TOKENS_EXCEEDED",
    ),
    (
        re.compile(r"Too many directives: at most (?P<maximum>\d+) allowed\."),
        "MAX_DIRECTIVES_EXCEEDED",
    ),
    (
        re.compile(r"Too many mutations: at most (?P<maximum>\d+) per operation\."),
        "MAX_MUTATIONS_EXCEEDED",
    ),
    (
        re.compile(r"Sign-in mutations may appear only once per operation\."),
        "CREDENTIAL_MUTATION_REPEATED",
    ),
)


def english(code: str, **params: object) -> str:
    """The English wording of a rule's message (the one `localized` recognises)."""
    return i18n.translate(code, "en", **params)


def localized(message: str, language: str) -> str | None:
    """The engine's English `message` in `language`, when it is one of the known messages."""
    if language == i18n.DEFAULT:
        return None
    for pattern, code in _PATTERNS:
        found = pattern.fullmatch(message)
        if found is not None:
            params = {k: int(v) if v.isdigit() else v for k, v in found.groupdict().items()}
            return i18n.translate(code, language, **params)
    return None
