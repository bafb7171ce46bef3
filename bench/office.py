"""A busy office: 50 concurrent sign-ins and 50 concurrent ticket creations against one uvicorn
server (in this process), on a fresh database that commits for real. Prints the wall time and
the answers by kind (ok, refused with a code, INTERNAL), and the audit entries written.

    .venv/bin/python bench/office.py                       # a fresh SQLite file in a tmp dir
    DATABASE_URL=postgresql+asyncpg://…/<db> .venv/bin/python bench/office.py   # empties <db>
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from settings import Settings
from tests.concurrency.office import fresh_database, run_office


async def main() -> None:
    with tempfile.TemporaryDirectory() as var_dir:
        url = os.environ.get("DATABASE_URL") or f"sqlite+aiosqlite:///{var_dir}/office.sqlite3"
        settings = replace(
            Settings.from_env(),
            database_url=url,
            var_dir=Path(var_dir),
            environment="test",
            smtp_url=None,
            redis_url=None,
            oidc_issuer=None,
        )
        async with fresh_database(settings) as engine:
            for _ in range(int(os.environ.get("RUNS", "3"))):
                report = await run_office(settings, engine, sign_ins=50, tickets=50)
                print(report.summary())


if __name__ == "__main__":
    asyncio.run(main())
