"""Bulk exports: a query over exactly one top-level connection, run in the background over all
its pages as the person who started it (same scope and field permissions as the query would
have), into a gzip-compressed JSONL file: one node per line, nested objects inline.

The query is rewritten once per export (`prepare_export`): its connection gets `first: 100`
and `after: $bulkExportAfter_` (keyset cursors, never offsets) and the selections the runner
needs (`pageInfo`, and `totalCount` on the first page for the progress)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

import strawberry
from graphql import (
    ArgumentNode,
    BooleanValueNode,
    DirectiveNode,
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    IntValueNode,
    NamedTypeNode,
    NameNode,
    NonNullTypeNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableDefinitionNode,
    VariableNode,
    get_named_type,
    parse,
    print_ast,
    validate,
)
from graphql import OperationType as GraphQLOperationType
from strawberry import relay

from auth.requirements import PERSON
from core.errors import UserError
from models import BulkExport as BulkExportRow
from models import ExportStatus
from resolvers.bulk_exports import (
    cancel_bulk_export,
    download_url,
    exporting_person,
    own_export,
    start_bulk_export,
)
from resolvers.loaders.bulk_exports import BulkExportByIdLoader
from resolvers.pagination import MAX_PAGE_SIZE
from schema.audiences import callers_schema
from schema.context import Info
from schema.enums import described_enum
from schema.mutations import Payload, transactional
from schema.node import LoadedNode
from schema.permissions import guard, mutation, shown_to
from schema.stored_queries import check_stored_query
from settings import Settings

MAX_QUERY_LENGTH = 10_000
AFTER = "bulkExportAfter_"
FIRST_PAGE = "bulkExportFirstPage_"
PAGE_INFO = "bulkExportPageInfo_"
TOTAL = "bulkExportTotal_"


@dataclass(frozen=True)
class PreparedExport:
    """The rewritten document, where its connection is in the result, and where its nodes are
    in the connection (`("nodes",)` or `("edges", "node")`, by response keys)."""

    document: str
    root_key: str
    nodes_path: tuple[str, ...]


def _name(value: str) -> NameNode:
    return NameNode(value=value)


def _key(field: FieldNode) -> str:
    return (field.alias or field.name).value


def _fields(selection_set: SelectionSetNode | None) -> list[FieldNode]:
    if selection_set is None:
        return []
    return [s for s in selection_set.selections if isinstance(s, FieldNode)]


def prepare_export(schema: GraphQLSchema, text: str, settings: Settings) -> PreparedExport:
    """The export's document, or a UserError on `query`: VALUE_REQUIRED, VALUE_TOO_LONG,
    BULK_EXPORT_QUERY_INVALID, BULK_EXPORT_NOT_A_QUERY, BULK_EXPORT_QUERY_VARIABLES,
    BULK_EXPORT_ONE_CONNECTION (not exactly one top-level connection),
    BULK_EXPORT_PAGING_ARGUMENTS (`last`/`before`: exports read forwards),
    BULK_EXPORT_NO_NODES (neither `nodes` nor `edges { node }` selected),
    BULK_EXPORT_QUERY_TOO_COSTLY (a page of 100 nodes above MAX_QUERY_COST)."""
    query = (text or "").strip()
    if not query:
        raise UserError("VALUE_REQUIRED", "query")
    if len(query) > MAX_QUERY_LENGTH:
        raise UserError("VALUE_TOO_LONG", "query", max=MAX_QUERY_LENGTH)
    try:
        document = parse(query, max_tokens=settings.max_tokens)
    except GraphQLError as error:
        raise UserError("BULK_EXPORT_QUERY_INVALID", "query", detail=error.message[:200]) from None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) != 1 or operations[0].operation != GraphQLOperationType.QUERY:
        raise UserError("BULK_EXPORT_NOT_A_QUERY", "query")
    operation = operations[0]
    if operation.variable_definitions:
        raise UserError("BULK_EXPORT_QUERY_VARIABLES", "query")
    errors = validate(schema, document)
    if errors:
        raise UserError("BULK_EXPORT_QUERY_INVALID", "query", detail=errors[0].message[:200])
    selections = operation.selection_set.selections
    roots = [
        s for s in selections if not (isinstance(s, FieldNode) and s.name.value == "__typename")
    ]
    if len(roots) != 1 or not isinstance(roots[0], FieldNode):
        raise UserError("BULK_EXPORT_ONE_CONNECTION", "query")
    root = roots[0]
    query_type = schema.query_type
    assert query_type is not None
    returned = get_named_type(query_type.fields[root.name.value].type)
    if not isinstance(returned, GraphQLObjectType) or not {"pageInfo", "edges"} <= set(
        returned.fields
    ):
        raise UserError("BULK_EXPORT_ONE_CONNECTION", "query")
    arguments = [a for a in root.arguments or () if a.name.value not in {"first", "after"}]
    if any(a.name.value in {"last", "before"} for a in arguments):
        raise UserError("BULK_EXPORT_PAGING_ARGUMENTS", "query")
    nodes_path: tuple[str, ...] | None = None
    for field in _fields(root.selection_set):
        if field.name.value == "nodes":
            nodes_path = (_key(field),)
            break
        if field.name.value == "edges":
            node = next((f for f in _fields(field.selection_set) if f.name.value == "node"), None)
            if node is not None:
                nodes_path = (_key(field), _key(node))
                break
    if nodes_path is None:
        raise UserError("BULK_EXPORT_NO_NODES", "query")

    page_info = FieldNode(
        alias=_name(PAGE_INFO),
        name=_name("pageInfo"),
        arguments=(),
        directives=(),
        selection_set=SelectionSetNode(
            selections=(
                FieldNode(name=_name("hasNextPage"), arguments=(), directives=()),
                FieldNode(name=_name("endCursor"), arguments=(), directives=()),
            )
        ),
    )
    total = FieldNode(
        alias=_name(TOTAL),
        name=_name("totalCount"),
        arguments=(),
        directives=(
            DirectiveNode(
                name=_name("include"),
                arguments=(
                    ArgumentNode(name=_name("if"), value=VariableNode(name=_name(FIRST_PAGE))),
                ),
            ),
        ),
    )
    assert root.selection_set is not None
    paged = FieldNode(
        alias=root.alias,
        name=root.name,
        arguments=(
            *arguments,
            ArgumentNode(name=_name("first"), value=IntValueNode(value=str(MAX_PAGE_SIZE))),
            ArgumentNode(name=_name("after"), value=VariableNode(name=_name(AFTER))),
        ),
        directives=root.directives,
        selection_set=SelectionSetNode(
            selections=(*root.selection_set.selections, page_info, total)
        ),
    )
    rewritten = OperationDefinitionNode(
        operation=GraphQLOperationType.QUERY,
        name=operation.name,
        variable_definitions=(
            VariableDefinitionNode(
                variable=VariableNode(name=_name(AFTER)),
                type=NamedTypeNode(name=_name("String")),
                directives=(),
            ),
            VariableDefinitionNode(
                variable=VariableNode(name=_name(FIRST_PAGE)),
                type=NonNullTypeNode(type=NamedTypeNode(name=_name("Boolean"))),
                default_value=BooleanValueNode(value=False),
                directives=(),
            ),
        ),
        directives=operation.directives,
        selection_set=SelectionSetNode(selections=(paged,)),
    )
    others = [d for d in document.definitions if d is not operation]
    final = DocumentNode(definitions=(rewritten, *others))
    # A page as it will run (100 nodes, with the total): limits and cost as for a request.
    check_stored_query(schema, final, settings, {FIRST_PAGE: True}, "BULK_EXPORT")
    return PreparedExport(print_ast(final), _key(root), nodes_path)


ExportStatusEnum = described_enum(
    ExportStatus,
    name="BulkExportStatus",
    description="Where a bulk export stands.",
    values={
        ExportStatus.PENDING: "Waiting for a worker.",
        ExportStatus.RUNNING: "Pages are being written.",
        ExportStatus.COMPLETED: "Every page was written; the file can be downloaded (7 days).",
        ExportStatus.FAILED: "Stopped; `errors` says why.",
        ExportStatus.CANCELLED: "Cancelled by its owner; no file.",
    },
)


@strawberry.type(
    description="A bulk export: a query over one connection, run over all its pages in the "
    "background as the person who started it, into a gzip-compressed JSONL file (one node per "
    "line, nested objects inline)."
)
class BulkExport(LoadedNode):
    id: relay.NodeID[int]
    status: ExportStatusEnum = strawberry.field(description="Where it stands.")
    query: str = strawberry.field(description="The query, as given.")
    rows_written: int = strawberry.field(description="Nodes written so far.")
    total_rows: int | None = strawberry.field(
        description="How many nodes the connection held when the export began (its "
        "`totalCount`), once known."
    )
    errors: list[str] = strawberry.field(
        description="Why it failed, or fields refused on the way (the first 20; a refused "
        "field is null in the file, as in a query's result)."
    )
    file_bytes: int | None = strawberry.field(description="Size of the compressed file.")
    created_at: datetime = strawberry.field(description="When it was started.")
    started_at: datetime | None = strawberry.field(description="When a worker took it up.")
    finished_at: datetime | None = strawberry.field(description="When it ended.")
    expires_at: datetime | None = strawberry.field(
        description="When its file is removed (7 days after it completed)."
    )
    row: strawberry.Private[BulkExportRow]

    by_id_loader = BulkExportByIdLoader

    @classmethod
    def from_row(cls, row: BulkExportRow) -> BulkExport:
        return cls(
            id=row.id,
            status=row.status,
            query=row.query,
            rows_written=row.rows_written,
            total_rows=row.total_rows,
            errors=[str(e) for e in row.errors or []],
            file_bytes=row.file_bytes,
            created_at=row.created_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
            expires_at=row.expires_at,
            row=row,
        )

    @strawberry.field(description="Share of the rows written, from 0 to 1 (null until known).")
    def progress(self) -> float | None:
        if self.row.status is ExportStatus.COMPLETED:
            return 1.0
        if not self.row.total_rows:
            return None
        return min(1.0, self.row.rows_written / self.row.total_rows)

    @strawberry.field(
        description="Where to download the file (GET, no token needed): signed, valid for one "
        "hour from this read; null unless COMPLETED and not yet removed."
    )
    def url(self, info: Info) -> str | None:
        return download_url(info.context.settings, self.row)


@strawberry.input(description="What to export.")
class StartBulkExportInput:
    query: str = strawberry.field(
        description="A query with exactly one top-level connection (`devices`, `tickets`, "
        "`meterReadings`, `accounts`, `sites`, ...) selecting `nodes { ... }` or `edges { node { ... } }`, "
        "without variables and without `first`/`after` (the export pages through everything) "
        'nor `last`/`before`. Example: `{ devices(filter: {search: "MX"}) { nodes { '
        "serialNumber status site { name } } } }`."
    )


@strawberry.input(description="Names one bulk export.")
class BulkExportIdInput:
    id: strawberry.ID = strawberry.field(description="The export.")


@strawberry.type(description="Result of `startBulkExport`.")
class StartBulkExportPayload(Payload):
    bulk_export: BulkExport | None = strawberry.field(
        default=None, description="The export, PENDING until a worker takes it up."
    )


@strawberry.type(description="Result of `cancelBulkExport`.")
class CancelBulkExportPayload(Payload):
    bulk_export: BulkExport | None = strawberry.field(default=None, description="The export.")


@strawberry.type
class BulkExportQuery:
    @strawberry.field(
        **shown_to(PERSON, "One of the viewer's bulk exports (null for anyone else's)."),
        extensions=guard(PERSON),
    )
    async def bulk_export(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The export's ID.")],
    ) -> BulkExport | None:
        row = await own_export(info.context, str(id))
        return BulkExport.from_row(row) if row is not None else None


@strawberry.type
class BulkExportMutation:
    @mutation(
        PERSON,
        description="Starts a bulk export of a query, run in the background as the viewer "
        "(one pending or running export per person: BULK_EXPORT_RUNNING; people only, not "
        "machine clients).",
    )
    async def start_bulk_export(
        self,
        info: Info,
        input: Annotated[StartBulkExportInput, strawberry.argument(description="The query.")],
    ) -> StartBulkExportPayload:
        async def work() -> StartBulkExportPayload:
            await exporting_person(info.context)  # people only, before the query is read
            caller = (await callers_schema(info))._schema
            prepare_export(caller, input.query, info.context.settings)
            row = await start_bulk_export(info.context, input.query.strip())
            return StartBulkExportPayload(bulk_export=BulkExport.from_row(row))

        return await transactional(info, StartBulkExportPayload, work)

    @mutation(
        PERSON,
        description="Cancels one of the viewer's pending or running exports (no file is kept).",
    )
    async def cancel_bulk_export(
        self,
        info: Info,
        input: Annotated[BulkExportIdInput, strawberry.argument(description="The export.")],
    ) -> CancelBulkExportPayload:
        async def work() -> CancelBulkExportPayload:
            row = await cancel_bulk_export(info.context, str(input.id))
            return CancelBulkExportPayload(bulk_export=BulkExport.from_row(row))

        return await transactional(info, CancelBulkExportPayload, work)
