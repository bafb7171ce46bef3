"""Every application module can be imported first, in a fresh interpreter: no import circle
that only works in one order. (The import graph does not depend on the database, so this runs
on SQLite only.)"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(
    os.environ.get("DATABASE_URL", "").startswith("postgresql"),
    reason="the import graph is the same on every database (runs with SQLite)",
)

# Heavy third-party packages imported once by the parent before it forks a child per module:
# they import nothing of ours, so preloading them changes no project import order.
PRELOAD = (
    "strawberry",
    "graphql",
    "sqlalchemy.ext.asyncio",
    "starlette.applications",
    "redis.asyncio",
    "httpx",
    "joserfc.jwt",
    "holidays",
)

CHILD = """
import importlib, os, sys, traceback
for name in {preload!r}:
    importlib.import_module(name)
failed = []
for module in sys.argv[1:]:
    pid = os.fork()
    if pid == 0:
        try:
            importlib.import_module(module)
        except BaseException:
            traceback.print_exc()
            os._exit(1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    if status != 0:
        failed.append(module)
print("FAILED:" + ",".join(failed))
"""


def application_modules() -> list[str]:
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return sorted(
        path.removesuffix(".py").replace("/", ".")
        for path in files
        if not path.startswith(("tests/", "bench/"))
        and "/migrations/" not in path
        and not path.endswith("__init__.py")
    )


def test_every_module_imports_first_in_a_fresh_interpreter() -> None:
    # given
    modules = application_modules()
    assert "resolvers.tickets" in modules and "schema.root" in modules
    # when
    result = subprocess.run(
        [sys.executable, "-c", CHILD.format(preload=PRELOAD), *modules],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    # then
    assert result.returncode == 0, result.stderr[-3000:]
    failed = result.stdout.strip().rpartition("FAILED:")[2]
    assert failed == "", f"modules that fail when imported first: {failed}\n{result.stderr[-3000:]}"
