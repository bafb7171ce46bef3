"""Helpers for knowledge tests."""

from __future__ import annotations

from typing import Any

from tests.graphql import GraphQLClient
from tests.stock.conftest import emaintenance_token  # noqa: F401  (fixture)

AGENT = "agent@vendor.example"

QUERY_UPSERT = """
mutation Upsert($input: UpsertKnowledgeArticleInput!) {
  upsertKnowledgeArticle(input: $input) {
    article { id slug category published servedLanguage title body
              translations { language title } productModel { name } }
    userErrors { field code message }
  }
}
"""

QUERY_PUBLISH = """
mutation Publish($input: PublishKnowledgeArticleInput!) {
  publishKnowledgeArticle(input: $input) {
    article { id published publishedAt }
    userErrors { field code message }
  }
}
"""


async def create_article(
    gql: GraphQLClient, slug: str, translations: dict[str, tuple[str, str]], *, publish: bool
) -> str:
    result = await gql(
        QUERY_UPSERT,
        {
            "input": {
                "slug": slug,
                "category": "troubleshooting",
                "translations": [
                    {"language": lang, "title": title, "body": body}
                    for lang, (title, body) in translations.items()
                ],
            }
        },
        as_user=AGENT,
    )
    payload: dict[str, Any] = result.data["upsertKnowledgeArticle"]
    assert payload["userErrors"] == [], payload
    article_id: str = payload["article"]["id"]
    if publish:
        published = await gql(
            QUERY_PUBLISH, {"input": {"id": article_id, "published": True}}, as_user=AGENT
        )
        assert published.data["publishKnowledgeArticle"]["userErrors"] == []
    return article_id
