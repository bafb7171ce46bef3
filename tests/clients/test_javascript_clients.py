"""Standard JavaScript clients against a real uvicorn server: `tests/clients/js/run.mjs` signs
in, pages the devices with Apollo Client (InMemoryCache + relayStylePagination) and receives a
ticketUpdated event over graphql-ws. Needs node and `npm ci --prefix tests/clients/js` (`make
install` runs it when npm exists); without them the test is skipped, except in CI (CI=true),
where it fails."""

from __future__ import annotations

import asyncio
import json
import os
import shutil

import pytest

from demo.fleet import DEMO_PASSWORD
from tests.clients.conftest import ADMIN, AGENT, Server
from tests.conftest import ROOT

JS = ROOT / "tests" / "clients" / "js"


@pytest.fixture
def node() -> str:
    """The node executable (set up before the server, so a skip starts nothing)."""
    node = shutil.which("node")
    missing = None
    if node is None:
        missing = "node is not installed"
    elif not (JS / "node_modules").is_dir():
        missing = "tests/clients/js/node_modules is absent (run `npm ci --prefix tests/clients/js`)"
    if missing is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"JavaScript client tests cannot run in CI: {missing}")
        pytest.skip(missing)
    assert node is not None
    return node


async def test_apollo_client_and_graphql_ws(node: str, server: Server) -> None:
    # when
    process = await asyncio.create_subprocess_exec(
        node,
        str(JS / "run.mjs"),
        "--url",
        f"http://{server.address}",
        "--email",
        ADMIN,
        "--password",
        DEMO_PASSWORD,
        "--agent-email",
        AGENT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), 60)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    # then
    assert process.returncode == 0, f"run.mjs failed:\n{err.decode()}\n{out.decode()}"
    report = json.loads(out.decode().strip().splitlines()[-1])
    assert report["ok"] is True
    assert report["pages"] > 1
    assert report["event"]["kind"] == "COMMENTED"
