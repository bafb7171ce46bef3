#!/usr/bin/env bash
# Builds the image, starts compose.yaml (PostgreSQL, Redis, setup, two API containers, proxy),
# runs deploy/smoke.py against it, stops one API container (graceful shutdown) while requests go
# on through the proxy, and removes everything. Skips (exit 0) when no container runtime is usable.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v docker >/dev/null 2>&1 || ! docker info >/dev/null 2>&1; then
  echo "skipped: no container runtime (docker info failed)"
  exit 0
fi
if ! docker compose version >/dev/null 2>&1; then
  echo "skipped: no container runtime (docker compose is not available)"
  exit 0
fi

project="portal-smoke-$$"
compose=(docker compose --project-name "$project" --file compose.yaml)
cleanup() {
  status=$?
  if [ "$status" -ne 0 ]; then
    "${compose[@]}" ps || true
    "${compose[@]}" logs --tail 80 || true
  fi
  "${compose[@]}" down --volumes --remove-orphans >/dev/null 2>&1 || true
  exit "$status"
}
trap cleanup EXIT

python=python3
[ -x .venv/bin/python ] && python=.venv/bin/python

echo "== building the image and starting the stack =="
"${compose[@]}" up --detach --build --wait --wait-timeout 300

echo "== smoke test =="
"$python" deploy/smoke.py

echo "== graceful shutdown of one API container while the proxy keeps serving =="
"$python" deploy/smoke.py --during-stop "${compose[*]} stop api1"

echo "smoke test passed"
