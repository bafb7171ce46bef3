"""Query cost analysis and request limits, all checked before any SQL runs.

Cost (in the spirit of GitHub's and Shopify's): scalar fields are free, an object costs 1, a
connection costs 2 plus its page (`first`/`last`, variables resolved, default 20) times the cost
of one of its nodes, so nested connections multiply; a root mutation field costs 10. A query over
`max_query_cost` is refused with `MAX_COST_EXCEEDED` and the computed cost. Each caller has a
token bucket (`api/ratelimit.py`) spent by the requested cost; what the operation did not
use (`actualQueryCost`, counted on the returned data) is given back afterwards. An empty bucket
answers `THROTTLED` with the seconds to wait. Every response carries `extensions.cost`.

Depth, alias and token limits use strawberry's `QueryDepthLimiter`, `MaxAliasesLimiter` and
`MaxTokensLimiter` (the parse option); directives, credential mutations and mutations per
operation have rules of their own. Introspection follows `Settings.introspection_policy`, and
where it is off, no error suggests names ("Did you mean ...")."""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from graphql import (
    ExecutionResult,
    FragmentDefinitionNode,
    OperationType,
    get_operation_ast,
)
from graphql.execution.values import (
    get_variable_values,
)
from starlette.websockets import WebSocket
from strawberry.extensions import SchemaExtension

import i18n
from api.cost import CostCalculator, MaxCostExceeded, Refused, requested_cost
from api.ratelimit import BucketState, bucket_key, rate_limiter
from api.rules import (
    introspection_allowed,
    refuse_empty_selection_sets,
    validation_rules,
    without_suggestions,
)
from core import clock
from core.errors import BadUserInput, Throttled

log = logging.getLogger("portal.ratelimit")

if TYPE_CHECKING:
    from auth.principal import Principal
    from settings import Settings


class ApiProtection(SchemaExtension):
    """Limits, introspection policy, cost analysis and the rate-limit bucket of the caller."""

    def __init__(self) -> None:
        self.introspection = True
        self.requested = 0
        self.actual = 0
        self.bucket: BucketState | None = None
        self.key: str | None = None
        self.calculator: CostCalculator | None = None

    def _settings_and_principal(self) -> tuple[Settings, Principal] | None:
        context = self.execution_context.context
        settings = getattr(context, "settings", None)
        if settings is None:
            return None
        return settings, context.principal

    def on_parse(self) -> Iterator[None]:
        yield
        document = self.execution_context.graphql_document
        if document is not None:
            refuse_empty_selection_sets(document)

    def on_operation(self) -> Iterator[None]:
        ctx = self.execution_context
        found = self._settings_and_principal()
        if found is not None:
            settings, principal = found
            self.introspection = introspection_allowed(settings, principal)
            ctx.parse_options["max_tokens"] = settings.max_tokens
            ctx.validation_rules = ctx.validation_rules + validation_rules(
                settings.max_query_depth,
                settings.max_aliases,
                settings.max_directives,
                self.introspection,
            )
        yield
        result = ctx.result
        errors = getattr(result, "errors", None) if result is not None else None
        if not self.introspection and errors:
            result.errors = without_suggestions(errors)  # type: ignore[union-attr]

    async def on_execute(self) -> AsyncIterator[None]:
        ctx = self.execution_context
        context = ctx.context
        found = self._settings_and_principal()
        if found is None or ctx.graphql_document is None:
            yield
            return
        settings, principal = found
        language = context.language
        try:
            self.calculator = self._calculator(settings, language)
            operation_type = self.calculator.operation.operation
            if operation_type == OperationType.SUBSCRIPTION and not isinstance(
                context.request, WebSocket
            ):
                raise Refused(
                    BadUserInput(message_code="SUBSCRIPTION_OVER_HTTP", language=language)
                )
            self.requested = requested_cost(
                self.calculator, ctx.graphql_document, ctx.operation_name
            )
            if self.requested > settings.max_query_cost:
                raise Refused(
                    MaxCostExceeded(
                        i18n.translate(
                            "MAX_COST_EXCEEDED",
                            language,
                            cost=self.requested,
                            maximum=settings.max_query_cost,
                        ),
                        cost=self.requested,
                        maximumCost=settings.max_query_cost,
                    )
                )
            self.key = bucket_key(principal, _client_host(context))
            self.bucket = await _bucket(context, "take", self.key, self.requested)
            if self.bucket is not None and not self.bucket.allowed:
                seconds = self.bucket.retry_after_seconds
                raise Refused(
                    Throttled(
                        i18n.translate("QUERY_THROTTLED", language, seconds=seconds),
                        retryAfter=seconds,
                        cost=self.requested,
                    )
                )
        except Refused as refused:
            ctx.result = ExecutionResult(data=None, errors=[refused.error])
            self.calculator = None
        yield
        result = ctx.result
        if self.calculator is not None and isinstance(result, ExecutionResult):
            self.actual = min(self.requested, self.calculator.actual(result.data))
            if self.key is not None and self.actual < self.requested:
                refunded = await _bucket(context, "refund", self.key, self.requested - self.actual)
                self.bucket = refunded or self.bucket

    def _calculator(self, settings: Settings, language: str) -> CostCalculator:
        ctx = self.execution_context
        document = ctx.graphql_document
        assert document is not None
        operation = get_operation_ast(document, ctx.operation_name)
        if operation is None:  # graphql-core reports it
            raise Refused(BadUserInput(message_code="UNKNOWN_OPERATION", language=language))
        schema = ctx.schema._schema
        variables = get_variable_values(
            schema,
            operation.variable_definitions or (),
            ctx.variables or {},
            max_errors=10,
            hide_suggestions=not self.introspection,
        )
        if isinstance(variables, list):
            first = variables[0]
            raise Refused(BadUserInput(first.message, language=language), first.nodes)
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        return CostCalculator(
            schema,
            operation,
            fragments,
            variables,
            max_list_input=settings.max_list_input,
            language=language,
        )

    async def get_results(self) -> dict[str, Any]:
        context = self.execution_context.context
        if self._settings_and_principal() is None:
            return {}
        if self.bucket is None:
            self.key = self.key or bucket_key(context.principal, _client_host(context))
            self.bucket = await _bucket(context, "peek", self.key)
        bucket = self.bucket
        if bucket is None:  # the shared store is unreachable: no figures to give
            return {"cost": {"requestedQueryCost": self.requested, "actualQueryCost": self.actual}}
        _set_headers(context, bucket, self.requested)
        return {
            "cost": {
                "requestedQueryCost": self.requested,
                "actualQueryCost": self.actual,
                "throttleStatus": {
                    "maximumAvailable": bucket.capacity,
                    "currentlyAvailable": math.floor(bucket.available),
                    "restoreRate": bucket.restore_rate,
                },
            }
        }


async def _bucket(context: Any, change: str, key: str, *amount: int) -> BucketState | None:
    """A bucket change; when the shared store (Redis) fails, requests go on unthrottled (and
    the failure is logged) rather than the whole API failing with it."""
    try:
        return await getattr(rate_limiter(context.services), change)(key, *amount)  # type: ignore[no-any-return]
    except Exception:
        log.warning("rate limiter unavailable (request %s)", context.request_id, exc_info=True)
        return None


def _client_host(context: Any) -> str | None:
    client = getattr(context.request, "client", None)
    return client.host if client is not None else None


def _set_headers(context: Any, bucket: BucketState, cost: int) -> None:
    response = getattr(context, "response", None)
    if response is None:
        return
    headers = response.headers
    headers["X-RateLimit-Limit"] = str(bucket.capacity)
    headers["X-RateLimit-Remaining"] = str(math.floor(bucket.available))
    headers["X-RateLimit-Reset"] = str(math.ceil(clock.timestamp()) + bucket.seconds_to_full)
    headers["X-Query-Cost"] = str(cost)
    if not bucket.allowed:
        headers["Retry-After"] = str(bucket.retry_after_seconds)
