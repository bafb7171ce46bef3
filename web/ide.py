"""GraphiQL served by the app, scripts and styles included, so that it works where browsers
reach no CDN (corporate networks, air-gapped installs): `page()` is the HTML answered at
`/graphql` and `asset()` answers `/graphiql/{name}`, its scripts and styles.

The third-party bundles (GraphiQL's UMD build, React 18) come from the npm packages pinned in
`web/graphiql/package-lock.json`, which `make install` installs with `npm ci`; they are not
committed. Ours (`portal.js`, `portal.css`) add a bar to sign in or paste a token that every
request, introspection included, then carries. When the bundles are not installed the page says
so and how to install them. Only the files named here are served, never the whole folder."""

from __future__ import annotations

import gzip
import hashlib
import html
from functools import lru_cache
from pathlib import Path

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response

ROOT = Path(__file__).parent.parent
FOLDER = ROOT / "web" / "graphiql"
PACKAGES = FOLDER / "node_modules"

# name under /graphiql/ -> file
VENDOR = {
    "react.js": PACKAGES / "react" / "umd" / "react.production.min.js",
    "react-dom.js": PACKAGES / "react-dom" / "umd" / "react-dom.production.min.js",
    "graphiql.js": PACKAGES / "graphiql" / "graphiql.min.js",
    "graphiql.css": PACKAGES / "graphiql" / "graphiql.min.css",
}
OWN = {
    "portal.js": FOLDER / "portal.js",
    "portal.css": FOLDER / "portal.css",
}
FILES = VENDOR | OWN

INSTALL_COMMAND = "make install"
INSTALL_FOLDER_COMMAND = "npm ci --prefix web/graphiql"

# Scripts only from this server (no inline script, no eval); GraphiQL sets inline styles;
# requests (HTTP and the subscriptions' WebSocket) only to this server.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
# An asset asked for with the current version (`?v=`, which changes with any served file) may
# be kept by the browser; asked for without it, it is checked again each time.
CACHED = "public, max-age=31536000, immutable"
UNCACHED = "no-cache"

NOT_INSTALLED = """<!doctype html>
<html lang="en">
  <head><meta charset="utf-8" /><title>GraphiQL is not installed</title></head>
  <body>
    <h1>GraphiQL is not installed on this server</h1>
    <p>The API works; only its in-browser IDE is missing. Its scripts are served by the API
    itself (never from the internet) once installed where the API runs:</p>
    <pre>{install}</pre>
    <p>(or <code>{install_folder}</code>, which needs Node.js and npm), then reload this page.</p>
    <p>Missing: {missing}.</p>
  </body>
</html>
"""


def installed() -> bool:
    return all(path.is_file() for path in VENDOR.values())


def version() -> str:
    """Changes whenever a served file may have: the pinned packages (lock file) or our files;
    a digest of a few small files (the page is opened rarely; nothing is cached per process,
    so an upgrade shows on the next visit)."""
    digest = hashlib.sha256()
    for path in (FOLDER / "package-lock.json", FOLDER / "index.html", *OWN.values()):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def shown(path: Path) -> str:
    """A path as shown to visitors: inside the checkout, never the server's own folders."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name


def page() -> Response:
    """The GraphiQL page, or an explanation with the command that installs its scripts."""
    if not installed():
        missing = ", ".join(
            html.escape(shown(path)) for path in VENDOR.values() if not path.is_file()
        )
        body = NOT_INSTALLED.format(
            install=html.escape(INSTALL_COMMAND),
            install_folder=html.escape(INSTALL_FOLDER_COMMAND),
            missing=missing,
        )
        return HTMLResponse(body, headers=PAGE_HEADERS)
    template = (FOLDER / "index.html").read_text(encoding="utf-8")
    return HTMLResponse(template.replace("__VERSION__", version()), headers=PAGE_HEADERS)


async def asset(request: Request) -> Response:
    """GET /graphiql/{name}: one of FILES, gzipped when the browser takes it."""
    path = FILES.get(request.path_params["name"])
    if path is None or not path.is_file():
        return PlainTextResponse("Not Found", status_code=404)
    headers = {
        "Cache-Control": CACHED if request.query_params.get("v") == version() else UNCACHED,
        "X-Content-Type-Options": "nosniff",
        "Vary": "Accept-Encoding",
    }
    media_type = MEDIA_TYPES[path.suffix]
    if accepts_gzip(request.headers.get("accept-encoding")):
        stat = path.stat()
        # compressed once per file version, off the event loop (GraphiQL's bundle: ~0.5 s)
        body = await anyio.to_thread.run_sync(gzipped, path, stat.st_mtime_ns, stat.st_size)
        headers["Content-Encoding"] = "gzip"
        return Response(body, media_type=media_type, headers=headers)
    return FileResponse(path, media_type=media_type, headers=headers)


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether `Accept-Encoding` takes gzip (named, and not with `q=0`)."""
    for part in (accept_encoding or "").lower().split(","):
        coding, _, params = part.partition(";")
        if coding.strip() != "gzip":
            continue
        name, _, value = params.strip().partition("=")
        if name.strip() != "q":
            return True
        try:
            return float(value) > 0
        except ValueError:
            return False
    return False


@lru_cache(maxsize=len(FILES))
def gzipped(path: Path, mtime_ns: int, size: int) -> bytes:
    """The file gzipped, kept in memory per (path, modification time, size): about 1.1 MB for
    all of them (GraphiQL's bundle is 3.5 MB, 0.7 MB gzipped)."""
    return gzip.compress(path.read_bytes(), compresslevel=6, mtime=0)
