"""OTEL_EXPORTER_OTLP_ENDPOINT set: a real server (`python -m cli serve`) exports its spans over
OTLP http/protobuf to a collector (here a small HTTP server that keeps what it receives)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from sqlalchemy.ext.asyncio import AsyncEngine

from settings import ROOT, Settings
from tests.frozen import frozen_command
from tests.servers import HOST, free_port, wait_healthy

QUERY = "query Exported { __typename }"


class Collector(ThreadingHTTPServer):
    received: list[tuple[str, str, bytes]]


class _Handler(BaseHTTPRequestHandler):
    server: Collector

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        self.server.received.append((self.path, self.headers.get("content-type", ""), body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[Collector]:
    server = Collector((HOST, 0), _Handler)
    server.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


async def test_spans_are_exported_over_otlp(
    settings: Settings, engine: AsyncEngine, collector: Collector
) -> None:
    # given
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "PORTAL_VAR_DIR": str(settings.var_dir),
        "MAIL_SENDER_ENABLED": "0",
        "PORTAL_ENV": "test",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{HOST}:{collector.server_address[1]}",
        "OTEL_SERVICE_NAME": "portal-under-test",
    }
    env.pop("REDIS_URL", None)
    command = frozen_command(
        [sys.executable, "-m", "cli", "serve", "--host", HOST, "--port", str(port)]
    )
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await wait_healthy(f"http://{HOST}:{port}", lambda: process.returncode is not None)
        async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}") as http:
            # when
            response = await http.post("/graphql", json={"query": QUERY})
        process.send_signal(signal.SIGTERM)  # the batch is flushed when the process ends
        await asyncio.wait_for(process.wait(), 20)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    # then
    assert response.status_code == 200
    assert collector.received, "nothing exported"
    names, services = set(), set()
    for path, content_type, body in collector.received:
        assert path == "/v1/traces" and content_type == "application/x-protobuf"
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            for attribute in resource_spans.resource.attributes:
                if attribute.key == "service.name":
                    services.add(attribute.value.string_value)
            for scope_spans in resource_spans.scope_spans:
                names.update(span.name for span in scope_spans.spans)
    assert {"POST /graphql", "query Exported"} <= names
    assert services == {"portal-under-test"}
