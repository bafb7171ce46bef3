"""Messages people read, in English, French and Italian; picked per request (Accept-Language,
else the user's language, else English)."""

from __future__ import annotations

import gettext
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SUPPORTED = ("en", "fr", "it")
DEFAULT = "en"

# The messages live in gettext catalogs, locale/<language>/LC_MESSAGES/portal.po: the msgid is
# the message code, the msgstr the text (str.format placeholders, plurals `{n:|one|other}`).
# `make install` (or `make messages`) compiles them to the .mo files read here once.
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "portal"


def _load(language: str) -> gettext.GNUTranslations:
    mo = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.mo"
    po = mo.with_suffix(".po")
    if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
        raise RuntimeError(f"{mo} is missing or older than {po.name}: run `make messages`")
    with mo.open("rb") as file:
        return gettext.GNUTranslations(file)


_CATALOGS: dict[str, gettext.GNUTranslations] = {
    language: _load(language) for language in SUPPORTED
}
for _language, _catalog in _CATALOGS.items():
    if _language != DEFAULT:
        _catalog.add_fallback(_CATALOGS[DEFAULT])  # an untranslated message reads in English


def known(code: str) -> bool:
    """Whether the English catalog has this message code."""
    return _CATALOGS[DEFAULT].gettext(code) != code


def text(code: str, language: str) -> str:
    """The unformatted text of `code` in `language` (English when the language is not
    supported or lacks it; the code itself when no catalog has it)."""
    return _CATALOGS.get(language, _CATALOGS[DEFAULT]).gettext(code)


@dataclass(frozen=True)
class Localized:
    """A message parameter people read that has a word per language (a status name): the
    message is worded when the reader's language is known, so the word is chosen then."""

    code: str

    def word(self, language: str) -> str:
        return text(self.code, language)


def role_label(role: str, language: str) -> str:
    """A role's human name in `language` (English when the language is not supported); the
    catalogs name them `role.<value>`."""
    code = f"role.{role}"
    return text(code, language) if known(code) else str(role)


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
    if not known(code):
        return code
    template = text(code, language)
    words = {k: v.word(language) if isinstance(v, Localized) else v for k, v in params.items()}
    try:
        return _Formatter(language).format(template, **words)
    except (KeyError, IndexError, ValueError):
        return template
