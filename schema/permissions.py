"""Field declarations that read `auth.requirements` (what each field needs) and the strawberry
permission classes that enforce them; the rules themselves live in `auth.policy`.

Every field that needs something declares one `Requirement`, which does three things: it
decides in which audiences' schemas the field exists (`schema.audiences`), it writes "Requires:
…" into the description, and, for guarded fields, it is checked when the field resolves: a type
whose objects carry their own grants (a device, an account) exposes
`granted(scope) -> frozenset[Permission]`; other fields are checked against what the viewer
holds anywhere. A denial is a FORBIDDEN error on that field only, the rest of the response intact.
"""

from __future__ import annotations

import contextlib
import inspect
import re
from collections.abc import Callable, Mapping
from typing import Any

import strawberry
from strawberry.extensions.field_extension import FieldExtension
from strawberry.permission import BasePermission, PermissionExtension
from strawberry.types.field import StrawberryField

from auth.policy import Permission
from auth.requirements import PUBLIC, Requirement, requires
from core.errors import Forbidden
from resolvers.scoping import Scope
from schema.context import Info

# Where a field's requirement is kept (`StrawberryField.metadata`).
REQUIREMENT = "portal.requirement"


def requirement_of(field: StrawberryField) -> Requirement:
    """What the field declared; PUBLIC for fields that declared nothing."""
    metadata: Mapping[Any, Any] = field.metadata or {}
    declared: Requirement = metadata.get(REQUIREMENT, PUBLIC)
    return declared


def _requirement(needs: Permission | Requirement) -> Requirement:
    return needs if isinstance(needs, Requirement) else requires(needs)


class Requires(BasePermission):
    """Grants the field when the viewer holds one of the requirement's permissions on the
    object (or anywhere, for root fields and mutations); a bare sign-in requirement needs a
    signed-in caller."""

    def __init__(self, requirement: Requirement) -> None:
        self.requirement = requirement

    async def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        context = info.context
        scope = await context.require_scope()
        self.decide(scope, source, context)
        return True

    def decide(self, scope: Scope, source: Any, context: Any) -> None:
        """Raises FORBIDDEN unless `scope` (a signed-in caller's) meets the requirement on
        `source`."""
        if self.requirement.person and scope.user is None:
            raise Forbidden(language=context.language)
        needed = self.requirement.any_of
        if not needed:
            return
        granted = _granted(source, scope)
        allowed = (
            self.requirement.met_by(granted)
            if granted is not None
            else any(scope.holds_anywhere(p) for p in needed)
        )
        if not allowed:
            required = " | ".join(p.value for p in self.requirement.sorted_permissions)
            raise Forbidden(language=context.language, required=required)


# Where an object keeps what the viewer was granted on it (one reading per object and scope,
# however many of its fields are guarded).
_GRANTED = "_portal_granted"


def _granted(source: Any, scope: Scope) -> frozenset[Permission] | None:
    """What `source.granted(scope)` says (None: the object carries no grants of its own)."""
    cached = getattr(source, _GRANTED, None)
    if cached is not None and cached[0] is scope:
        granted: frozenset[Permission] = cached[1]
        return granted
    reader: Callable[[Any], frozenset[Permission]] | None = getattr(source, "granted", None)
    if reader is None:
        return None
    granted = reader(scope)
    # an object without a __dict__ is simply asked again next time
    with contextlib.suppress(AttributeError, TypeError):
        object.__setattr__(source, _GRANTED, (scope, granted))
    return granted


class Guard(PermissionExtension):
    """Checks a `Requires` before the field resolves. With the viewer's scope already read
    (as it is under any list), the check is synchronous, so a field with a plain resolver stays
    synchronous (no coroutine, no task); otherwise the scope is awaited first, as
    `Requires.has_permission` does."""

    def __init__(self, requirement: Requirement) -> None:
        self.requires = Requires(requirement)
        super().__init__([self.requires], use_directives=False)

    supports_sync = True

    def resolve(self, next_: Any, source: Any, info: Info, **kwargs: Any) -> Any:
        context = info.context
        scope = context.scope_now()
        if scope is None or not scope.is_authenticated:
            return self._checked_later(next_, source, info, kwargs)
        self.requires.decide(scope, source, context)
        return next_(source, info, **kwargs)

    async def _checked_later(
        self, next_: Any, source: Any, info: Info, kwargs: dict[str, Any]
    ) -> Any:
        await self.requires.has_permission(source, info, **kwargs)
        result = next_(source, info, **kwargs)
        return await result if inspect.isawaitable(result) else result

    async def resolve_async(self, next_: Any, source: Any, info: Info, **kwargs: Any) -> Any:
        context = info.context
        scope = context.scope_now()
        if scope is None or not scope.is_authenticated:
            await self.requires.has_permission(source, info, **kwargs)
        else:
            self.requires.decide(scope, source, context)
        result = next_(source, info, **kwargs)
        if inspect.isasyncgen(result):
            return result
        return await result


def guard(needs: Permission | Requirement) -> list[FieldExtension]:
    requirement = _requirement(needs)
    if requirement == PUBLIC:
        return []
    return [Guard(requirement)]


def shown_to(needs: Permission | Requirement, description: str) -> dict[str, Any]:
    """Keyword arguments for any strawberry field declaration (`strawberry.field`, an input
    field, a subscription): the field exists only in the schemas of audiences that can meet
    `needs`, and its description says what it needs. Nothing is checked when it resolves (the
    resolver scopes its rows itself); `permission_field` and `mutation` add that check."""
    requirement = _requirement(needs)
    return {
        "description": f"{description.rstrip()} {requirement.text()}",
        "metadata": {REQUIREMENT: requirement},
    }


def mutation(needs: Requirement, *, description: str, **kwargs: Any) -> Any:
    """Every mutation is declared with this: what it requires decides who sees it and is
    checked before it runs (object-level checks, this account or this device, stay in the
    resolver, where the object is known)."""
    return strawberry.mutation(**shown_to(needs, description), extensions=guard(needs), **kwargs)


def permission_field(
    needs: Permission | Requirement, *, description: str, resolver: Any = None, **kwargs: Any
) -> Any:
    """A field guarded by one permission (or a requirement); its description says what it
    requires.

    A denial must leave the rest of the response intact, so the field is always nullable in the
    schema: a resolver's return type gets `| None` if it lacks it."""
    declared = {**shown_to(needs, description), "extensions": guard(needs), **kwargs}
    if resolver is not None:
        return strawberry.field(resolver=_nullable(resolver), **declared)
    field = strawberry.field(**declared)
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
