"""Checks for a query stored now and run later for a person (a webhook's payload, a bulk
export's pages): the same document limits and query cost as a request, applied when it is
saved, so that a query the API would refuse is refused at once with a coded user error rather
than failing every delivery or page later."""

from __future__ import annotations

from typing import Any

from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLSchema,
    OperationDefinitionNode,
    specified_rules,
    validate,
)
from graphql.execution.values import get_variable_values

from api.cost import CostCalculator, Refused
from api.rules import validation_rules
from core.errors import UserError
from settings import Settings


def check_stored_query(
    schema: GraphQLSchema,
    document: DocumentNode,
    settings: Settings,
    variables: dict[str, Any],
    prefix: str,
) -> None:
    """UserError on `query`: `<prefix>_QUERY_INVALID` (schema, depth, aliases, directives, page
    sizes) or `<prefix>_QUERY_TOO_COSTLY` (above MAX_QUERY_COST), with the request's rules."""
    rules = (
        *specified_rules,
        *validation_rules(
            settings.max_query_depth, settings.max_aliases, settings.max_directives, True
        ),
    )
    errors = validate(schema, document, rules)
    if errors:
        raise UserError(f"{prefix}_QUERY_INVALID", "query", detail=errors[0].message[:200])
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    coerced = get_variable_values(schema, operation.variable_definitions or (), variables)
    if isinstance(coerced, list):
        raise UserError(f"{prefix}_QUERY_INVALID", "query", detail=coerced[0].message[:200])
    try:
        cost = CostCalculator(
            schema,
            operation,
            fragments,
            coerced,
            max_list_input=settings.max_list_input,
            language="en",
        ).requested()
    except Refused as refused:
        raise UserError(
            f"{prefix}_QUERY_INVALID", "query", detail=refused.error.message[:200]
        ) from None
    if cost > settings.max_query_cost:
        raise UserError(
            f"{prefix}_QUERY_TOO_COSTLY", "query", cost=cost, maximum=settings.max_query_cost
        )
