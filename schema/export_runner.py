"""The bulk export runner every worker runs: takes one pending export at a time (or one whose
worker stopped beating for `STALE_AFTER`: it is run again from the start), executes its
rewritten query page after page as its owner, through the same schema and extensions as a
request, and streams the nodes into a gzip-compressed JSONL file under `<var>/exports/`.

Memory stays constant: one page (at most 100 nodes) is held at a time. The pages are not
charged to the owner's rate-limit bucket (one export per person at a time is the limit), but
each page must fit in MAX_QUERY_COST like any query. Progress and cancellation are checked at
least every `HEARTBEAT` seconds; files are removed 7 days after the export finished."""

from __future__ import annotations

import gzip
import logging
import secrets
import time
from datetime import timedelta
from typing import Any

import orjson
from starlette.requests import Request

from auth.principal import Principal
from core import clock
from core.errors import CodedError, UserError
from core.polling import PollingLoop
from models import ExportStatus
from models.session import begin_writing
from resolvers import bulk_exports as records
from resolvers.context import AppServices, Context
from schema.bulk_exports import AFTER, FIRST_PAGE, PAGE_INFO, TOTAL, prepare_export
from schema.extensions import mask_unexpected
from schema.reading_export import ReadingExport, Unhandled
from schema.reading_export import plan as direct_plan
from schema.root import schema
from schema.webhook_payloads import background_services
from webhooks.events import WebhookEvent, emit

log = logging.getLogger("portal.exports")

STALE_AFTER = timedelta(minutes=2)
HEARTBEAT = 1.0
MAX_ERRORS = 20


def _request(export_id: int) -> Request:
    return Request(
        {
            "type": "http",
            "method": "POST",
            "path": f"/exports/{export_id}",
            "headers": [],
            "query_string": b"",
            "client": None,
        }
    )


class Cancelled(Exception):
    pass


class ExportRunner(PollingLoop):
    """Runs waiting bulk exports, one per pass; an export cut off by a stop is run again by a
    worker once its heartbeat is stale."""

    name = "bulk-exports"

    def __init__(self, services: AppServices) -> None:
        super().__init__()
        self.services = services
        self.page_services = background_services(services)

    async def run_pending(self) -> int:
        """Removes expired files, then runs one waiting export; returns how many ran (0/1)."""
        await self.purge()
        async with self.services.sessionmaker() as session:
            await begin_writing(session)
            claimed = await records.claim_export(session, clock.now(), STALE_AFTER)
            await session.commit()
        if claimed is None:
            return 0
        await self.run(*claimed)
        return 1

    async def run(self, export_id: int, user_id: int, query: str) -> None:
        settings = self.services.settings
        directory = records.export_dir(settings)
        directory.mkdir(parents=True, exist_ok=True)
        name = f"export-{export_id}-{secrets.token_hex(8)}.jsonl.gz"
        part = directory / (name + ".part")
        rows = 0
        errors: list[Any] = []
        try:
            prepared = prepare_export(schema._schema, query, settings)
            direct = direct_plan(schema, prepared)
            written = None
            if direct is not None:
                written = await self._write_direct(export_id, user_id, direct, part)
            if written is None:  # not a direct export, or refused: as the query says
                written = await self._write(export_id, user_id, prepared, part)
            rows, errors = written
        except UserError as error:
            await self._end(export_id, user_id, ExportStatus.FAILED, rows, [error.code], None)
        except Cancelled:
            log.info("bulk export %s cancelled after %s rows", export_id, rows)
        except Exception as error:
            log.exception("bulk export %s failed", export_id)
            await self._end(
                export_id, user_id, ExportStatus.FAILED, rows, [type(error).__name__], None
            )
        else:
            path = directory / name
            part.replace(path)
            ended = await self._end(export_id, user_id, ExportStatus.COMPLETED, rows, errors, path)
            if not ended:  # cancelled at the very end
                path.unlink(missing_ok=True)
        finally:
            part.unlink(missing_ok=True)

    async def _write(
        self, export_id: int, user_id: int, prepared: Any, part: Any
    ) -> tuple[int, list[Any]]:
        rows = 0
        total: int | None = None
        errors: list[Any] = []
        cursor: str | None = None
        beat = time.monotonic()
        context = self._context(export_id, user_id)
        with gzip.open(part, "wb", compresslevel=5) as out:
            while True:
                result = await schema.execute(
                    prepared.document,
                    variable_values={AFTER: cursor, FIRST_PAGE: cursor is None},
                    context_value=context,
                )
                await context.close_operation()
                page = (result.data or {}).get(prepared.root_key)
                if result.errors and len(errors) < MAX_ERRORS:
                    masked = mask_unexpected(result.errors, context.request_id, context.language)
                    errors += [e.message for e in masked][: MAX_ERRORS - len(errors)]
                if page is None:
                    raise UserError(errors[0] if errors else "BULK_EXPORT_PAGE_REFUSED")
                if cursor is None:
                    total = page.pop(TOTAL, None)
                info = page.pop(PAGE_INFO)
                container: Any = page
                for key in prepared.nodes_path[:-1]:
                    container = container[key]
                if len(prepared.nodes_path) == 1:
                    nodes = container[prepared.nodes_path[0]]
                else:
                    nodes = [edge[prepared.nodes_path[-1]] for edge in container]
                out.write(b"".join(orjson.dumps(node) + b"\n" for node in nodes))
                rows += len(nodes)
                last_page = not info["hasNextPage"]
                if last_page or time.monotonic() - beat >= HEARTBEAT:
                    beat = time.monotonic()
                    # The owner's scope is read again from here on (a membership taken away
                    # stops what the next pages show).
                    context = self._context(export_id, user_id)
                    await self._beat(export_id, rows, total, errors)
                if last_page:
                    return rows, errors
                cursor = info["endCursor"]

    async def _write_direct(
        self, export_id: int, user_id: int, direct: ReadingExport, part: Any
    ) -> tuple[int, list[Any]] | None:
        """The export of `meterReadings` without GraphQL execution (`schema.reading_export`):
        chunks of rows, the same heartbeats. None when its first chunk is refused (an ID of
        the wrong type in the filter, an owner who is gone: the GraphQL path then fails the
        export with the query's own error), or when a value is one it does not write (the
        GraphQL path writes the file again from the start)."""
        rows = 0
        errors: list[Any] = []
        after: Any = None
        beat = time.monotonic()
        context = self._context(export_id, user_id)
        with gzip.open(part, "wb", compresslevel=5) as out:
            try:
                total: int | None = await direct.total(context)
                lines, count, found, after = await direct.chunk(context, None)
            except (CodedError, Unhandled):
                return None
            finally:
                await context.close_operation()
            while True:
                out.write(lines)
                rows += count
                if len(errors) < MAX_ERRORS:
                    errors += found[: MAX_ERRORS - len(errors)]
                last_chunk = after is None
                if last_chunk or time.monotonic() - beat >= HEARTBEAT:
                    beat = time.monotonic()
                    context = self._context(export_id, user_id)  # the owner's scope read again
                    await self._beat(export_id, rows, total, errors)
                if last_chunk:
                    return rows, errors
                try:
                    lines, count, found, after = await direct.chunk(context, after)
                except CodedError as error:
                    raise UserError(str(error)) from None
                except Unhandled:
                    return None
                finally:
                    await context.close_operation()

    async def _beat(self, export_id: int, rows: int, total: int | None, errors: list[Any]) -> None:
        """Records progress; raises Cancelled when the export was cancelled meanwhile."""
        async with self.services.sessionmaker() as session:
            await begin_writing(session)
            going = await records.heartbeat(session, export_id, rows, total, errors)
            await session.commit()
        if not going:
            raise Cancelled

    def _context(self, export_id: int, user_id: int) -> Context:
        """The context of the export's pages: one per heartbeat, so the owner's scope is built
        once a second rather than once per page (each page still has its own session)."""
        return Context(
            services=self.page_services,
            request=_request(export_id),
            response=None,
            request_id=f"bulk-export-{export_id}",
            principal=Principal(user_id=user_id),
        )

    async def _end(
        self,
        export_id: int,
        user_id: int,
        status: ExportStatus,
        rows: int,
        errors: list[Any],
        path: Any,
    ) -> bool:
        async with self.services.sessionmaker() as session:
            await begin_writing(session)
            ended = await records.finish(
                session,
                export_id,
                status,
                rows=rows,
                errors=errors,
                file_name=path.name if path is not None else None,
                file_bytes=path.stat().st_size if path is not None else None,
            )
            if ended:
                await emit(
                    session,
                    WebhookEvent.BULK_EXPORT_FINISHED,
                    account_id=None,
                    subject_id=export_id,
                    owner_user_id=user_id,
                )
            await session.commit()
        return ended

    async def purge(self) -> None:
        """Removes the files of exports past their retention."""
        async with self.services.sessionmaker() as session:
            expired = await records.expired_files(session, clock.now())
            await session.commit()
        for export_id, name in expired:
            (records.export_dir(self.services.settings) / name).unlink(missing_ok=True)
            async with self.services.sessionmaker() as session:
                await begin_writing(session)
                await records.forget_file(session, export_id)
                await session.commit()

    # --- the background loop ------------------------------------------------------------------

    @property
    def poll_seconds(self) -> float:
        return self.services.settings.bulk_export_poll_seconds

    async def run_pass(self) -> bool:
        return await self.run_pending() > 0
