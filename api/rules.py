"""Document limits and validation rules checked before execution: empty selection sets,
directives per operation, credential mutations (one per operation, so aliases cannot batch
password guesses) and mutations per operation; introspection by `Settings.introspection_policy`,
with no "Did you mean" suggestions where it is off."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from graphql import (
    BREAK,
    DirectiveNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSyntaxError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValidationRule,
    Visitor,
    visit,
)
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import MaxAliasesLimiter, QueryDepthLimiter

from api.rule_messages import english

log = logging.getLogger("portal.ratelimit")

if TYPE_CHECKING:
    from auth.principal import Principal
    from settings import Settings

# Mutations that check a secret: one per operation, so aliases cannot batch guesses.
CREDENTIAL_MUTATIONS = frozenset(
    {"login", "refreshToken", "clientToken", "register", "confirmEmail", "acceptInvitation"}
)
MAX_MUTATIONS_PER_OPERATION = 10


class _EmptySelectionSets(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.found: SelectionSetNode | None = None

    def enter_selection_set(self, node: SelectionSetNode, *_: Any) -> Any:
        if not node.selections:
            self.found = node
            return BREAK
        return None


# Documents already found sound, by identity: the parser cache hands the same document object
# to every request sending the same text, so the walk runs once per text, not per request. The
# entries hold their documents, so an id is never reused while it is here.
_SOUND: dict[int, DocumentNode] = {}
_SOUND_LIMIT = 512


def refuse_empty_selection_sets(document: DocumentNode) -> None:
    """`{ viewer { } }`: the GraphQL grammar wants at least one field between braces (the
    parser lets an empty selection set through, and the validation rules expect none)."""
    if _SOUND.get(id(document)) is document:
        return
    visitor = _EmptySelectionSets()
    visit(document, visitor)
    node = visitor.found
    if node is not None and node.loc is not None:
        raise GraphQLSyntaxError(node.loc.source, node.loc.end - 1, "Expected Name, found '}'.")
    if len(_SOUND) >= _SOUND_LIMIT:
        del _SOUND[next(iter(_SOUND))]
    _SOUND[id(document)] = document


def _root_fields(
    selection_set: SelectionSetNode, fragments: dict[str, FragmentDefinitionNode]
) -> Iterator[FieldNode]:
    stack, seen = [selection_set], set()
    while stack:
        for selection in stack.pop().selections:
            if isinstance(selection, FieldNode):
                yield selection
            elif isinstance(selection, InlineFragmentNode):
                stack.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name not in seen and name in fragments:
                    seen.add(name)
                    stack.append(fragments[name].selection_set)


def _directives_rule(maximum: int) -> type[ValidationRule]:
    class MaxDirectivesRule(ValidationRule):
        """At most `maximum` directives in a document (directive floods)."""

        count = 0

        def enter_directive(self, node: DirectiveNode, *_: Any) -> None:
            self.count += 1
            if self.count == maximum + 1:
                self.report_error(
                    GraphQLError(english("MAX_DIRECTIVES_EXCEEDED", maximum=maximum), node)
                )

    return MaxDirectivesRule


class MutationBatchRule(ValidationRule):
    """A credential-checking mutation appears once per operation, and an operation holds at
    most `MAX_MUTATIONS_PER_OPERATION` mutations (batched guessing through aliases)."""

    def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
        if node.operation != OperationType.MUTATION:
            return
        fragments = {
            d.name.value: d
            for d in self.context.document.definitions
            if isinstance(d, FragmentDefinitionNode)
        }
        fields = list(_root_fields(node.selection_set, fragments))
        if len(fields) > MAX_MUTATIONS_PER_OPERATION:
            self.report_error(
                GraphQLError(
                    english("MAX_MUTATIONS_EXCEEDED", maximum=MAX_MUTATIONS_PER_OPERATION),
                    node,
                )
            )
        credential = [f for f in fields if f.name.value in CREDENTIAL_MUTATIONS]
        if len(credential) > 1:
            self.report_error(GraphQLError(english("CREDENTIAL_MUTATION_REPEATED"), credential[1]))


@lru_cache(maxsize=16)
def validation_rules(
    max_depth: int, max_aliases: int, max_directives: int, introspection: bool
) -> tuple[type[ValidationRule], ...]:
    """Stable rule classes per configuration, so the validation cache keeps working."""
    rules = [
        *QueryDepthLimiter(max_depth=max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=max_aliases).validation_rules,
        _directives_rule(max_directives),
        MutationBatchRule,
    ]
    if not introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    return tuple(rules)


def introspection_allowed(settings: Settings, principal: Principal) -> bool:
    policy = settings.introspection_policy
    return policy == "on" or (policy == "authenticated" and not principal.is_anonymous)


_SUGGESTION = re.compile(r"\s*Did you mean .*$", re.DOTALL)


def without_suggestions(errors: list[GraphQLError]) -> list[GraphQLError]:
    """Copies of the errors without "Did you mean ..." (cached errors are not changed)."""
    cleaned = []
    for error in errors:
        message = _SUGGESTION.sub("", error.message)
        if message != error.message:
            error = GraphQLError(
                message,
                nodes=error.nodes,
                path=error.path,
                original_error=error.original_error,
                extensions=error.extensions,
            )
        cleaned.append(error)
    return cleaned
