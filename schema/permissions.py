"""Strawberry permission classes that read `auth.policy` (where the rules live); fields declare
what they need.

A type whose objects carry their own grants (a device, an account) exposes
`granted(scope) -> frozenset[Permission]`; other fields are checked against what the viewer
holds anywhere. A denial is a FORBIDDEN error on that field only, the rest of the response intact.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import strawberry
from strawberry.extensions.field_extension import FieldExtension
from strawberry.permission import BasePermission, PermissionExtension
from strawberry.types.field import StrawberryField

from auth.policy import Permission, roles_granting
from core.errors import Forbidden
from schema.context import Info


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
    """A field guarded by one permission; its description says what it requires.

    A denial must leave the rest of the response intact, so the field is always nullable in the
    schema: a resolver's return type gets `| None` if it lacks it."""
    text = f"{description} {requirement_text(permission)}"
    if resolver is not None:
        return strawberry.field(
            resolver=_nullable(resolver), description=text, extensions=guard(permission), **kwargs
        )
    field = strawberry.field(description=text, extensions=guard(permission), **kwargs)
    field.__class__ = _GuardedField  # same layout; only `__call__` (decorator use) differs
    return field


class _GuardedField(StrawberryField):
    def __call__(self, resolver: Any) -> Any:
        return super().__call__(_nullable(resolver))


_OPTIONAL = re.compile(r"(\|\s*None\s*$)|(^None\s*\|)|(^(typing\.)?Optional\[)")


def _nullable(resolver: Any) -> Any:
    function = getattr(resolver, "wrapped_func", resolver)
    annotations = getattr(function, "__annotations__", None)
    if not annotations or "return" not in annotations:
        return resolver
    returned = annotations["return"]
    if isinstance(returned, str):
        if not _OPTIONAL.search(returned.strip()):
            annotations["return"] = f"{returned} | None"
    elif type(None) not in getattr(returned, "__args__", ()):
        annotations["return"] = returned | None
    return resolver
