"""Smoke test of the running compose stack (deploy/smoke.sh starts it): probes, a sign-in
through the proxy, the same token accepted by both API containers (one signing key, one
database), the request id header, the metrics (token-protected on a container, hidden at the
proxy). With `--during-stop "<command>"`: requests keep succeeding through the proxy while the
command stops an API container. Standard library only."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any

PROXY = os.environ.get("SMOKE_PROXY_URL", "http://127.0.0.1:8080")
WORKERS = os.environ.get("SMOKE_API_URLS", "http://127.0.0.1:8001,http://127.0.0.1:8002").split(",")
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "change-me-metrics-token")
LOGIN = """mutation SignIn($input: LoginInput!) {
  login(input: $input) { accessToken userErrors { code } } }"""
DEVICES = "query Fleet { devices(first: 3) { totalCount } }"


def call(
    url: str, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def graphql(base: str, query: str, variables: dict[str, Any], token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    status, response_headers, body = call(
        f"{base}/graphql", {"query": query, "variables": variables}, headers
    )
    check(status == 200, f"{base}/graphql answered {status}: {body[:300]!r}")
    check(
        "X-Request-Id" in response_headers or "x-request-id" in response_headers, "no X-Request-Id"
    )
    decoded = json.loads(body)
    check(not decoded.get("errors"), f"errors: {decoded.get('errors')}")
    return decoded["data"]


def check(condition: bool, message: str) -> None:
    if not condition:
        print(f"FAILED: {message}", file=sys.stderr)
        sys.exit(1)


def smoke() -> None:
    status, _, body = call(f"{PROXY}/healthz")
    check(status == 200 and body == b"ok", f"proxy /healthz: {status} {body!r}")
    for worker in WORKERS:
        status, _, body = call(f"{worker}/readyz")
        ready = json.loads(body)
        check(status == 200, f"{worker}/readyz: {status} {ready}")
        check(ready == {"status": "ready", "database": "ok", "redis": "ok"}, f"{ready}")
    signed_in = graphql(
        PROXY,
        LOGIN,
        {"input": {"email": "admin@acme.example", "password": "demo-password"}},
    )["login"]
    check(signed_in["userErrors"] == [], f"sign-in: {signed_in}")
    token = signed_in["accessToken"]
    counts = {w: graphql(w, DEVICES, {}, token)["devices"]["totalCount"] for w in WORKERS}
    check(len(set(counts.values())) == 1 and min(counts.values()) > 0, f"devices: {counts}")
    status, _, body = call(
        f"{WORKERS[0]}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
    )
    check(status == 200 and b"portal_graphql_requests_total{" in body, f"metrics: {status}")
    check(b'operation_name="Fleet"' in body, "metrics count the Fleet query")
    status, _, _ = call(f"{WORKERS[0]}/metrics")
    check(status == 401, f"metrics without the token: {status}")
    status, _, _ = call(f"{PROXY}/metrics")
    check(status == 404, f"metrics through the proxy: {status}")
    print(f"ok: probes, sign-in, {len(WORKERS)} workers agree ({counts}), metrics")


def during_stop(command: str) -> None:
    """Requests through the proxy while `command` stops a container: none may fail."""
    stopper = subprocess.Popen(shlex.split(command))
    failures, sent = [], 0
    while stopper.poll() is None or sent < 20:
        # GET: idempotent, so the proxy may retry it on the other container when the stopping
        # one closes a kept-alive connection under it (as it does for a refused connection)
        status, _, body = call(f"{PROXY}/graphql?query=%7B__typename%7D")
        sent += 1
        if status != 200:
            failures.append((status, body[:200]))
        time.sleep(0.05)
    check(stopper.returncode == 0, f"{command!r} exited {stopper.returncode}")
    check(not failures, f"{len(failures)} of {sent} requests failed: {failures[:3]}")
    print(f"ok: {sent} requests served while {command!r} ran")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--during-stop", metavar="COMMAND")
    args = parser.parse_args()
    if args.during_stop:
        during_stop(args.during_stop)
    else:
        smoke()
