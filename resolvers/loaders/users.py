"""Loaders for people."""

from __future__ import annotations

from sqlalchemy import ColumnElement

from models import User
from resolvers.loaders.base import ByIdLoader
from resolvers.scoping import Scope


class UserByIdLoader(ByIdLoader[User]):
    """People the viewer may see (`Scope.users_clause`)."""

    model = User

    def scope_clause(self, scope: Scope) -> ColumnElement[bool]:
        return scope.users_clause()
