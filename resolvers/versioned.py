"""Optimistic-locking updates: the row read within the viewer's scope and checked (found,
permitted, still at the version the client saw), then one UPDATE guarded by that version, the
version bumped, and the change audited from → to."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import ColumnElement, select, update

from core.errors import Forbidden, UserError
from core.ids import decode_id_or_none
from resolvers.audit import audit

if TYPE_CHECKING:
    from auth.policy import Permission
    from resolvers.context import Context

RowT = TypeVar("RowT")


async def row_to_update(
    context: Context,
    model: type[RowT],
    raw_id: str,
    visible: ColumnElement[bool],
    granted: Callable[[RowT], frozenset[Permission]],
    permission: Permission,
    version: int,
) -> RowT:
    """The row behind a global ID of `model`'s type, if `visible` to the viewer. Raises
    `UserError` NOT_FOUND (an invisible row answers like a missing one), `Forbidden` without
    `permission` in `granted(row)`, `UserError` STALE_VERSION when it is no longer at `version`."""
    table: Any = model
    pk = decode_id_or_none(raw_id, table.__name__)
    row = None
    if pk is not None:
        row = await context.session.scalar(select(table).where(table.id == pk, visible))
    if row is None:
        raise UserError("NOT_FOUND", "id")
    if permission not in granted(row):
        raise Forbidden(language=context.language, required=permission.value)
    if row.version != version:
        raise UserError("STALE_VERSION", "version")
    return row  # type: ignore[no-any-return]


async def write_versioned(
    context: Context,
    row: RowT,
    version: int,
    changes: dict[str, Any],
    action: str,
    *,
    field_name: Callable[[str], str] = str,
) -> RowT:
    """Writes `changes` (attribute → new value) to `row` if it is still at `version`; no
    changes, no write. Raises `UserError` STALE_VERSION when someone else changed the row
    between our read and our write. The audit entry names fields by `field_name(attribute)`."""
    if not changes:
        return row
    current: Any = row  # any model with `id` and `version` columns
    model = type(current)
    before = {name: getattr(row, name) for name in changes}
    updated = await context.session.scalar(
        update(model)
        .where(model.id == current.id, model.version == version)
        .values(**changes, version=model.version + 1)
        .returning(model)
        .execution_options(populate_existing=True, synchronize_session=False)
    )
    if updated is None:  # changed by someone else between our read and our write
        raise UserError("STALE_VERSION", "version")
    audit(
        context,
        action,
        model.__name__,
        current.id,
        {field_name(name): {"from": before[name], "to": value} for name, value in changes.items()},
    )
    return updated  # type: ignore[no-any-return]
