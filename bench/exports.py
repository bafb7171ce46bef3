"""Bulk exports: rows per second and peak memory of one export run by the export runner, in
process, on the demo fleet (`--scale large` by default: 20,000 devices).

    DATABASE_URL=... .venv/bin/python bench/exports.py [--scale small|large] [--user EMAIL]
        [--query '{ devices { nodes { ... } } }'] [--repeat N] [--readings N [--graphql]]

`--readings N`: exports the newest N meter readings or a few more (`meterReadings` filtered
from the day where the newest N begin), selecting READINGS_SELECTION unless `--query` gives
the node selection; `--graphql` runs them through GraphQL execution (the direct path off), for
comparison. The export writes its row and its file: on PostgreSQL, run it on a copy of the
bench database (`createdb -T bench <copy>`), never on `bench` itself.

Migrates and seeds the fleet when the database is empty (SQLite default: var/bench-exports.sqlite3
under PORTAL_VAR_DIR). Memory: the Python heap's peak during the export (tracemalloc) and the
process's peak resident set (ru_maxrss) before and after. The export's row and file are removed
at the end."""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import secrets
import sys
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path

from sqlalchemy import delete, func, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402
from cli import migrate  # noqa: E402
from core import clock  # noqa: E402
from demo.fleet import is_empty, seed_demo  # noqa: E402
from models import BulkExport, ExportStatus, MeterReading, User  # noqa: E402
from models.session import create_engine, create_sessionmaker  # noqa: E402
from resolvers.bulk_exports import export_dir  # noqa: E402
from schema import export_runner  # noqa: E402
from schema.export_runner import ExportRunner  # noqa: E402
from settings import Settings  # noqa: E402

READINGS_SELECTION = (
    "id meter readingDate value source flags createdAt "
    "device { serialNumber site { name } model { name } }"
)
DEFAULT_QUERY = (
    "{ devices { nodes { id serialNumber status installedOn "
    "site { name city } model { name } account { name } } } }"
)


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", choices=["small", "large"], default="large")
    parser.add_argument("--user", default="agent@vendor.example")
    parser.add_argument("--query", default=DEFAULT_QUERY)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--readings", type=int, help="export the newest N meter readings")
    parser.add_argument(
        "--graphql", action="store_true", help="meter readings through GraphQL execution"
    )
    parser.add_argument(
        "--trace", action="store_true", help="measure the Python heap peak (tracemalloc, slower)"
    )
    args = parser.parse_args()

    base = Settings.from_env()
    if "DATABASE_URL" not in os.environ:
        base = replace(
            base, database_url=f"sqlite+aiosqlite:///{base.var_dir / 'bench-exports.sqlite3'}"
        )
    settings = replace(base, max_query_cost=100_000)
    await asyncio.to_thread(migrate, settings)
    engine = create_engine(replace(settings, database_statement_timeout_seconds=3600.0))
    if await is_empty(engine):
        print(f"loading the {args.scale} fleet ...", flush=True)
        started = time.perf_counter()
        await seed_demo(engine, scale=args.scale, progress=False)
        print(f"loaded in {time.perf_counter() - started:.0f} s", flush=True)
    sessionmaker = create_sessionmaker(engine)
    app = create_app(settings, sessionmaker=sessionmaker)
    runner = ExportRunner(app.state.services)
    async with sessionmaker() as session:
        user_id = await session.scalar(select(User.id).where(User.email == args.user))
    assert user_id is not None, args.user

    query = args.query
    if args.readings:
        async with sessionmaker() as session:
            per_day = (
                select(
                    MeterReading.reading_date.label("day"),
                    func.sum(func.count())
                    .over(order_by=MeterReading.reading_date.desc())
                    .label("newer"),
                )
                .group_by(MeterReading.reading_date)
                .subquery()
            )
            since = await session.scalar(
                select(func.max(per_day.c.day)).where(per_day.c.newer >= args.readings)
            )
        selection = READINGS_SELECTION if args.query == DEFAULT_QUERY else args.query
        query = f'{{ meterReadings(filter: {{from: "{since}"}}) {{ nodes {{ {selection} }} }} }}'
        if args.graphql:
            export_runner.direct_plan = lambda *_: None  # type: ignore[assignment]
    print(f"{settings.database_url.split(':')[0]}, {args.user}, query: {query}")
    for _ in range(args.repeat):
        async with sessionmaker() as session:
            export = BulkExport(
                user_id=user_id,
                query=query,
                status=ExportStatus.PENDING,
                rows_written=0,
                errors=[],
                download_key=secrets.token_hex(32),
                created_at=clock.now(),
            )
            session.add(export)
            await session.commit()
            export_id = export.id
        rss_before = _rss_mb()
        if args.trace:
            tracemalloc.start()
        started, cpu = time.perf_counter(), time.process_time()
        await runner.run_pending()
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        peak = tracemalloc.get_traced_memory()[1] if args.trace else 0
        tracemalloc.stop()
        async with sessionmaker() as session:
            done = await session.get(BulkExport, export_id)
            assert done is not None
            print(
                f"  {done.status.value}: {done.rows_written} rows in {elapsed:.1f} s "
                f"({done.rows_written / elapsed:,.0f} rows/s, CPU {cpu:.1f} s), "
                f"file {(done.file_bytes or 0) / 1e6:.1f} MB, "
                f"Python heap peak {peak / 1e6:.1f} MB (with --trace), max RSS {rss_before:.0f} -> "
                f"{_rss_mb():.0f} MB, errors {done.errors[:2]}, load {_load()}"
            )
            if done.file_name:
                (export_dir(settings) / done.file_name).unlink(missing_ok=True)
            await session.execute(delete(BulkExport).where(BulkExport.id == export_id))
            await session.commit()
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
