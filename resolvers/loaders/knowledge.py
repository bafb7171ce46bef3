"""Loaders for knowledge articles and their translations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, false, select, true

from auth.policy import Permission
from models import KnowledgeArticle, KnowledgeArticleTranslation
from resolvers.loaders.base import ByIdLoader, GroupedLoader
from resolvers.scoping import Scope


def articles_clause(scope: Scope) -> ColumnElement[bool]:
    """Readers see published articles; those who manage the knowledge base see drafts too."""
    if not scope.holds_anywhere(Permission.READ_KNOWLEDGE):
        return false()
    if scope.holds_anywhere(Permission.MANAGE_KNOWLEDGE):
        return true()
    return KnowledgeArticle.published.is_(True)


class KnowledgeArticleByIdLoader(ByIdLoader[KnowledgeArticle]):
    model = KnowledgeArticle

    def scope_clause(self, scope: Scope) -> ColumnElement[bool]:
        return articles_clause(scope)


class KnowledgeTranslationsByArticleIdLoader(GroupedLoader[KnowledgeArticleTranslation]):
    """All translations of articles the caller has already seen, by language."""

    def statement(self, keys: Sequence[Any], scope: Scope) -> Select[Any]:
        return (
            select(KnowledgeArticleTranslation)
            .where(KnowledgeArticleTranslation.article_id.in_(keys))
            .order_by(KnowledgeArticleTranslation.language)
        )

    def group_key(self, row: Any) -> Any:
        return row[0].article_id
