"""The write half of an optimistic-locking update: one UPDATE guarded by the version read, the
version bumped, and the change audited from → to."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import update

from resolvers.audit import audit
from schema.errors import UserError

if TYPE_CHECKING:
    from schema.context import Context

RowT = TypeVar("RowT")


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
