"""GraphiQL is served by the app, scripts and styles included (no CDN): the page at /graphql,
its files under /graphiql/ (only those named in web/ide.py), an explanation with the install
command when the third-party bundles are absent, nothing when introspection is off. (The page
working in a browser: tests/clients/test_graphiql_browser.py.)"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ClientFactory
from web import ide

HTML = {"Accept": "text/html"}


@pytest.fixture
def bundles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, bytes]]:
    """Stand-ins for the npm bundles, so that these tests do not depend on `npm ci`."""
    contents = {}
    for name in ide.VENDOR:
        content = f"/* {name} */\n".encode() + b"x" * 5000
        path = tmp_path / name
        path.write_bytes(content)
        contents[name] = content
        monkeypatch.setitem(ide.VENDOR, name, path)
        monkeypatch.setitem(ide.FILES, name, path)
    yield contents


async def test_page_loads_its_scripts_and_styles_from_this_server(
    http: httpx.AsyncClient, bundles: dict[str, bytes]
) -> None:
    # when
    page = await http.get("/graphql", headers=HTML)
    # then
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "connect-src 'self'" in policy
    assert "unsafe-eval" not in policy
    assert "<script>" not in page.text  # no inline script
    assert not re.search(r"(src|href)=\"(https?:)?//", page.text)  # nothing from elsewhere
    urls = re.findall(r"(?:src|href)=\"(graphiql/[^\"]+)\"", page.text)
    names = {url.split("/")[1].split("?")[0] for url in urls}
    assert names == set(ide.FILES)
    for url in urls:
        asset = await http.get(f"/{url}")
        assert asset.status_code == 200, url
        assert asset.headers["cache-control"] == ide.CACHED
        kind = "javascript" if url.split("?")[0].endswith(".js") else "css"
        assert kind in asset.headers["content-type"]


async def test_page_says_how_to_install_missing_bundles(
    http: httpx.AsyncClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    monkeypatch.setitem(ide.VENDOR, "graphiql.js", tmp_path / "absent.js")
    # when
    page = await http.get("/graphql", headers=HTML)
    # then
    assert page.status_code == 200
    assert "GraphiQL is not installed" in page.text
    assert "make install" in page.text
    assert "npm ci --prefix web/graphiql" in page.text
    assert "<script" not in page.text


async def test_only_the_named_files_are_served(
    http: httpx.AsyncClient, bundles: dict[str, bytes]
) -> None:
    # when
    answers = {
        name: (await http.get(f"/graphiql/{name}")).status_code
        for name in (
            "package.json",
            "package-lock.json",
            "index.html",
            "..%2Fide.py",
            "node_modules",
            "graphiql.min.js",
        )
    }
    # then
    assert set(answers.values()) == {404}, answers


async def test_bundles_are_gzipped_for_browsers_that_take_it(
    http: httpx.AsyncClient, bundles: dict[str, bytes]
) -> None:
    # when
    zipped = await http.get("/graphiql/graphiql.js", headers={"Accept-Encoding": "gzip, br"})
    plain = await http.get("/graphiql/graphiql.js", headers={"Accept-Encoding": "identity"})
    refused = await http.get("/graphiql/graphiql.js", headers={"Accept-Encoding": "gzip;q=0"})
    # then
    assert zipped.headers["content-encoding"] == "gzip"
    assert int(zipped.headers["content-length"]) < len(bundles["graphiql.js"]) / 10
    assert zipped.content == bundles["graphiql.js"]  # httpx decoded it
    assert "content-encoding" not in plain.headers
    assert plain.content == bundles["graphiql.js"]
    assert "content-encoding" not in refused.headers
    assert gzip.decompress(gzip.compress(plain.content)) == zipped.content


async def test_an_asset_of_another_version_is_checked_again(
    http: httpx.AsyncClient, bundles: dict[str, bytes]
) -> None:
    # when
    stale = await http.get("/graphiql/portal.js?v=0123456789abcdef")
    unversioned = await http.get("/graphiql/portal.css")
    # then
    assert stale.status_code == unversioned.status_code == 200
    assert stale.headers["cache-control"] == unversioned.headers["cache-control"] == "no-cache"


async def test_no_ide_and_no_scripts_when_introspection_is_off(
    client_with: ClientFactory, bundles: dict[str, bytes]
) -> None:
    # given
    async with client_with(graphql_introspection="off") as gql:
        # when
        page = await gql.http.get("/graphql", headers=HTML)
        script = await gql.http.get("/graphiql/portal.js")
    # then
    assert page.status_code == 404
    assert script.status_code == 404
