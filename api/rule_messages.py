"""Request errors worded in English by the GraphQL engine or by validation rules cached per
configuration (so they cannot know the reader's language): the error masking words them
again in the reader's language, by recognising the English message."""

from __future__ import annotations

import re

import i18n

i18n.register(
    {
        "MAX_DEPTH_EXCEEDED": {
            "en": "'{operation}' exceeds maximum operation depth of {maximum}",
            "fr": "'{operation}' dépasse la profondeur maximale d'opération de {maximum}",
            "it": "'{operation}' supera la profondità massima dell'operazione di {maximum}",
        },
        "MAX_ALIASES_EXCEEDED": {
            "en": "{count} aliases found. Allowed: {maximum}",
            "fr": "{count} {count:|alias trouvé|alias trouvés}. Autorisés : {maximum}",
            "it": "{count} {count:|alias trovato|alias trovati}. Consentiti: {maximum}",
        },
        "MAX_TOKENS_EXCEEDED": {
            "en": "Syntax Error: Document contains more than {maximum} tokens. Parsing aborted.",
            "fr": "Erreur de syntaxe : le document contient plus de {maximum} jetons. "
            "Analyse interrompue.",
            "it": "Errore di sintassi: il documento contiene più di {maximum} token. "
            "Analisi interrotta.",
        },
        "MAX_DIRECTIVES_EXCEEDED": {
            "en": "Too many directives: at most {maximum} allowed.",
            "fr": "Trop de directives : {maximum} au maximum.",
            "it": "Troppe direttive: al massimo {maximum}.",
        },
        "MAX_MUTATIONS_EXCEEDED": {
            "en": "Too many mutations: at most {maximum} per operation.",
            "fr": "Trop de mutations : {maximum} au maximum par opération.",
            "it": "Troppe mutazioni: al massimo {maximum} per operazione.",
        },
        "CREDENTIAL_MUTATION_REPEATED": {
            "en": "Sign-in mutations may appear only once per operation.",
            "fr": "Les mutations de connexion ne peuvent figurer qu'une fois par opération.",
            "it": "Le mutazioni di accesso possono comparire una sola volta per operazione.",
        },
    }
)

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
