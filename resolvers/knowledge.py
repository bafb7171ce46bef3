"""The knowledge base: articles in English, French and Italian, served in the reader's language
(falling back to English), with full-text search ranked by relevance. A search without a
`language` argument matches every language (an English reader finds "bourrage papier" in the
French text), one hit per article, the reader's language ranked first.

PostgreSQL: each translation's tsvector is built with the text search configuration of its
language (english / french / italian: Snowball stemmers and stop words), indexed by GIN
(`ix_knowledge_search_vector`); the query is parsed with the same configuration
(`websearch_to_tsquery`), ranked with `ts_rank` (title weighted above body) and highlighted
with `ts_headline`.

SQLite: FTS5 ships only a Porter stemmer, for English. The FTS5 table indexes the original words
(case and diacritics folded by `unicode61 remove_diacritics 2`), and stemming happens at query
time: each searched word is cut to a light stem for the language searched and matched as a
prefix ("bourrages" -> `bourrag*` finds "bourrage"; "inceppamenti" -> `incepp*` finds
"inceppamento"). The index then holds the real text, so `snippet()` highlights the words as
written, triggers keep it in step with any write, and ranking is FTS5's BM25 (title weighted
above body). A prefix can over-match a little ("cart*" also finds "cartuccia"); for a few
hundred articles that is a fair price for not needing a stemming library in SQLite.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import (
    Float,
    Integer,
    String,
    and_,
    case,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from auth.policy import Permission
from core import clock
from core.errors import BadUserInput, Forbidden, UserError
from core.ids import decode_id, decode_id_or_none
from models import KnowledgeArticle, KnowledgeArticleTranslation, ProductModel
from resolvers.audit import audit
from resolvers.loaders.knowledge import articles_clause
from resolvers.pagination import (
    EMPTY_PAGE,
    Page,
    PageRequest,
    SortField,
    build_page,
    decode_cursor,
)

if TYPE_CHECKING:
    from resolvers.context import Context


LANGUAGES = ("en", "fr", "it")
FALLBACK = "en"
MARK_START, MARK_END = "<mark>", "</mark>"
MAX_SEARCH_WORDS = 12

_REGCONFIGS = {"en": "english", "fr": "french", "it": "italian"}

# Must stay identical to the expression of `ix_knowledge_search_vector` (see its migration).
_TABLE = "knowledge_article_translations"
_PG_CONFIG = (
    f"CASE {_TABLE}.language WHEN 'fr' THEN 'french'::regconfig "
    f"WHEN 'it' THEN 'italian'::regconfig ELSE 'english'::regconfig END"
)
PG_VECTOR = (
    f"to_tsvector({_PG_CONFIG}, coalesce({_TABLE}.title, '') || ' ' || coalesce({_TABLE}.body, ''))"
)

# --- language ------------------------------------------------------------------------------


async def requested_language(context: Context, argument: str | None) -> str:
    """The argument, else Accept-Language, else the user's language, else English."""
    scope = await context.require_scope()
    if argument is not None:
        primary = argument.strip().lower().replace("_", "-").split("-")[0]
        return primary if primary in LANGUAGES else FALLBACK
    if context.header_language:
        return context.header_language
    if scope.user is not None and scope.user.language in LANGUAGES:
        return scope.user.language
    return FALLBACK


def pick_translation(
    translations: Sequence[KnowledgeArticleTranslation], language: str
) -> KnowledgeArticleTranslation | None:
    by_language = {t.language: t for t in translations}
    return by_language.get(language) or by_language.get(FALLBACK)


# --- stemming for SQLite FTS5 --------------------------------------------------------------

# Longest first; a suffix is only cut when at least three letters stay.
_SUFFIXES: dict[str, tuple[str, ...]] = {
    "en": ("ations", "ation", "ings", "ing", "ies", "ed", "es", "s"),
    "fr": (
        "issements",
        "issement",
        "ements",
        "ement",
        "ations",
        "ation",
        "euses",
        "euse",
        "eaux",
        "eau",
        "ees",
        "ee",
        "es",
        "er",
        "ez",
        "e",
        "s",
        "x",
    ),
    "it": (
        "amenti",
        "amento",
        "imenti",
        "imento",
        "azioni",
        "azione",
        "mente",
        "ando",
        "endo",
        "are",
        "ere",
        "ire",
        "ata",
        "ate",
        "ati",
        "ato",
        "ita",
        "ite",
        "iti",
        "ito",
        "a",
        "e",
        "i",
        "o",
    ),
}
_WORD = re.compile(r"\w+", re.UNICODE)


def fold(word: str) -> str:
    """Lower case without diacritics, as FTS5's `unicode61 remove_diacritics 2` indexes it."""
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def light_stem(word: str, language: str) -> str:
    word = fold(word)
    for suffix in _SUFFIXES.get(language, ()):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def fts5_query(search: str, language: str) -> str | None:
    """Every word must match, as a prefix of its stem: `"bourrag"* "papi"*`."""
    words = [w for w in _WORD.findall(search) if w.strip("_")][:MAX_SEARCH_WORDS]
    stems = [light_stem(w, language) for w in words]
    terms = [f'"{s}"*' for s in stems if s]
    return " ".join(terms) if terms else None


# --- reads ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArticleHit:
    """An article served in one language, with its relevance and snippet when searched."""

    article: KnowledgeArticle
    translation: KnowledgeArticleTranslation
    score: float | None = None
    snippet: str | None = None


def _served_translations(language: str) -> Any:
    """Condition on KnowledgeArticleTranslation: the requested language, else English."""
    t = KnowledgeArticleTranslation
    if language == FALLBACK:
        return t.language == FALLBACK
    preferred = aliased(KnowledgeArticleTranslation)
    return or_(
        t.language == language,
        and_(
            t.language == FALLBACK,
            ~exists().where(preferred.article_id == t.article_id, preferred.language == language),
        ),
    )


async def article_connection(
    context: Context,
    *,
    search: str | None,
    language: str | None,
    product_model_id: str | None,
    category: str | None,
    first: int | None,
    after: str | None,
) -> Page:
    """A page of articles (`ArticleHit`s): by relevance when searching, else by title."""
    scope = await context.require_scope()
    served = await requested_language(context, language)
    request = PageRequest(first=first, after=after).validated()
    position = SortField(literal(0), "int")
    offset = decode_cursor(after, [position])[0] if after is not None else 0
    if offset < 0:
        raise BadUserInput(
            message_code="INVALID_CURSOR", language=context.language, argument="after"
        )

    t = KnowledgeArticleTranslation
    searching = bool(search and search.strip())
    # A search without a `language` argument looks in every language: a reader finds an article
    # in the language its words are written in, whatever the reader's language (which only
    # ranks). With the argument: that language, English standing in where it is missing.
    every_language = searching and language is None
    stmt = select(KnowledgeArticle, t).join(t, t.article_id == KnowledgeArticle.id)
    stmt = stmt.where(articles_clause(scope))
    if not every_language:
        stmt = stmt.where(_served_translations(served))
    if product_model_id is not None:
        stmt = stmt.where(
            KnowledgeArticle.product_model_id
            == decode_id(product_model_id, "ProductModel", language=context.language)
        )
    if category is not None:
        stmt = stmt.where(KnowledgeArticle.category == category.strip())

    dialect = context.session.get_bind().dialect.name
    if searching:
        assert search is not None
        languages = set(LANGUAGES) if every_language else {served, FALLBACK}
        search_in = _postgres_search if dialect == "postgresql" else _sqlite_search
        found = search_in(stmt, search, languages)
        if found is None:
            return EMPTY_PAGE
        stmt, score, snippet = found
        if every_language:
            stmt, ordering = _best_match_per_article(stmt, score, snippet, served)
            ordered = stmt.order_by(*ordering, KnowledgeArticle.id)
        else:
            stmt = stmt.add_columns(score.label("score"), snippet.label("snippet"))
            ordered = stmt.order_by(literal_column("score").desc(), KnowledgeArticle.id)
    else:
        stmt = stmt.add_columns(literal(None, Float).label("score"), literal(None, String))
        ordered = stmt.order_by(t.title, KnowledgeArticle.id)

    rows = (await context.session.execute(ordered.offset(offset).limit(request.limit + 1))).all()
    has_more = len(rows) > request.limit
    rows = rows[: request.limit]
    hits = [
        (
            ArticleHit(
                article=row[0],
                translation=row[1],
                score=float(row[2]) if row[2] is not None else None,
                snippet=row[3],
            ),
            offset + index + 1,
        )
        for index, row in enumerate(rows)
    ]
    count_stmt = stmt.with_only_columns(KnowledgeArticle.id)

    async def count() -> int:
        total = await context.session.scalar(
            select(func.count()).select_from(count_stmt.order_by(None).subquery())
        )
        return int(total or 0)

    return build_page(hits, [position], request, has_more, count)


def _best_match_per_article(
    stmt: Any, score: Any, snippet: Any, reader_language: str
) -> tuple[Any, list[Any]]:
    """Of an article matched in several languages, the translation in the reader's language,
    else the best-scored one; the list puts matches in the reader's language first, then by
    relevance. Returns the statement (article, translation, score, snippet) and its order."""
    t = KnowledgeArticleTranslation
    preferred = case((t.language == reader_language, 1), else_=0)
    matched = stmt.with_only_columns(
        t.id.label("translation_id"),
        score.label("score"),
        snippet.label("snippet"),
        preferred.label("preferred"),
        func.row_number()
        .over(partition_by=t.article_id, order_by=(preferred.desc(), score.desc(), t.language))
        .label("pick"),
    ).subquery("matched")
    best = (
        select(KnowledgeArticle, t, matched.c.score, matched.c.snippet)
        .select_from(matched)
        .join(t, t.id == matched.c.translation_id)
        .join(KnowledgeArticle, KnowledgeArticle.id == t.article_id)
        .where(matched.c.pick == 1)
    )
    return best, [matched.c.preferred.desc(), matched.c.score.desc()]


def _postgres_search(stmt: Any, search: str, languages: set[str]) -> tuple[Any, Any, Any]:
    """The rows matching `search` in one of `languages` (each with its own text search
    configuration), with their relevance and snippet expressions."""
    t = KnowledgeArticleTranslation
    vector: Any = literal_column(PG_VECTOR)
    # One condition per language, each with a constant tsquery, so the GIN index serves them.
    matches = [
        and_(
            t.language == language,
            vector.op("@@")(
                func.websearch_to_tsquery(
                    literal_column(f"'{_REGCONFIGS[language]}'::regconfig"), search
                )
            ),
        )
        for language in sorted(languages)
    ]
    # Rank and snippet are computed for the matched rows only, in each row's language.
    config: Any = literal_column(_PG_CONFIG)
    query = func.websearch_to_tsquery(config, search)
    weighted = func.setweight(func.to_tsvector(config, t.title), literal_column("'A'")).op("||")(
        func.setweight(func.to_tsvector(config, t.body), literal_column("'B'"))
    )
    headline = func.ts_headline(
        config,
        t.body,
        query,
        literal_column(
            f"'StartSel={MARK_START}, StopSel={MARK_END}, MaxWords=30, MinWords=12, "
            "MaxFragments=2, FragmentDelimiter= … '"
        ),
    )
    return stmt.where(or_(*matches)), func.ts_rank(weighted, query), headline


def _sqlite_search(stmt: Any, search: str, languages: set[str]) -> tuple[Any, Any, Any] | None:
    """As `_postgres_search`, through the FTS5 table (None: nothing to search for)."""
    parts = []
    for language in sorted(languages):
        match = fts5_query(search, language)
        if match is None:
            continue
        parts.append(
            text(
                "SELECT rowid AS translation_id, "
                "-bm25(knowledge_search, 4.0, 1.0) AS score, "
                f"snippet(knowledge_search, 1, '{MARK_START}', '{MARK_END}', '…', 16) "
                "AS snippet "
                f"FROM knowledge_search WHERE knowledge_search MATCH :match_{language} "
                f"AND language = :language_{language}"
            )
            .bindparams(**{f"match_{language}": match, f"language_{language}": language})
            .columns(translation_id=Integer, score=Float, snippet=String)
        )
    if not parts:
        return None
    found = (parts[0] if len(parts) == 1 else union_all(*parts)).subquery("found")
    t = KnowledgeArticleTranslation
    return stmt.join(found, found.c.translation_id == t.id), found.c.score, found.c.snippet


# --- writes --------------------------------------------------------------------------------

_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


async def _require_manage(context: Context) -> None:
    scope = await context.require_scope()
    if not scope.holds_anywhere(Permission.MANAGE_KNOWLEDGE):
        raise Forbidden(language=context.language, required=Permission.MANAGE_KNOWLEDGE.value)


async def _article_for_update(context: Context, raw_id: str) -> KnowledgeArticle:
    """The article behind a global ID, locked for the write; NOT_FOUND otherwise."""
    article_id = decode_id_or_none(raw_id, "KnowledgeArticle")
    article = (
        await context.session.scalar(
            select(KnowledgeArticle).where(KnowledgeArticle.id == article_id).with_for_update()
        )
        if article_id is not None
        else None
    )
    if article is None:
        raise UserError("NOT_FOUND", "id")
    return article


class TranslationText(Protocol):
    @property
    def language(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def body(self) -> str: ...


class ArticleText(Protocol):
    """What `upsertKnowledgeArticle` reads of its input."""

    @property
    def id(self) -> str | None: ...
    @property
    def slug(self) -> str: ...
    @property
    def category(self) -> str: ...
    @property
    def product_model_id(self) -> str | None: ...
    @property
    def translations(self) -> Sequence[TranslationText]: ...


class Publication(Protocol):
    """What `publishKnowledgeArticle` reads of its input."""

    @property
    def id(self) -> str: ...
    @property
    def published(self) -> bool: ...


async def upsert_article(context: Context, data: ArticleText) -> ArticleHit:
    await _require_manage(context)
    session = context.session
    slug = data.slug.strip()
    if not _SLUG.match(slug) or len(slug) > 120:
        raise UserError("ARTICLE_SLUG_INVALID", "slug")
    category = data.category.strip()
    if not category or len(category) > 50:
        raise UserError("ARTICLE_CATEGORY_REQUIRED", "category")
    product_model_id = None
    if data.product_model_id is not None:
        product_model_id = decode_id_or_none(str(data.product_model_id), "ProductModel")
        if product_model_id is None or not await session.scalar(
            select(ProductModel.id).where(ProductModel.id == product_model_id)
        ):
            raise UserError("UNKNOWN_PRODUCT_MODEL", "productModelId")
    texts: dict[str, tuple[str, str]] = {}
    for index, translation in enumerate(data.translations):
        field = ["translations", str(index)]
        language = translation.language.strip().lower()
        if language not in LANGUAGES:
            raise UserError("ARTICLE_LANGUAGE_UNSUPPORTED", [*field, "language"])
        if language in texts:
            raise UserError("DUPLICATE_LANGUAGE", [*field, "language"])
        title, body = translation.title.strip(), translation.body.strip()
        if not title or len(title) > 200:
            raise UserError("ARTICLE_TITLE_REQUIRED", [*field, "title"])
        if not body:
            raise UserError("ARTICLE_BODY_REQUIRED", [*field, "body"])
        texts[language] = (title, body)

    if data.id is not None:
        article = await _article_for_update(context, str(data.id))
        action = "knowledge_article.update"
    else:
        article = KnowledgeArticle(slug=slug, category=category, published=False)
        session.add(article)
        action = "knowledge_article.create"
    if await session.scalar(
        select(KnowledgeArticle.id).where(
            KnowledgeArticle.slug == slug,
            KnowledgeArticle.id != article.id if article.id is not None else literal(True),
        )
    ):
        raise UserError("ARTICLE_SLUG_TAKEN", "slug")
    article.slug = slug
    article.category = category
    article.product_model_id = product_model_id
    article.updated_at = clock.now()
    try:
        await session.flush()
    except IntegrityError as error:  # a concurrent writer took the slug
        raise UserError("ARTICLE_SLUG_TAKEN", "slug") from error

    existing = {
        t.language: t
        for t in await session.scalars(
            select(KnowledgeArticleTranslation).where(
                KnowledgeArticleTranslation.article_id == article.id
            )
        )
    }
    if FALLBACK not in existing and FALLBACK not in texts:
        raise UserError("ARTICLE_NEEDS_ENGLISH", "translations")
    now = clock.now()
    for language, (title, body) in texts.items():
        row = existing.get(language)
        if row is None:
            row = existing[language] = KnowledgeArticleTranslation(
                article_id=article.id, language=language
            )
            session.add(row)
        row.title, row.body, row.updated_at = title, body, now
    await session.flush()
    audit(
        context,
        action,
        "KnowledgeArticle",
        article.id,
        {"slug": slug, "languages": sorted(texts)},
    )
    served = pick_translation(list(existing.values()), await requested_language(context, None))
    assert served is not None
    return ArticleHit(article=article, translation=served)


async def publish_article(context: Context, data: Publication) -> ArticleHit:
    await _require_manage(context)
    session = context.session
    article = await _article_for_update(context, str(data.id))
    if article.published != data.published:
        article.published = data.published
        article.published_at = clock.now() if data.published else article.published_at
        article.updated_at = clock.now()
        await session.flush()
        audit(
            context,
            "knowledge_article.publish" if data.published else "knowledge_article.unpublish",
            "KnowledgeArticle",
            article.id,
            {"slug": article.slug},
        )
    translations = list(
        await session.scalars(
            select(KnowledgeArticleTranslation).where(
                KnowledgeArticleTranslation.article_id == article.id
            )
        )
    )
    translation = pick_translation(translations, await requested_language(context, None))
    assert translation is not None
    return ArticleHit(article=article, translation=translation)
