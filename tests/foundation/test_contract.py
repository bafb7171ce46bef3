"""The schema is a contract: the committed SDL matches the code, and the models match the
migrations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import AsyncEngine

import models
from models.base import SEARCH_OBJECT_PREFIXES
from schema.export import AUDIENCES_DIR, FULL, sdl_files
from schema.root import schema

ROOT = Path(__file__).resolve().parents[2]


def test_committed_sdl_matches_the_code() -> None:
    # given: the full schema and one per audience, as committed
    folder = ROOT / "schema"
    committed = {
        str(path.relative_to(folder)): path.read_text()
        for path in [folder / FULL, *(folder / AUDIENCES_DIR).glob("*.graphql")]
    }
    # when
    exported = sdl_files()
    # then
    assert sorted(committed) == sorted(exported), "run `make schema` and commit schema/"
    stale = [path for path, text in exported.items() if committed[path] != text]
    assert stale == [], "run `make schema` and commit schema/"
    assert exported[FULL] == schema.as_str() + "\n"


def _not_search_object(name: str | None, type_: str, parent_names: Any) -> bool:
    # Search objects (FTS5 tables and shadow tables, tsvector and trigram indexes) have no model.
    return not (name or "").startswith(SEARCH_OBJECT_PREFIXES)


async def test_migrations_match_the_models(engine: AsyncEngine) -> None:
    # given
    def diff(sync_conn: Any) -> list[Any]:
        context = MigrationContext.configure(
            sync_conn, opts={"compare_type": True, "include_name": _not_search_object}
        )
        return compare_metadata(context, models.Base.metadata)

    # when
    async with engine.connect() as conn:
        differences = await conn.run_sync(diff)
    # then
    assert differences == [], differences
