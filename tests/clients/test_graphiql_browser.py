"""GraphiQL in a real headless browser, offline: `tests/clients/js/graphiql.mjs` drives Debian's
Chromium (playwright-core, never a downloaded browser) against a real uvicorn server, with every
request to another host refused. The editor renders from the server's own scripts; anonymous,
the docs explorer lists `login`; signed in through the page's form it lists `devices`, the
schema's introspection carrying the token; a query answers the signed-in e-mail; a pasted token
is checked, then carried likewise; with GraphiQL's script missing the page says so.

Needs node, `npm ci --prefix tests/clients/js` and `--prefix web/graphiql` (`make install`) and
/usr/bin/chromium (`make browser`, run by CI); without them the test is skipped, except in CI
(CI=true), where it fails."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from pathlib import Path

import pytest

from demo.fleet import DEMO_PASSWORD
from tests.clients.conftest import ADMIN, Server
from tests.conftest import ROOT
from web import ide

KNOWLEDGE_USER = "kb@acme.example"
JS = ROOT / "tests" / "clients" / "js"
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
def node() -> str:
    """The node executable, once everything the browser test needs is there (checked before
    the server starts, so a skip starts nothing)."""
    node = shutil.which("node")
    missing = None
    if node is None:
        missing = "node is not installed"
    elif not (JS / "node_modules" / "playwright-core").is_dir():
        missing = "playwright-core is absent (run `npm ci --prefix tests/clients/js`)"
    elif not CHROMIUM.is_file():
        missing = f"{CHROMIUM} is absent (run `make browser`: Debian's chromium package)"
    elif not ide.installed():
        missing = "GraphiQL's scripts are absent (run `npm ci --prefix web/graphiql`)"
    if missing is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"the GraphiQL browser test cannot run in CI: {missing}")
        pytest.skip(missing)
    assert node is not None
    return node


async def test_graphiql_offline_in_chromium(node: str, server: Server) -> None:
    # when
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        node,
        str(JS / "graphiql.mjs"),
        "--url",
        f"http://{server.address}",
        "--email",
        ADMIN,
        "--password",
        DEMO_PASSWORD,
        "--token-email",
        KNOWLEDGE_USER,
        "--chromium",
        str(CHROMIUM),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), 120)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    elapsed = time.monotonic() - started
    # then
    assert process.returncode == 0, f"graphiql.mjs failed:\n{err.decode()}\n{out.decode()}"
    report = json.loads(out.decode().strip().splitlines()[-1])
    print(f"GraphiQL in Chromium: {elapsed:.1f} s, steps (ms) {report['steps']}")
    assert report["ok"] is True
    assert report["foreignRequests"] == []
    assert report["pageErrors"] == []
    assert report["consoleErrors"] == []  # CSP refusals would show here
    assert report["result"]["data"] == {"viewer": {"user": {"email": ADMIN}}}
    # each explores its own schema: anonymous callers the viewer only, the knowledge user
    # knowledge and no devices, the administrator its fleet
    assert report["anonymousQueryFieldNames"] == ["viewer"]
    assert {"devices", "tickets", "accounts"} <= set(report["signedInQueryFieldNames"])
    assert sorted(report["pastedTokenQueryFieldNames"]) == [
        "bulkExport",
        "knowledgeArticles",
        "node",
        "nodes",
        "viewer",
    ]
    assert report["stored"] is True
    assert report["storedAfterSignOut"] is False
