"""Command line: `python -m cli migrate | seed-demo [--scale small|large] | serve |
messages-template | export-schema | send-reading-reminders`."""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import os
import re
import sys
import time
from dataclasses import replace

import uvicorn
from alembic import command
from alembic.config import Config
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

from demo.fleet import is_empty, seed_demo
from demo.usage import USAGE_GENERATORS
from models.session import create_engine, create_sessionmaker
from resolvers.reading_reminders import run_once as run_reading_reminders
from resolvers.silent_replenishment import run_once as order_for_silent_devices
from settings import ROOT, Settings, get_settings


def migrate(settings: Settings) -> None:
    """Applies every Alembic migration (creates the SQLite file if needed)."""

    if settings.is_sqlite:
        settings.var_dir.mkdir(parents=True, exist_ok=True)
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["database_url"] = settings.database_url
    command.upgrade(config, "head")


# Loading the large fleet sends bulk statements no request ever sends.
SEED_STATEMENT_TIMEOUT_SECONDS = 3600.0


async def _seed(
    settings: Settings, scale: str, only_if_empty: bool, usage: str = "independent"
) -> None:
    engine = create_engine(
        replace(settings, database_statement_timeout_seconds=SEED_STATEMENT_TIMEOUT_SECONDS)
    )
    try:
        if only_if_empty and not await is_empty(engine):
            print("database already has data; demo data not loaded")
            return
        started = time.perf_counter()
        summary = await seed_demo(
            engine, scale=scale, progress=sys.stderr.isatty() or scale == "large", usage=usage
        )
        took = time.perf_counter() - started
        counts = ", ".join(f"{k}={v}" for k, v in summary.counts.items())
        print(f"demo data ({scale}) loaded in {took:.1f}s: {counts}")
    finally:
        await engine.dispose()


async def _send_reading_reminders(settings: Settings) -> None:
    engine = create_engine(settings)
    try:
        sent = await run_reading_reminders(create_sessionmaker(engine), settings)
        print(f"reading reminders queued: {sent}")
    finally:
        await engine.dispose()


async def _order_for_silent_devices(settings: Settings) -> None:
    engine = create_engine(settings)
    try:
        raised = await order_for_silent_devices(create_sessionmaker(engine))
        print(f"replenishment orders raised for silent devices: {raised}")
    finally:
        await engine.dispose()


def messages_template() -> None:
    """Writes locale/portal.pot from the English catalog (its message codes, the English text
    as a comment for translators); `make messages` then updates every language from it. The
    file is left alone when nothing changed, so its date does not churn."""

    locale = ROOT / "locale"
    with (locale / "en" / "LC_MESSAGES" / "portal.po").open("rb") as f:
        english = read_po(f)
    template = Catalog(
        domain="portal",
        project="selfservice-portal-api",
        fuzzy=False,
        header_comment="# Message codes of the self-service portal, written by `make messages`.\n#",
    )
    for message in english:
        if message.id:
            template.add(message.id, auto_comments=str(message.string).splitlines())
    path = locale / "portal.pot"
    written = io.BytesIO()
    write_po(written, template, width=100)
    dated = re.compile(rb'^"POT-Creation-Date: .*$', re.MULTILINE)
    if path.exists() and dated.sub(b"", path.read_bytes()) == dated.sub(b"", written.getvalue()):
        return
    path.write_bytes(written.getvalue())


def export_schema() -> None:
    """Writes the full SDL and one per audience under schema/ (stale audience files removed)."""
    from schema.export import AUDIENCES_DIR, sdl_files  # builds every audience's schema

    folder = ROOT / "schema"
    files = sdl_files()
    for stale in (folder / AUDIENCES_DIR).glob("*.graphql"):
        if f"{AUDIENCES_DIR}/{stale.name}" not in files:
            stale.unlink()
    (folder / AUDIENCES_DIR).mkdir(exist_ok=True)
    for path, text in files.items():
        (folder / path).write_text(text)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="portal", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply database migrations")
    seed = commands.add_parser("seed-demo", help="load the demo data")
    seed.add_argument("--scale", choices=["small", "large"], default="small")
    seed.add_argument("--if-empty", action="store_true", help="only when the database is empty")
    seed.add_argument(
        "--usage",
        choices=USAGE_GENERATORS,
        default="independent",
        help="generator of the pages printed between readings (demo/usage.py)",
    )
    serve = commands.add_parser("serve", help="serve the API with uvicorn")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument(
        "--proxy-headers",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="trust X-Forwarded-For / X-Forwarded-Proto from --forwarded-allow-ips",
    )
    serve.add_argument(
        "--forwarded-allow-ips",
        default=os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
        help="comma-separated addresses (or *) of the reverse proxies whose forwarded headers "
        "are trusted (default: $FORWARDED_ALLOW_IPS or 127.0.0.1)",
    )
    commands.add_parser("messages-template", help="write locale/portal.pot from English")
    commands.add_parser(
        "export-schema", help="write schema/schema.graphql and one SDL per audience"
    )
    commands.add_parser(
        "send-reading-reminders",
        help="queue the reading-due reminders due now (once per person and period)",
    )
    commands.add_parser(
        "order-for-silent-devices",
        help="raise the toner orders due for e-Maintenance devices whose reports are overdue",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)

    if args.command == "messages-template":
        messages_template()
        return
    if args.command == "export-schema":
        export_schema()
        return
    settings = get_settings()
    if args.command == "migrate":
        migrate(settings)
        print(f"migrated {settings.database_url.split('@')[-1]}")
    elif args.command == "seed-demo":
        asyncio.run(_seed(settings, args.scale, args.if_empty, args.usage))
    elif args.command == "send-reading-reminders":
        asyncio.run(_send_reading_reminders(settings))
    elif args.command == "order-for-silent-devices":
        asyncio.run(_order_for_silent_devices(settings))
    elif args.command == "serve":
        _fresh_metrics_dir()
        uvicorn.run(
            "app:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            proxy_headers=args.proxy_headers,
            forwarded_allow_ips=args.forwarded_allow_ips,
            # SIGTERM: requests in flight get this long to finish (after SHUTDOWN_DELAY_SECONDS
            # of draining, lifecycle.py); open WebSockets are closed with 1012 at once.
            timeout_graceful_shutdown=max(1, round(settings.shutdown_grace_seconds)),
            log_level="info",
        )


def _fresh_metrics_dir() -> None:
    """prometheus-client's multiprocess mode: the workers' files of a previous run would be
    counted again, so the directory is emptied before the workers start."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        if name.endswith(".db"):
            os.remove(os.path.join(directory, name))


if __name__ == "__main__":
    main()
