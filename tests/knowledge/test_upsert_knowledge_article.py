"""`upsertKnowledgeArticle` and `publishKnowledgeArticle`: agents write; the search index
follows every change."""

from __future__ import annotations

from typing import Any

from tests.audiences import fields_of
from tests.graphql import NOT_IN_SCHEMA, GraphQLClient
from tests.knowledge.conftest import QUERY_PUBLISH, QUERY_UPSERT, create_article

AGENT = "agent@vendor.example"
KNOWLEDGE_USER = "kb@acme.example"

QUERY_SEARCH = """
query Search($search: String!, $language: String) {
  knowledgeArticles(search: $search, language: $language) { nodes { slug servedLanguage } }
}
"""


def _input(**overrides: Any) -> dict[str, Any]:
    return {
        "input": {
            "slug": "toner-smudges",
            "category": "troubleshooting",
            "translations": [
                {
                    "language": "en",
                    "title": "Toner smudges",
                    "body": "Smudged prints come from a worn drum.",
                },
                {
                    "language": "it",
                    "title": "Sbavature di toner",
                    "body": "Le stampe sbavate vengono da un tamburo usurato.",
                },
            ],
            **overrides,
        }
    }


async def _slugs(gql: GraphQLClient, search: str, language: str = "en") -> list[str]:
    result = await gql(
        QUERY_SEARCH, {"search": search, "language": language}, as_user=KNOWLEDGE_USER
    )
    assert not result.errors, result.errors
    return [a["slug"] for a in result.data["knowledgeArticles"]["nodes"]]


async def test_agent_creates_publishes_and_unpublishes(gql: GraphQLClient) -> None:
    # when
    created = await gql(QUERY_UPSERT, _input(), as_user=AGENT, headers={"Accept-Language": "it"})
    # then
    payload = created.data["upsertKnowledgeArticle"]
    assert payload["userErrors"] == []
    article = payload["article"]
    assert article["published"] is False
    assert article["servedLanguage"] == "it" and article["title"] == "Sbavature di toner"
    assert await _slugs(gql, "smudges") == []
    # when
    await gql(QUERY_PUBLISH, {"input": {"id": article["id"], "published": True}}, as_user=AGENT)
    # then
    assert await _slugs(gql, "smudges") == ["toner-smudges"]
    assert await _slugs(gql, "tamburi usurati", "it") == ["toner-smudges"]
    # when
    await gql(QUERY_PUBLISH, {"input": {"id": article["id"], "published": False}}, as_user=AGENT)
    # then
    assert await _slugs(gql, "smudges") == []


async def test_changed_text_is_found_and_old_text_is_not(gql: GraphQLClient) -> None:
    # given
    article_id = await create_article(
        gql, "toner-smudges", {"en": ("Toner smudges", "Smudged prints.")}, publish=True
    )
    # when
    result = await gql(
        QUERY_UPSERT,
        {
            "input": {
                "id": article_id,
                "slug": "toner-smudges",
                "category": "troubleshooting",
                "translations": [
                    {
                        "language": "en",
                        "title": "Streaky prints",
                        "body": "Streaks mean a dirty mirror.",
                    },
                    {
                        "language": "fr",
                        "title": "Traînées",
                        "body": "Les traînées viennent d'un miroir sale.",
                    },
                ],
            }
        },
        as_user=AGENT,
    )
    # then
    assert result.data["upsertKnowledgeArticle"]["userErrors"] == []
    assert await _slugs(gql, "smudges") == []
    assert await _slugs(gql, "streaks mirror") == ["toner-smudges"]
    assert await _slugs(gql, "miroirs sales", "fr") == ["toner-smudges"]


async def test_bad_articles_are_refused(gql: GraphQLClient) -> None:
    # given
    await create_article(gql, "taken-slug", {"en": ("Taken", "Already here.")}, publish=False)
    only_french = [{"language": "fr", "title": "Titre", "body": "Texte."}]
    cases = [
        (_input(slug="Not A Slug"), "ARTICLE_SLUG_INVALID"),
        (_input(slug="taken-slug"), "ARTICLE_SLUG_TAKEN"),
        (_input(category=" "), "ARTICLE_CATEGORY_REQUIRED"),
        (_input(translations=only_french), "ARTICLE_NEEDS_ENGLISH"),
        (
            _input(translations=[{"language": "de", "title": "Titel", "body": "Text."}]),
            "ARTICLE_LANGUAGE_UNSUPPORTED",
        ),
        (
            _input(
                translations=[
                    {"language": "en", "title": "A", "body": "B"},
                    {"language": "en", "title": "C", "body": "D"},
                ]
            ),
            "DUPLICATE_LANGUAGE",
        ),
        (
            _input(translations=[{"language": "en", "title": " ", "body": "B"}]),
            "ARTICLE_TITLE_REQUIRED",
        ),
        (_input(productModelId="UHJvZHVjdE1vZGVsOjk5OTk5"), "UNKNOWN_PRODUCT_MODEL"),
    ]
    for variables, code in cases:
        # when
        result = await gql(
            QUERY_UPSERT, variables, as_user=AGENT, headers={"Accept-Language": "fr"}
        )
        # then
        payload = result.data["upsertKnowledgeArticle"]
        assert payload["article"] is None
        assert payload["userErrors"][0]["code"] == code, variables
    assert await _slugs(gql, "smudges") == []


async def test_upsert_knowledge_article_requires_permission(gql: GraphQLClient) -> None:
    for user in ("admin@acme.example", KNOWLEDGE_USER):
        # when
        result = await gql(QUERY_UPSERT, _input(), as_user=user)
        # then: who manages knowledge nowhere has neither the mutation nor its input type
        assert result.data is None, user
        assert set(result.error_codes) == set(NOT_IN_SCHEMA), (user, result.errors)
        assert "upsertKnowledgeArticle" not in fields_of(user, "Mutation"), user
    anonymous = await gql(QUERY_UPSERT, _input())
    assert anonymous.error_codes == ["UNAUTHENTICATED"]
    assert "path" not in anonymous.errors[0]
    assert await _slugs(gql, "smudges") == []


async def test_publish_knowledge_article_requires_permission(gql: GraphQLClient) -> None:
    # given
    article_id = await create_article(
        gql, "secret-draft", {"en": ("Draft", "Text.")}, publish=False
    )
    for user in ("admin@acme.example", KNOWLEDGE_USER):
        # when
        result = await gql(
            QUERY_PUBLISH, {"input": {"id": article_id, "published": True}}, as_user=user
        )
        # then: who manages knowledge nowhere has neither the mutation nor its input type
        assert result.data is None, user
        assert set(result.error_codes) == set(NOT_IN_SCHEMA), (user, result.errors)
        assert "publishKnowledgeArticle" not in fields_of(user, "Mutation"), user
    assert await _slugs(gql, "draft") == []
