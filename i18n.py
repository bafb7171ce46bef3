"""Messages people read, in English, French and Italian; picked per request (Accept-Language,
else the user's language, else English)."""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SUPPORTED = ("en", "fr", "it")
DEFAULT = "en"

# code -> language -> message. Placeholders use str.format names.
MESSAGES: dict[str, dict[str, str]] = {
    "UNAUTHENTICATED": {
        "en": "You need to sign in.",
        "fr": "Vous devez vous connecter.",
        "it": "È necessario accedere.",
    },
    "ACCESS_TOKEN_EXPIRED": {
        "en": "The access token has expired.",
        "fr": "Le jeton d'accès a expiré.",
        "it": "Il token di accesso è scaduto.",
    },
    "FORBIDDEN": {
        "en": "You are not allowed to do this.",
        "fr": "Vous n'êtes pas autorisé à effectuer cette action.",
        "it": "Non è consentito eseguire questa operazione.",
    },
    "NOT_FOUND": {
        "en": "This object does not exist.",
        "fr": "Cet objet n'existe pas.",
        "it": "Questo oggetto non esiste.",
    },
    "INTERNAL": {
        "en": "Unexpected error.",
        "fr": "Erreur inattendue.",
        "it": "Errore imprevisto.",
    },
    "INVALID_ID": {
        "en": "This identifier is not valid.",
        "fr": "Cet identifiant n'est pas valide.",
        "it": "Questo identificativo non è valido.",
    },
    "VALUE_TOO_LONG": {
        "en": "This value is too long (at most {max} characters).",
        "fr": "Cette valeur est trop longue ({max} caractères au maximum).",
        "it": "Questo valore è troppo lungo (al massimo {max} caratteri).",
    },
    "INVALID_CURSOR": {
        "en": "Invalid cursor.",
        "fr": "Curseur non valide.",
        "it": "Cursore non valido.",
    },
    "NUL_CHARACTER": {
        "en": "Text must not contain the NUL character (U+0000).",
        "fr": "Le texte ne doit pas contenir le caractère NUL (U+0000).",
        "it": "Il testo non deve contenere il carattere NUL (U+0000).",
    },
    "SEARCH_TOO_LONG": {
        "en": "The search text is too long (at most {max} characters).",
        "fr": "Le texte de recherche est trop long ({max} caractères au maximum).",
        "it": "Il testo di ricerca è troppo lungo (al massimo {max} caratteri).",
    },
    "DATE_OUT_OF_RANGE": {
        "en": "Dates must be between {min} and {max}.",
        "fr": "Les dates doivent être comprises entre le {min} et le {max}.",
        "it": "Le date devono essere comprese tra il {min} e il {max}.",
    },
    # HTTP refusals (before any GraphQL): 400, 405, 413, 415
    "HTTP_UNSUPPORTED_MEDIA_TYPE": {
        "en": "Send the operation as an application/json POST body (UTF-8).",
        "fr": "Envoyez l'opération dans un corps POST application/json (UTF-8).",
        "it": "Inviate l'operazione in un corpo POST application/json (UTF-8).",
    },
    "HTTP_PAYLOAD_TOO_LARGE": {
        "en": "The request body exceeds {limit} bytes.",
        "fr": "Le corps de la requête dépasse {limit} octets.",
        "it": "Il corpo della richiesta supera {limit} byte.",
    },
    "HTTP_BAD_JSON": {
        "en": "Unable to parse request body as JSON.",
        "fr": "Le corps de la requête n'est pas du JSON valide.",
        "it": "Il corpo della richiesta non è JSON valido.",
    },
    "HTTP_NO_QUERY": {
        "en": "No GraphQL query found in the request.",
        "fr": "La requête ne contient aucune opération GraphQL.",
        "it": "La richiesta non contiene alcuna operazione GraphQL.",
    },
    "HTTP_NO_BATCH": {
        "en": "Batching is not enabled: send one operation per request.",
        "fr": "Les lots ne sont pas acceptés : envoyez une opération par requête.",
        "it": "I batch non sono abilitati: inviate un'operazione per richiesta.",
    },
    "HTTP_METHOD_NOT_ALLOWED": {
        "en": "Mutations are only accepted over POST.",
        "fr": "Les mutations ne sont acceptées qu'en POST.",
        "it": "Le mutazioni sono accettate solo tramite POST.",
    },
    "STALE_VERSION": {
        "en": "Someone else changed this in the meantime; reload and try again.",
        "fr": "Quelqu'un d'autre a modifié ceci entre-temps ; rechargez et réessayez.",
        "it": "Qualcun altro ha modificato questo nel frattempo; ricarica e riprova.",
    },
}


@dataclass(frozen=True)
class Localized:
    """A message parameter people read that has a word per language (a status name): the
    message is worded when the reader's language is known, so the word is chosen then."""

    texts: Mapping[str, str]

    def word(self, language: str) -> str:
        return self.texts.get(language) or self.texts[DEFAULT]


# Role names people read (mails), as the vendor's FAQ names them; the Italian portal keeps the
# English names. Keyed by the role's value, so this module needs no model import.
ROLE_LABELS: dict[str, Localized] = {
    "ADMINISTRATOR": Localized(
        {"en": "Administrator", "fr": "Administrateur", "it": "Amministratore"}
    ),
    "DEVICE_MANAGER": Localized(
        {"en": "Device manager", "fr": "Gestionnaire des périphériques", "it": "Device Manager"}
    ),
    "STOCK_MANAGER": Localized(
        {"en": "Stock manager", "fr": "Gestionnaire des stocks", "it": "Stock Manager"}
    ),
    "DEVICE_STOCK_MANAGER": Localized(
        {
            "en": "Device and stock manager",
            "fr": "Gestionnaire des stocks et périphériques",
            "it": "Device-Stock Manager",
        }
    ),
    "KNOWLEDGE_USER": Localized(
        {"en": "Knowledge user", "fr": "Utilisateur des connaissances", "it": "Knowledge User"}
    ),
}


def role_label(role: str, language: str) -> str:
    """A role's human name in `language` (English when the language is not supported)."""
    labels = ROLE_LABELS.get(str(role))
    return labels.word(language) if labels is not None else str(role)


def negotiate(accept_language: str | None) -> str | None:
    """The first supported language in an Accept-Language header, by quality."""
    if not accept_language:
        return None
    choices: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in SUPPORTED and quality > 0:
            choices.append((-quality, index, primary))
    return min(choices)[2] if choices else None


def register(messages: dict[str, dict[str, str]]) -> None:
    """Domains add their own codes at import time; a duplicate code is a programming error."""
    for code, texts in messages.items():
        if code in MESSAGES and MESSAGES[code] != texts:
            raise ValueError(f"message code {code} registered twice")
        missing = set(SUPPORTED) - set(texts)
        if missing:
            raise ValueError(f"message {code} lacks {sorted(missing)}")
        MESSAGES[code] = texts


def plural_one(language: str, count: int) -> bool:
    """Whether `count` takes the singular (CLDR's "one"): French 0 and 1, English and Italian
    1 only."""
    return count in (0, 1) if language == "fr" else count == 1


class _Formatter(string.Formatter):
    """str.format plus plurals: `{seconds:|second|seconds}` is the singular or the plural word
    after the number in `seconds`, by the language's rule."""

    def __init__(self, language: str) -> None:
        self.language = language

    def format_field(self, value: Any, format_spec: str) -> Any:
        if format_spec.startswith("|") and isinstance(value, int | float):
            one, _, other = format_spec[1:].partition("|")
            return one if plural_one(self.language, int(value)) else other
        return super().format_field(value, format_spec)


def translate(code: str, language: str, **params: Any) -> str:
    texts = MESSAGES.get(code)
    if texts is None:
        return code
    template = texts.get(language) or texts[DEFAULT]
    words = {k: v.word(language) if isinstance(v, Localized) else v for k, v in params.items()}
    try:
        return _Formatter(language).format(template, **words)
    except (KeyError, IndexError, ValueError):
        return template
