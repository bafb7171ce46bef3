"""Traces collected in memory: the SDK's InMemorySpanExporter behind the global tracer provider
(OpenTelemetry allows setting it once per process, so it is set once and kept; between tests
tracing is switched off again, and nothing else of the suite is traced)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy.ext.asyncio import AsyncEngine

from observability import tracing

_EXPORTER = InMemorySpanExporter()


def _provider() -> TracerProvider:
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
    return provider


@pytest.fixture
def spans(engine: AsyncEngine) -> Iterator[InMemorySpanExporter]:
    """Tracing on for this test (apps it creates, the session's engine); the finished spans."""
    tracing.install(_provider())
    tracing.instrument_engine(engine)
    _EXPORTER.clear()
    try:
        yield _EXPORTER
    finally:
        tracing.uninstall()
        _EXPORTER.clear()
