"""Messages a person reads exist in en, fr and it: every message code registered once the
schema is imported has the three texts, no coded error is raised with an English-only literal,
and top-level errors come worded in the caller's language (Accept-Language)."""

from __future__ import annotations

import ast
import string
from pathlib import Path

import i18n
import schema.root  # noqa: F401  (imports every module that registers messages)
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

QUERY_USAGE = """
query Usage($filter: MeterUsageFilter) {
  meterUsage(filter: $filter, groupBy: DEVICE, period: MONTH) { meter }
}
"""
QUERY_FIRST_AND_LAST = "query { devices(first: 1, last: 1) { totalCount } }"
QUERY_ALIASES = "query { " + " ".join(f"a{i}: __typename" for i in range(40)) + " }"


def test_every_registered_message_has_english_french_and_italian() -> None:
    # given: the registry after the schema (and so every domain module) is imported
    registry = i18n.MESSAGES
    # when
    lacking = {
        code: sorted(set(i18n.SUPPORTED) - {k for k, v in texts.items() if v.strip()})
        for code, texts in registry.items()
    }
    placeholders = {
        code: {
            language: {name for _, name, _, _ in string.Formatter().parse(text) if name}
            for language, text in texts.items()
        }
        for code, texts in registry.items()
    }
    # then
    assert len(registry) > 50
    assert {code: missing for code, missing in lacking.items() if missing} == {}
    assert {
        code: names
        for code, names in placeholders.items()
        if len({frozenset(n) for n in names.values()}) != 1
    } == {}


def test_no_coded_error_is_raised_with_an_english_literal() -> None:
    # given: the application's sources
    sources = [
        p
        for p in ROOT.rglob("*.py")
        if not {"tests", ".venv", "alembic", "bench"} & set(p.relative_to(ROOT).parts)
    ]
    # when: a coded error built with a written message (not a message code)
    literal = []
    for path in sources:
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
