"""The SDL files committed beside the code: the full schema and one per named audience (each
role, the agent, each machine-client scope, anonymous callers), for client code generation and
for reviewing what each audience sees. `make schema` writes them; a test compares them."""

from __future__ import annotations

from auth.requirements import named_audiences
from schema.root import schema

FULL = "schema.graphql"
AUDIENCES_DIR = "audiences"


def audience_file(name: str) -> str:
    return f"{AUDIENCES_DIR}/{name.replace(':', '.')}.graphql"


def sdl_files() -> dict[str, str]:
    """Path under `schema/` -> its text."""
    files = {FULL: schema.as_str() + "\n"}
    for name, audience in named_audiences().items():
        files[audience_file(name)] = schema.for_audience(audience).as_str() + "\n"
    return files
