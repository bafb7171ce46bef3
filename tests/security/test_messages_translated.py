"""Messages a person reads exist in en, fr and it: every message code of the English catalog
(locale/en/LC_MESSAGES/portal.po) has a French and an Italian text with the same placeholders,
every code the code raises is in the catalogs, no coded error is raised with an English-only
literal, and top-level errors come worded in the caller's language (Accept-Language)."""

from __future__ import annotations

import ast
import string
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

import i18n
from models.enums import ReplenishmentStatus, Role, TicketStatus
from tests.graphql import GraphQLClient

ADMIN = "admin@acme.example"
ROOT = Path(__file__).resolve().parents[2]
CODED_ERRORS = {
    "CodedError",
    "BadUserInput",
    "NotFound",
    "Forbidden",
    "Throttled",
    "Unauthenticated",
    "MaxCostExceeded",
}
# Calls whose first argument is a message code.
MESSAGE_CALLS = CODED_ERRORS | {"UserError", "translate", "english"}
MAIL_TEMPLATES = (
    "identity.confirm_email",
    "identity.invitation",
    "identity.access_request",
    "identity.access_approved",
    "identity.access_rejected",
    "ticket_created",
    "ticket_status_changed",
)

QUERY_USAGE = """
query Usage($filter: MeterUsageFilter) {
  meterUsage(filter: $filter, groupBy: DEVICE, period: MONTH) { meter }
}
"""
QUERY_FIRST_AND_LAST = "query { devices(first: 1, last: 1) { totalCount } }"
QUERY_ALIASES = "query { " + " ".join(f"a{i}: __typename" for i in range(40)) + " }"


def catalog(language: str) -> Catalog:
    with (i18n.LOCALE_DIR / language / "LC_MESSAGES" / f"{i18n.DOMAIN}.po").open("rb") as file:
        return read_po(file)


def texts(language: str) -> dict[str, str]:
    """msgid -> msgstr; a fuzzy entry counts as untranslated (it is not compiled)."""
    return {str(m.id): "" if m.fuzzy else str(m.string) for m in catalog(language) if m.id}


def placeholders(text: str) -> set[str]:
    """The names of `{name}` and `{n:|one|other}` fields (a language may add a plural)."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_english_message_has_french_and_italian_with_the_same_placeholders() -> None:
    # given: the catalogs translators edit
    english = texts("en")
    others = {language: texts(language) for language in i18n.SUPPORTED if language != "en"}
    # when
    lacking = {
        (language, code)
        for language, catalog in {"en": english, **others}.items()
        for code in english
        if not catalog.get(code, "").strip()
    }
    unknown = {(language, code) for language, c in others.items() for code in set(c) - set(english)}
    differing = {
        (language, code)
        for language, catalog in others.items()
        for code, text in english.items()
        if code in catalog and placeholders(catalog[code]) != placeholders(text)
    }
    # then
    assert len(english) > 100
    assert lacking == set()
    assert unknown == set()
    assert differing == set()


def test_every_message_code_the_code_uses_is_in_the_catalogs() -> None:
    # given: codes given as literals to coded errors and to `translate`, the mail templates,
    # and the statuses and roles people read
    used = {
        f"{path.relative_to(ROOT)}:{node.lineno}": node.args[0].value
        for path in sources()
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.Call)
        and (
            (isinstance(node.func, ast.Name) and node.func.id in MESSAGE_CALLS)
            or (isinstance(node.func, ast.Attribute) and node.func.attr in MESSAGE_CALLS)
        )
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    }
    used |= {
        f"mail {name}.{part}": f"{name}.{part}"
        for name in MAIL_TEMPLATES
        for part in ("subject", "body")
    }
    used |= {f"role {r}": f"role.{r.value}" for r in Role}
    used |= {f"ticket {s}": f"ticket_status.{s.value}" for s in TicketStatus}
    used |= {f"order {s}": f"order_status.{s.value}" for s in ReplenishmentStatus}
    # when
    missing = {where: code for where, code in used.items() if not i18n.known(code)}
    # then
    assert len(used) > 80
    assert missing == {}


def sources() -> list[Path]:
    return [
        p
        for p in ROOT.rglob("*.py")
        if not {"tests", ".venv", "alembic", "bench"} & set(p.relative_to(ROOT).parts)
    ]


def test_no_coded_error_is_raised_with_an_english_literal() -> None:
    # given: the application's sources
    # when: a coded error built with a written message (not a message code)
    literal = []
    for path in sources():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in CODED_ERRORS
                and node.args
                and isinstance(node.args[0], ast.Constant | ast.JoinedStr)
            ):
                literal.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    # then
    assert literal == []


async def test_usage_range_refused_in_french(gql: GraphQLClient) -> None:
    # given: `from` after `to`
    filter = {"from": "2024-02-01", "to": "2024-01-01"}
    # when
    result = await gql(
        QUERY_USAGE, {"filter": filter}, as_user=ADMIN, headers={"Accept-Language": "fr"}
    )
    # then
    assert result.error_codes == ["BAD_USER_INPUT"]
    assert result.errors[0]["message"] == "`from` ne doit pas être postérieur à `to`."


async def test_first_and_last_refused_in_french_and_english(gql: GraphQLClient) -> None:
    # given: a page asked by both ends (refused where the language is not known)
    # when
    french = await gql(QUERY_FIRST_AND_LAST, as_user=ADMIN, headers={"Accept-Language": "fr"})
    english = await gql(QUERY_FIRST_AND_LAST, as_user=ADMIN)
    # then
    assert french.error_codes == english.error_codes == ["BAD_USER_INPUT"]
    assert french.errors[0]["message"] == "Indiquez `first` ou `last`, pas les deux."
    assert english.errors[0]["message"] == "Give `first` or `last`, not both."


async def test_alias_limit_refused_in_italian(gql: GraphQLClient) -> None:
    # given: more aliases than allowed (a validation rule worded in English by the engine)
    # when
    result = await gql(QUERY_ALIASES, headers={"Accept-Language": "it"})
    # then
    assert result.error_codes == ["GRAPHQL_VALIDATION_FAILED"]
    assert result.errors[0]["message"] == "40 alias trovati. Consentiti: 30"
