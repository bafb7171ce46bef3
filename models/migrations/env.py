"""Alembic environment: runs migrations on the async engine the app uses."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from alembic import context
from sqlalchemy.engine import Connection

import models
from models.base import SEARCH_OBJECT_PREFIXES, UTCDateTime
from models.session import create_engine
from settings import Settings

target_metadata = models.Base.metadata


def _settings() -> Settings:
    url = context.config.attributes.get("database_url")
    settings = Settings.from_env()
    if url:
        from dataclasses import replace

        settings = replace(settings, database_url=url)
    return settings


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    # Migrations must not import app code that may change later: UTCDateTime is a plain
    # timezone-aware DateTime in the database.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Search objects (FTS5 tables and their shadow tables, expression indexes) are created by
    hand in their migration and have no model: leave them out of autogenerate."""
    return not (name or "").startswith(SEARCH_OBJECT_PREFIXES)


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=_render_item,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_engine(_settings())
    async with engine.connect() as connection:
        await connection.run_sync(_configure)
        await connection.commit()
    await engine.dispose()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
    else:
        asyncio.run(_run_async())


if context.is_offline_mode():
    context.configure(url=_settings().database_url, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
