"""knowledge full-text search

SQLite: an FTS5 table over the translations (external content, kept in step by triggers), its
tokenizer folds case and diacritics; stemming for en/fr/it happens at query time (see
`resolvers/knowledge.py`). PostgreSQL: a GIN index on the tsvector of each translation, built
with the text search configuration of its language (english, french, italian).

Every object is named `knowledge_search*` / `ix_knowledge_search*`: the contract test and
`env.py` leave them out of the model comparison.

Revision ID: 7a1f0c9e2b31
Revises: cba2fc46e0d3
Create Date: 2026-11-24 05:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "7a1f0c9e2b31"
down_revision: str | None = "cba2fc46e0d3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Must stay identical to `resolvers.knowledge.PG_VECTOR` so the planner uses the index.
PG_VECTOR = (
    "to_tsvector(CASE language WHEN 'fr' THEN 'french'::regconfig "
    "WHEN 'it' THEN 'italian'::regconfig ELSE 'english'::regconfig END, "
    "coalesce(title, '') || ' ' || coalesce(body, ''))"
)

SQLITE_COLUMNS = "title, body, language, article_id"


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(
            "CREATE INDEX ix_knowledge_search_vector ON knowledge_article_translations "
            f"USING gin ({PG_VECTOR})"
        )
    elif dialect == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE knowledge_search USING fts5("
            "title, body, language UNINDEXED, article_id UNINDEXED, "
            "content='knowledge_article_translations', content_rowid='id', "
            "tokenize='unicode61 remove_diacritics 2')"
        )
        op.execute(
            "CREATE TRIGGER knowledge_search_ai AFTER INSERT ON knowledge_article_translations "
            f"BEGIN INSERT INTO knowledge_search(rowid, {SQLITE_COLUMNS}) "
            "VALUES (new.id, new.title, new.body, new.language, new.article_id); END"
        )
        op.execute(
            "CREATE TRIGGER knowledge_search_ad AFTER DELETE ON knowledge_article_translations "
            f"BEGIN INSERT INTO knowledge_search(knowledge_search, rowid, {SQLITE_COLUMNS}) "
            "VALUES ('delete', old.id, old.title, old.body, old.language, old.article_id); END"
        )
        op.execute(
            "CREATE TRIGGER knowledge_search_au AFTER UPDATE ON knowledge_article_translations "
            f"BEGIN INSERT INTO knowledge_search(knowledge_search, rowid, {SQLITE_COLUMNS}) "
            "VALUES ('delete', old.id, old.title, old.body, old.language, old.article_id); "
            f"INSERT INTO knowledge_search(rowid, {SQLITE_COLUMNS}) "
            "VALUES (new.id, new.title, new.body, new.language, new.article_id); END"
        )
        op.execute("INSERT INTO knowledge_search(knowledge_search) VALUES ('rebuild')")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_knowledge_search_vector")
    elif dialect == "sqlite":
        for trigger in ("knowledge_search_ai", "knowledge_search_ad", "knowledge_search_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS knowledge_search")
