"""One schema per audience: a caller's schema holds only what it can ever be granted.

An audience (`auth.requirements.Audience`) is everything a caller holds on at least one object.
Its schema keeps the fields, input fields, mutations and enum values whose declared requirement
it can meet, and the types still reachable through them; a document naming anything else fails
validation as an unknown field would. Fields held on some objects and not on others stay and
answer FORBIDDEN per object. Each audience's schema is built once (a few tens of milliseconds)
and kept: there are at most a few dozen audiences (unions of five roles' permission sets, the
agent, the machine-client scopes, anonymous callers), so the cache needs no bound.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from functools import lru_cache
from typing import Any

from graphql import (
    BREAK,
    FieldNode,
    GraphQLEnumType,
    GraphQLError,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    get_named_type,
    is_abstract_type,
    parse,
    validate,
    visit,
)
from strawberry.types import ExecutionResult
from strawberry.types.base import StrawberryContainer, has_object_definition
from strawberry.types.enum import StrawberryEnumDefinition
from strawberry.types.field import StrawberryField
from strawberry.types.lazy_type import LazyType
from strawberry.types.union import StrawberryUnion

import i18n
from auth.policy import Permission
from auth.requirements import FULL_AUDIENCE, Audience, Requirement, requires
from core.errors import Unauthenticated
from schema import unavailable
from schema.compiled import CompiledExecutionContext
from schema.extension_chain import ChainedSchema
from schema.permissions import requirement_of

log = logging.getLogger("portal.errors")

# Enum values some audiences never see, by enum name: the value -> what it requires.
ENUM_VALUE_REQUIREMENTS: dict[str, Callable[[str], Requirement]] = {
    # The vendor's and the machine clients' permissions are not the customers' vocabulary.
    "Permission": lambda name: requires(Permission(name)),
}


class AudienceSchema(ChainedSchema):
    """The schema one audience sees (the full one for `FULL_AUDIENCE`)."""

    def __init__(self, audience: Audience, **kwargs: Any) -> None:
        self.audience = audience
        self.portal: PortalSchema | None = None  # what built it (None: built alone)
        self._has_content: dict[int, bool] = {}
        # plain fields written directly when the caller's settings say so (`schema.compiled`)
        kwargs.setdefault("execution_context_class", CompiledExecutionContext)
        for root in ("mutation", "subscription"):  # a root type left empty is left out
            if kwargs.get(root) is not None and not self._reaches(kwargs[root]):
                kwargs = {**kwargs, root: None}
        super().__init__(**kwargs)
        self._drop_enum_values()

    def get_fields(self, type_definition: Any) -> list[StrawberryField]:
        return [f for f in type_definition.fields if self._shows(f)]

    def _shows(self, field: StrawberryField) -> bool:
        return requirement_of(field).admits(self.audience) and self._reaches(field.type)

    def _reaches(self, type_: Any) -> bool:
        """Whether the type still has something to show this audience (a type whose every
        field is cut disappears, and so do the fields returning it)."""
        while isinstance(type_, StrawberryContainer | LazyType):
            type_ = (
                type_.of_type if isinstance(type_, StrawberryContainer) else type_.resolve_type()
            )
        if isinstance(type_, StrawberryUnion):
            return any(self._reaches(member) for member in type_.types)
        if isinstance(type_, StrawberryEnumDefinition):
            requirement = ENUM_VALUE_REQUIREMENTS.get(type_.name)
            return requirement is None or any(
                requirement(value.name).admits(self.audience) for value in type_.values
            )
        if not has_object_definition(type_):
            return True  # scalars
        definition = type_.__strawberry_definition__
        key = id(definition)
        if key not in self._has_content:
            self._has_content[key] = True  # a cycle leads back here: assume content
            self._has_content[key] = any(self._shows(f) for f in definition.fields)
        return self._has_content[key]

    def _drop_enum_values(self) -> None:
        for name, requirement in ENUM_VALUE_REQUIREMENTS.items():
            enum_type = self._schema.type_map.get(name)
            if not isinstance(enum_type, GraphQLEnumType):
                continue
            for value in list(enum_type.values):
                if not requirement(value).admits(self.audience):
                    del enum_type.values[value]


class PortalSchema(AudienceSchema):
    """The full schema (what `make schema` exports); every operation it is asked to run, over
    HTTP or a WebSocket, runs on the schema of its caller's audience instead."""

    def __init__(self, **kwargs: Any) -> None:
        self._schema_arguments = kwargs
        super().__init__(FULL_AUDIENCE, **kwargs)
        self.portal = self
        self._audiences: dict[Audience, AudienceSchema] = {FULL_AUDIENCE: self}

    def for_audience(self, audience: Audience) -> AudienceSchema:
        found = self._audiences.get(audience)
        if found is None:
            found = self._audiences[audience] = AudienceSchema(audience, **self._schema_arguments)
            found.portal = self
        return found

    async def execute(self, query: str | None, *args: Any, **kwargs: Any) -> ExecutionResult:
        context = _context(args, kwargs)
        if context is None:  # no caller (tests and tools that run the schema directly)
            return await super().execute(query, *args, **kwargs)
        if not context.principal.is_anonymous and self._valid_for_everyone_signed_in(query):
            # Valid for the least a signed-in caller sees, so for every signed-in audience,
            # and it names no introspection field: the same result whichever schema runs it,
            # without reading the caller's scope first (`{ __typename }` stays as cheap as it
            # was; resolvers read the scope when they need it, as before).
            target = self.for_audience(SIGNED_IN_AUDIENCE)
            return await AudienceSchema.execute(target, query, *args, **kwargs)
        try:
            audience = await context.audience()
        except Exception as error:
            return await _refused(context, error)
        result = await AudienceSchema.execute(self.for_audience(audience), query, *args, **kwargs)
        return _unauthenticated_if_rejected(context, audience, result)

    def _valid_for_everyone_signed_in(self, query: str | None) -> bool:
        return query is not None and _valid_for_everyone_signed_in(
            self.for_audience(SIGNED_IN_AUDIENCE), query
        )

    async def stream(self, query: str | None, *args: Any, **kwargs: Any) -> Any:
        context = _context(args, kwargs)
        if context is None:
            return await super().stream(query, *args, **kwargs)
        try:
            audience = await context.audience()
        except Exception as error:
            return _one(await _refused(context, error))
        target = self.for_audience(audience)
        results = await AudienceSchema.stream(target, query, *args, **kwargs)
        return _first_checked(context, audience, results)


# The least any signed-in caller sees (a person with no membership yet).
SIGNED_IN_AUDIENCE = Audience(signed_in=True)


@lru_cache(maxsize=512)
def _valid_for_everyone_signed_in(schema: AudienceSchema, query: str) -> bool:
    """Whether the document is valid in `schema` and its answer cannot depend on the schema it
    runs on: no introspection field, and no field of an abstract type (`node`: the concrete
    type is looked up by name, and the least schema has few). Cached per text."""
    try:
        document = parse(query)
    except GraphQLError:
        return False
    if validate(schema._schema, document):
        return False
    depends = False
    types = TypeInfo(schema._schema)

    class _SchemaDependent(Visitor):
        def enter_field(self, node: FieldNode, *_: Any) -> Any:
            nonlocal depends
            name = node.name.value
            returned = types.get_type()
            if (name.startswith("__") and name != "__typename") or (
                returned is not None and is_abstract_type(get_named_type(returned))
            ):
                depends = True
                return BREAK
            return None

    visit(document, TypeInfoVisitor(types, _SchemaDependent()))
    return not depends


async def callers_schema(info: Any) -> AudienceSchema:
    """The schema of the caller's audience, for resolvers that read the schema (to check a
    document the caller gives, say): `info.schema` may be the least signed-in one, which
    answers documents valid for everyone without reading the caller's scope."""
    running: AudienceSchema = info.schema
    portal = getattr(running, "portal", None)
    if portal is None or running.audience != SIGNED_IN_AUDIENCE:
        return running
    found: AudienceSchema = portal.for_audience(await info.context.audience())
    return found


def _context(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    context = kwargs.get("context_value", args[1] if len(args) > 1 else None)
    return context if hasattr(context, "audience") else None


async def _refused(context: Any, error: Exception) -> ExecutionResult:
    """The caller's audience could not be read. The database unreachable: nothing ran, retry
    later. Anything else is a bug: logged with the request id, masked like any other."""
    await context.close_operation()
    language = context.header_language or i18n.DEFAULT
    extensions: dict[str, Any] = {"requestId": context.request_id}
    if unavailable.database_unavailable(error):
        unavailable.log_outage(error, context.request_id, "reading the caller's permissions")
        extensions.update(code=unavailable.CODE, retryAfter=unavailable.RETRY_AFTER_SECONDS)
        message = i18n.translate(unavailable.CODE, language)
    else:
        log.error(
            "unexpected error (request %s) reading the caller's permissions",
            context.request_id,
            exc_info=error,
        )
        extensions["code"] = "INTERNAL"
        message = i18n.translate("INTERNAL", language)
    return ExecutionResult(data=None, errors=[GraphQLError(message, extensions=extensions)])


async def _one(result: ExecutionResult) -> AsyncGenerator[ExecutionResult, None]:
    yield result


async def _first_checked(
    context: Any, audience: Audience, results: AsyncGenerator[Any, None]
) -> AsyncGenerator[Any, None]:
    """A stream whose first result (where a refusal before execution comes) goes through
    `_unauthenticated_if_rejected`."""
    first = True
    async with aclosing(results):
        async for result in results:
            if first and isinstance(result, ExecutionResult):
                result = _unauthenticated_if_rejected(context, audience, result)
            first = False
            yield result


# Validation failures that name something the caller's schema lacks (graphql-core's wording).
_UNKNOWN_NAME = re.compile(r"^(Cannot query field |Unknown type )")


def _unauthenticated_if_rejected(
    context: Any, audience: Audience, result: ExecutionResult
) -> ExecutionResult:
    """An anonymous caller (no token, or a token refused: expired, revoked, its user gone) gets
    the anonymous schema; a document that fails there only because it names what signed-in
    callers have is answered UNAUTHENTICATED (with the refused token's reason), so the client
    knows to sign in or refresh. Every such name gets the same answer, whether it exists for
    anyone or not: the answer maps nothing."""
    if audience.signed_in or result.data is not None or not result.errors:
        return result
    if not all(
        not e.path and e.original_error is None and _UNKNOWN_NAME.match(e.message)
        for e in result.errors
    ):
        return result
    principal = context.principal
    extra: dict[str, Any] = {}
    if principal.token_problem is not None or not principal.is_anonymous:
        extra["reason"] = principal.token_problem or "UNKNOWN_IDENTITY"
    error = Unauthenticated(language=context.language, **extra)
    refusal = GraphQLError(str(error), extensions=error.extensions, original_error=error)
    return type(result)(data=None, errors=[refusal], extensions=result.extensions)
