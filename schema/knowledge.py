"""The knowledge base: articles in English, French and Italian, searched by relevance."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry import relay

from auth.policy import Permission
from auth.policy import Permission as P
from auth.requirements import requires
from models import KnowledgeArticleTranslation as TranslationRow
from resolvers.knowledge import (
    ArticleHit,
    article_connection,
    pick_translation,
    publish_article,
    requested_language,
    upsert_article,
)
from resolvers.loaders.knowledge import (
    KnowledgeArticleByIdLoader,
    KnowledgeTranslationsByArticleIdLoader,
)
from schema.context import Info
from schema.devices import ProductModel
from schema.mutations import Payload, transactional
from schema.pagination import After, Connection, First
from schema.permissions import mutation, permission_field


@strawberry.type(description="One language version of an article.")
class KnowledgeArticleTranslation:
    language: str = strawberry.field(description="Language (en, fr, it).")
    title: str = strawberry.field(description="Title.")
    body: str = strawberry.field(description="Text.")
    updated_at: datetime = strawberry.field(description="Last change of this version.")

    @classmethod
    def from_row(cls, row: TranslationRow) -> KnowledgeArticleTranslation:
        return cls(language=row.language, title=row.title, body=row.body, updated_at=row.updated_at)


@strawberry.type(
    description="A knowledge article, served in the requested language or, failing that, in "
    "English (`servedLanguage` says which)."
)
class KnowledgeArticle(relay.Node):
    id: relay.NodeID[int]
    slug: str = strawberry.field(description="Stable name in links.")
    category: str = strawberry.field(description="Category (troubleshooting, supplies, ...).")
    published: bool = strawberry.field(
        description="false for a draft (only those who manage the knowledge base see drafts)."
    )
    published_at: datetime | None = strawberry.field(description="When it was last published.")
    updated_at: datetime = strawberry.field(description="Last change of the article.")
    served_language: str = strawberry.field(
        description="Language of `title`, `body` and `snippet` (en when the requested one is "
        "missing)."
    )
    title: str = strawberry.field(description="Title, in `servedLanguage`.")
    body: str = strawberry.field(description="Text, in `servedLanguage`.")
    snippet: str | None = strawberry.field(
        description="With `search`: the best passage, matches wrapped in <mark>…</mark>."
    )
    score: float | None = strawberry.field(
        description="With `search`: relevance (higher is better; the list is sorted by it)."
    )
    product_model_id: strawberry.Private[int | None]

    @classmethod
    def from_hit(cls, hit: ArticleHit) -> KnowledgeArticle:
        article, translation = hit.article, hit.translation
        return cls(
            id=article.id,
            slug=article.slug,
            category=article.category,
            published=article.published,
            published_at=article.published_at,
            updated_at=article.updated_at,
            served_language=translation.language,
            title=translation.title,
            body=translation.body,
            snippet=hit.snippet,
            score=hit.score,
            product_model_id=article.product_model_id,
        )

    @classmethod
    async def resolve_nodes(
        cls, *, info: Info, node_ids: Any, required: bool = False
    ) -> list[KnowledgeArticle | None]:
        context = info.context
        language = await requested_language(context, None)
        articles = await context.loaders[KnowledgeArticleByIdLoader].load_many(
            [int(i) for i in node_ids]
        )
        found = [a for a in articles if a is not None]
        translations = await context.loaders[KnowledgeTranslationsByArticleIdLoader].load_many(
            [a.id for a in found]
        )
        served = {
            a.id: pick_translation(ts, language) for a, ts in zip(found, translations, strict=True)
        }
        result: list[KnowledgeArticle | None] = []
        for article in articles:
            translation = served.get(article.id) if article is not None else None
            result.append(
                cls.from_hit(ArticleHit(article=article, translation=translation))
                if article is not None and translation is not None
                else None
            )
        return result

    @strawberry.field(description="Every language version of the article.")
    async def translations(self, info: Info) -> list[KnowledgeArticleTranslation]:
        rows = await info.context.loaders[KnowledgeTranslationsByArticleIdLoader].load(self.id)
        return [KnowledgeArticleTranslation.from_row(r) for r in rows]

    @strawberry.field(description="The product model the article is about, if any.")
    async def product_model(self, info: Info) -> ProductModel | None:
        return await ProductModel.load(info, self.product_model_id)


@strawberry.type(description="A page of knowledge articles.")
class KnowledgeArticleConnection(Connection[KnowledgeArticle]):
    pass


@strawberry.input(description="One language version of an article.")
class KnowledgeArticleTranslationInput:
    language: str = strawberry.field(description="en, fr or it.")
    title: str = strawberry.field(description="Title.")
    body: str = strawberry.field(description="Text.")


@strawberry.input(
    description="Creates an article (without `id`, as a draft) or changes one; the given "
    "translations replace those of their language, others stay."
)
class UpsertKnowledgeArticleInput:
    id: strawberry.ID | None = strawberry.field(default=None, description="The article to change.")
    slug: str = strawberry.field(description="Lower-case letters, digits and hyphens; unique.")
    category: str = strawberry.field(description="Category.")
    product_model_id: strawberry.ID | None = strawberry.field(
        default=None, description="The product model the article is about, if any."
    )
    translations: list[KnowledgeArticleTranslationInput] = strawberry.field(
        description="Language versions; an article needs an English one."
    )


@strawberry.input(description="Publishes or unpublishes an article.")
class PublishKnowledgeArticleInput:
    id: strawberry.ID = strawberry.field(description="The article.")
    published: bool = strawberry.field(description="true: readers see it; false: a draft again.")


@strawberry.type(description="Result of a knowledge article change.")
class KnowledgeArticlePayload(Payload):
    article: KnowledgeArticle | None = strawberry.field(
        default=None, description="The article as stored."
    )


@strawberry.type
class KnowledgeQuery:
    @permission_field(
        Permission.READ_KNOWLEDGE,
        description="Knowledge articles in the requested `language` (else Accept-Language, "
        "else the user's language; English where a translation is missing). With `search`: "
        "full-text search with stemming per language, best match first, with snippets; "
        "without `language` it searches every language and serves each article in a language "
        "that matched (the reader's when it did), matches in the reader's language first; "
        "with `language`, that language only. Without `search`: by title. Those who manage "
        "the knowledge base also see drafts.",
    )
    async def knowledge_articles(
        self,
        info: Info,
        search: Annotated[
            str | None,
            strawberry.argument(description="Words to look for (full-text, stemmed per language)."),
        ] = None,
        language: Annotated[
            str | None,
            strawberry.argument(description="Language of the articles (en, fr, it)."),
        ] = None,
        product_model_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Only the articles about this product model."),
        ] = None,
        category: Annotated[
            str | None,
            strawberry.argument(description="Only the articles of this category (exact name)."),
        ] = None,
        first: First = None,
        after: After = None,
    ) -> KnowledgeArticleConnection:
        page = await article_connection(
            info.context,
            search=search,
            language=language,
            product_model_id=str(product_model_id) if product_model_id is not None else None,
            category=category,
            first=first,
            after=after,
        )
        return KnowledgeArticleConnection.of(page, KnowledgeArticle.from_hit)


@strawberry.type
class KnowledgeMutation:
    @mutation(
        requires(P.MANAGE_KNOWLEDGE),
        description="Creates or changes a knowledge article.",
    )
    async def upsert_knowledge_article(
        self,
        info: Info,
        input: Annotated[
            UpsertKnowledgeArticleInput,
            strawberry.argument(
                description="The article (no `id` for a new one) and its translations."
            ),
        ],
    ) -> KnowledgeArticlePayload:
        async def work() -> KnowledgeArticlePayload:
            hit = await upsert_article(info.context, input)
            return KnowledgeArticlePayload(article=KnowledgeArticle.from_hit(hit))

        return await transactional(info, KnowledgeArticlePayload, work)

    @mutation(
        requires(P.MANAGE_KNOWLEDGE),
        description="Publishes or unpublishes a knowledge article.",
    )
    async def publish_knowledge_article(
        self,
        info: Info,
        input: Annotated[
            PublishKnowledgeArticleInput,
            strawberry.argument(description="The article, and whether it is published."),
        ],
    ) -> KnowledgeArticlePayload:
        async def work() -> KnowledgeArticlePayload:
            hit = await publish_article(info.context, input)
            return KnowledgeArticlePayload(article=KnowledgeArticle.from_hit(hit))

        return await transactional(info, KnowledgeArticlePayload, work)
