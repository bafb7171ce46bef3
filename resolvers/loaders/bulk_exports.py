"""Bulk exports by id: a person's own only."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, false

from models import BulkExport
from resolvers.loaders.base import ByIdLoader

if TYPE_CHECKING:
    from resolvers.scoping import Scope


class BulkExportByIdLoader(ByIdLoader[BulkExport]):
    model = BulkExport

    def scope_clause(self, scope: Scope) -> ColumnElement[bool]:
        if scope.user_id is None:
            return false()
        return BulkExport.user_id == scope.user_id
