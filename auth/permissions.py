"""Strawberry permission classes that read `auth.policy`; fields declare what they need.

A type whose objects carry their own grants (a device, an account) exposes
`granted(scope) -> frozenset[Permission]`; other fields are checked against what the viewer
holds anywhere. A denial is a FORBIDDEN error on that field only, the rest of the response intact.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import strawberry
from strawberry.extensions.field_extension import FieldExtension
from strawberry.permission import BasePermission, PermissionExtension

from auth.policy import Permission, roles_granting
from schema.context import Info
from schema.errors import Forbidden


class Requires(BasePermission):
    """Grants the field when the viewer holds `permission` on the object (or anywhere, for
    root fields)."""

    def __init__(self, permission: Permission) -> None:
        self.permission = Permission(permission)  # an unknown name fails at import time

    async def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        context = info.context
        scope = await context.require_scope()
        granted: Callable[[Any], frozenset[Permission]] | None = getattr(source, "granted", None)
        allowed = (
            self.permission in granted(scope)
            if granted is not None
            else scope.holds_anywhere(self.permission)
        )
        if not allowed:
            raise Forbidden(language=context.language, required=self.permission.value)
        return True


class SignedIn(BasePermission):
    """Any signed-in person or machine client."""

    async def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        await info.context.require_scope()
        return True


def requirement_text(permission: Permission) -> str:
    return f"Requires: {permission.value} ({', '.join(roles_granting(permission)) or 'nobody'})."


def guard(permission: Permission) -> list[FieldExtension]:
    return [PermissionExtension([Requires(permission)], use_directives=False)]


def signed_in() -> list[FieldExtension]:
    return [PermissionExtension([SignedIn()], use_directives=False)]


def permission_field(
    permission: Permission, *, description: str, resolver: Any = None, **kwargs: Any
) -> Any:
    """A field guarded by one permission; its description says what it requires."""
    text = f"{description} {requirement_text(permission)}"
    if resolver is not None:
        return strawberry.field(
            resolver=resolver, description=text, extensions=guard(permission), **kwargs
        )
    return strawberry.field(description=text, extensions=guard(permission), **kwargs)
