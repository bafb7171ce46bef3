"""A load generator light enough not to be the bottleneck: keep-alive HTTP/1.1 connections
over raw asyncio streams, each sending one prepared request after the other for a fixed time.

Besides requests per second it reads the server process's CPU time from /proc before and
after, so figures can be compared per request on the server's side, whatever the client costs
or the machine's other load."""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Load:
    requests: int
    seconds: float
    server_cpu: float  # seconds of CPU the server process used during the run
    latencies: tuple[float, ...]

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    @property
    def cpu_ms(self) -> float:
        """Server CPU per request, in ms."""
        return self.server_cpu / max(self.requests, 1) * 1000

    @property
    def median_ms(self) -> float:
        return statistics.median(self.latencies) * 1000 if self.latencies else float("nan")


@contextlib.contextmanager
def server(
    command: list[str], env: Mapping[str, str], cwd: str | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """A server process for the length of a benchmark, stopped (or killed) at the end."""
    process = subprocess.Popen(command, cwd=cwd, env={**os.environ, **env})
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of `pid` (and its reaped children) so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / TICK


def request_bytes(
    host: str, path: str, body: bytes, headers: Mapping[str, str] | None = None
) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in (headers or {}).items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)


async def hammer(
    host: str,
    port: int,
    requests: Callable[[int], bytes] | bytes,
    *,
    connections: int,
    seconds: float,
    server_pid: int,
    check: Callable[[int, bytes], None] | None = None,
) -> Load:
    """Sends requests on `connections` connections for `seconds`; `requests` is one prepared
    request or a function of a running number making each one. `check(status, body)` may raise
    to fail the run on a wrong answer."""
    make = requests if callable(requests) else (lambda _: requests)
    counter = iter(range(10**12))
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def one_connection() -> int:
        reader, writer = await asyncio.open_connection(host, port)
        done = 0
        try:
            while time.perf_counter() < deadline:
                sent = time.perf_counter()
                writer.write(make(next(counter)))
                status, body = await _read_response(reader)
                latencies.append(time.perf_counter() - sent)
                if check is not None:
                    check(status, body)
                elif status != 200:
                    raise RuntimeError(f"HTTP {status}: {body[:300]!r}")
                done += 1
        finally:
            writer.close()
        return done

    cpu, started = process_cpu(server_pid), time.perf_counter()
    counts = await asyncio.gather(*(one_connection() for _ in range(connections)))
    elapsed, used = time.perf_counter() - started, process_cpu(server_pid) - cpu
    return Load(sum(counts), elapsed, used, tuple(latencies))
