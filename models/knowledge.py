"""Knowledge articles and their translations (en, fr, it)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from models.base import Base, BigId, IdMixin, TimestampMixin


class KnowledgeArticle(IdMixin, TimestampMixin, Base):
    __tablename__ = "knowledge_articles"

    slug: Mapped[str] = mapped_column(String(120), unique=True)
    category: Mapped[str] = mapped_column(String(50), index=True)
    product_model_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("product_models.id", ondelete="SET NULL"), index=True
    )
    published: Mapped[bool] = mapped_column(default=False)
    published_at: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)


class KnowledgeArticleTranslation(IdMixin, Base):
    __tablename__ = "knowledge_article_translations"

    article_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("knowledge_articles.id", ondelete="CASCADE")
    )
    language: Mapped[str] = mapped_column(String(2))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)

    __table_args__ = (
        UniqueConstraint("article_id", "language", name="uq_knowledge_translation_language"),
        CheckConstraint("language IN ('en', 'fr', 'it')", name="supported_language"),
    )
