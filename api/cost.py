"""Query cost, computed from the document before any SQL runs (in the spirit of GitHub's and
Shopify's): scalar fields are free, an object costs 1, a connection 2 plus its page (`first` /
`last`, variables resolved, default 20) times the cost of one node, so nested connections
multiply; a root mutation field costs 10. The same walk caps list inputs and search texts."""

from __future__ import annotations

import dataclasses
import logging
from collections import OrderedDict
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLIncludeDirective,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLSkipDirective,
    InlineFragmentNode,
    NamedTypeNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
    is_abstract_type,
    is_leaf_type,
)
from graphql.execution.values import (
    VariableValues,
    get_argument_values,
    get_directive_values,
)

import i18n
from core.errors import BadUserInput, CodedError
from resolvers.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

log = logging.getLogger("portal.ratelimit")

if TYPE_CHECKING:
    from graphql.language import Node


COST_OBJECT = 1
COST_CONNECTION = 2
COST_MUTATION = 10
# A plain list of objects without a list argument to size it by.
LIST_ESTIMATE = 10
# Lists the domain bounds: one entry per meter of a model (six meter types at most), one per
# consumable of a device (four toners and a drum).
LIST_SIZES = {"Device.latestReadings": 6, "Device.tonerLevels": 5}
# List inputs the domain allows past the general cap: a spreadsheet upload of 250 devices.
# Longest search text (`search` arguments and filter fields).
MAX_SEARCH_LENGTH = 200

LIST_INPUT_LIMITS = {
    "submitMeterReadingsBatch.input.rows": 250,
    "reportMeterReadings.input.rows": 250,
}
# Leaf fields that run a query of their own.
LEAF_COSTS = {"totalCount": 1}
# Types that fetch nothing themselves (wrappers, values built in memory: a LatestReading
# wraps the reading its parent's loader already fetched).
FREE_TYPES = frozenset({"PageInfo", "UserError", "LatestReading"})


class MaxCostExceeded(CodedError):
    code = "MAX_COST_EXCEEDED"


class Refused(Exception):
    """The operation is refused before execution with this error."""

    def __init__(self, error: CodedError, nodes: Node | list[Node] | None = None) -> None:
        super().__init__(str(error))
        self.error = GraphQLError(str(error), nodes=nodes, extensions=error.extensions)


def is_connection(type_: Any) -> bool:
    return (
        isinstance(type_, GraphQLObjectType)
        and "pageInfo" in type_.fields
        and "edges" in type_.fields
    )


# One counted field of a selection: response key, own cost, sub-selection, possible types.
_Step = tuple[str, int, SelectionSetNode | None, tuple[GraphQLObjectType, ...]]


class CostCalculator:
    """Requested cost from the document and variables; actual cost from the returned data.
    Also refuses page sizes out of range, missing page sizes inside lists, and list inputs
    over the cap."""

    def __init__(
        self,
        schema: GraphQLSchema,
        operation: OperationDefinitionNode,
        fragments: dict[str, FragmentDefinitionNode],
        variables: VariableValues,
        *,
        max_list_input: int,
        language: str,
    ) -> None:
        self.schema = schema
        self.operation = operation
        self.fragments = fragments
        self.variables = variables
        self.max_list_input = max_list_input
        self.language = language
        self._memo: dict[tuple[int, str, int | None, bool], int] = {}
        self._actual_memo: dict[tuple[int, int], int] = {}
        self._plans: dict[tuple[int, str], list[_Step]] = {}
        root = schema.get_root_type(operation.operation)
        assert root is not None
        self.root = root

    # requested ---------------------------------------------------------------------------

    def requested(self) -> int:
        cost = self._object_cost(self.operation.selection_set, self.root, None, False)
        if self.operation.operation == OperationType.MUTATION:
            cost += COST_MUTATION * len(
                list(self._collect(self.operation.selection_set, self.root))
            )
        return cost

    def _collect(
        self, selection_set: SelectionSetNode, obj: GraphQLObjectType
    ) -> Iterator[FieldNode]:
        stack, seen = [selection_set], set()
        while stack:
            for selection in stack.pop().selections:
                if not self._included(selection):
                    continue
                if isinstance(selection, FieldNode):
                    yield selection
                    continue
                if isinstance(selection, FragmentSpreadNode):
                    name = selection.name.value
                    fragment = self.fragments.get(name)
                    if fragment is None or name in seen:
                        continue
                    seen.add(name)
                    condition: NamedTypeNode | None = fragment.type_condition
                    target = fragment.selection_set
                else:
                    assert isinstance(selection, InlineFragmentNode)
                    condition, target = selection.type_condition, selection.selection_set
                if condition is None or self._applies(condition.name.value, obj):
                    stack.append(target)

    def _applies(self, condition: str, obj: GraphQLObjectType) -> bool:
        if condition == obj.name:
            return True
        type_ = self.schema.get_type(condition)
        return type_ is not None and is_abstract_type(type_) and self.schema.is_sub_type(type_, obj)

    def _included(self, node: Any) -> bool:
        if not node.directives:
            return True
        skip = get_directive_values(GraphQLSkipDirective, node, self.variables)
        if skip is not None and skip.get("if") is True:
            return False
        include = get_directive_values(GraphQLIncludeDirective, node, self.variables)
        return not (include is not None and include.get("if") is False)

    def _possible(self, type_: Any) -> list[GraphQLObjectType]:
        if is_abstract_type(type_):
            return list(self.schema.get_possible_types(type_))
        return [type_]

    def _selection_cost(
        self, selection_set: SelectionSetNode | None, type_: Any, page: int | None, in_list: bool
    ) -> int:
        if selection_set is None:
            return 0
        return max(
            (self._object_cost(selection_set, t, page, in_list) for t in self._possible(type_)),
            default=0,
        )

    def _object_cost(
        self,
        selection_set: SelectionSetNode,
        obj: GraphQLObjectType,
        page: int | None,
        in_list: bool,
    ) -> int:
        key = (id(selection_set), obj.name, page, in_list)
        cached = self._memo.get(key)
        if cached is None:
            cached = self._memo[key] = sum(
                self._field_cost(obj, node, page, in_list)
                for node in self._collect(selection_set, obj)
            )
        return cached

    def _arguments(self, field: Any, node: FieldNode) -> dict[str, Any]:
        try:
            return get_argument_values(field, node, self.variables)
        except GraphQLError as error:
            raise Refused(BadUserInput(error.message, language=self.language), node) from None

    def _field_cost(
        self, obj: GraphQLObjectType, node: FieldNode, page: int | None, in_list: bool
    ) -> int:
        name = node.name.value
        field = obj.fields.get(name)
        if name.startswith("__") or field is None:
            return 0
        args = self._arguments(field, node) if field.args else {}
        for arg_name, value in args.items():
            self._check_list_input(arg_name, value, node)
        named = get_named_type(field.type)
        if is_leaf_type(named):
            return LEAF_COSTS.get(name, 0)
        type_ = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
        is_list = isinstance(type_, GraphQLList)
        count = 1
        if is_list:
            count = page if page is not None else self._list_size(f"{obj.name}.{name}", args)
        child_in_list = in_list or is_list
        if is_connection(named):
            size = self._page_size(f"{obj.name}.{name}", args, node, in_list)
            inner = self._selection_cost(node.selection_set, named, size, child_in_list)
            return count * (COST_CONNECTION + inner)
        own = 0 if named.name in FREE_TYPES or named.name.endswith("Edge") else COST_OBJECT
        inner = self._selection_cost(node.selection_set, named, None, child_in_list)
        return count * (own + inner)

    def _list_size(self, field: str, args: dict[str, Any]) -> int:
        sizes = [len(v) for v in args.values() if isinstance(v, list)]
        return max(sizes) if sizes else LIST_SIZES.get(field, LIST_ESTIMATE)

    def _page_size(self, field: str, args: dict[str, Any], node: FieldNode, in_list: bool) -> int:
        sizes: list[tuple[str, int]] = [
            (k, args[k]) for k in ("first", "last") if args.get(k) is not None
        ]
        for argument, value in sizes:
            if not 0 <= value <= MAX_PAGE_SIZE:
                message = i18n.translate(
                    "PAGE_SIZE_OUT_OF_RANGE",
                    self.language,
                    argument=argument,
                    field=field,
                    maximum=MAX_PAGE_SIZE,
                )
                raise Refused(BadUserInput(message, argument=argument), node)
        if not sizes:
            if in_list:
                message = i18n.translate("PAGE_SIZE_REQUIRED", self.language, field=field)
                raise Refused(BadUserInput(message, argument="first"), node)
            return DEFAULT_PAGE_SIZE
        return max(value for _, value in sizes)

    def _check_list_input(self, argument: str, value: Any, node: FieldNode) -> None:
        """List inputs over the cap; also, in every text input (variables and literals alike),
        the NUL character (PostgreSQL cannot store it) and search texts over the cap."""
        if isinstance(value, str):
            if "\x00" in value:
                message = i18n.translate("NUL_CHARACTER", self.language)
                raise Refused(BadUserInput(message, argument=argument), node)
            if argument.rpartition(".")[2] == "search" and len(value) > MAX_SEARCH_LENGTH:
                message = i18n.translate("SEARCH_TOO_LONG", self.language, max=MAX_SEARCH_LENGTH)
                raise Refused(BadUserInput(message, argument=argument), node)
        elif isinstance(value, list):
            maximum = LIST_INPUT_LIMITS.get(f"{node.name.value}.{argument}", self.max_list_input)
            if len(value) > maximum:
                message = i18n.translate(
                    "LIST_INPUT_TOO_LONG",
                    self.language,
                    argument=argument,
                    maximum=maximum,
                )
                raise Refused(BadUserInput(message, argument=argument), node)
            for item in value:
                self._check_list_input(argument, item, node)
        elif isinstance(value, dict):
            for key, item in value.items():
                self._check_list_input(f"{argument}.{key}", item, node)
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            for field in dataclasses.fields(value):
                self._check_list_input(f"{argument}.{field.name}", getattr(value, field.name), node)

    # actual ------------------------------------------------------------------------------

    def actual(self, data: dict[str, Any] | None) -> int:
        if not data:
            return 0
        cost = self._actual_object(self.operation.selection_set, self.root, data)
        if self.operation.operation == OperationType.MUTATION:
            cost += COST_MUTATION * sum(
                1
                for node in self._collect(self.operation.selection_set, self.root)
                if (node.alias or node.name).value in data
            )
        return cost

    def _plan(self, selection_set: SelectionSetNode, obj: GraphQLObjectType) -> list[_Step]:
        """What counts in a selection on one type, worked out once per operation, so that the
        walk over the returned data only does dictionary lookups."""
        key = (id(selection_set), obj.name)
        plan = self._plans.get(key)
        if plan is None:
            plan = []
            for node in self._collect(selection_set, obj):
                name = node.name.value
                field = obj.fields.get(name)
                if name.startswith("__") or field is None:
                    continue
                response_key = (node.alias or node.name).value
                named = get_named_type(field.type)
                if is_leaf_type(named):
                    if name in LEAF_COSTS:
                        plan.append((response_key, LEAF_COSTS[name], None, ()))
                    continue
                if is_connection(named):
                    own = COST_CONNECTION
                elif named.name in FREE_TYPES or named.name.endswith("Edge"):
                    own = 0
                else:
                    own = COST_OBJECT
                targets = tuple(self._possible(named))
                plan.append((response_key, own, node.selection_set, targets))
            self._plans[key] = plan
        return plan

    def _actual_object(
        self, selection_set: SelectionSetNode, obj: GraphQLObjectType, value: dict[str, Any]
    ) -> int:
        plan = self._plans.get((id(selection_set), obj.name))
        if plan is None:
            plan = self._plan(selection_set, obj)
        total = 0
        for response_key, own, children, targets in plan:
            raw = value.get(response_key)
            if raw is None:
                continue
            if children is None:
                total += own
                continue
            items = raw if isinstance(raw, list) else (raw,)
            if len(targets) == 1:
                target = targets[0]
                for item in items:
                    if isinstance(item, dict):
                        total += own + self._actual_object(children, target, item)
            else:
                for item in items:
                    if isinstance(item, dict):
                        total += own + self._actual_abstract(children, targets, item)
        return total

    def _actual_abstract(
        self,
        selection_set: SelectionSetNode,
        targets: tuple[GraphQLObjectType, ...],
        value: dict[str, Any],
    ) -> int:
        """An abstract type without __typename at hand: the costliest reading, once per value."""
        key = (id(selection_set), id(value))
        cached = self._actual_memo.get(key)
        if cached is None:
            cached = self._actual_memo[key] = max(
                (self._actual_object(selection_set, t, value) for t in targets), default=0
            )
        return cached


# Requested costs of operations without variables, per (audience schema, parsed document,
# operation name): the parser cache (schema/root.py) hands out the same document for the same
# text, so a document asked again costs a lookup. The entries hold the schema and document
# they were computed for (their ids are only reused once those are gone).
_REQUESTED: OrderedDict[tuple[int, int, str | None], tuple[Any, Any, int]] = OrderedDict()
REQUESTED_CACHE_SIZE = 512


def requested_cost(calculator: CostCalculator, document: Any, operation_name: str | None) -> int:
    """`calculator.requested()`, computed once per (audience, document, operation) when the
    operation has no variables (nothing else changes it); with variables, every time."""
    if calculator.operation.variable_definitions:
        return calculator.requested()
    key = (id(calculator.schema), id(document), operation_name)
    found = _REQUESTED.get(key)
    if found is not None and found[0] is calculator.schema and found[1] is document:
        _REQUESTED.move_to_end(key)
        return found[2]
    cost = calculator.requested()  # refusals raise, and are not kept
    _REQUESTED[key] = (calculator.schema, document, cost)
    while len(_REQUESTED) > REQUESTED_CACHE_SIZE:
        _REQUESTED.popitem(last=False)
    return cost
