"""The HTTP floor: a bare Starlette app under the same uvicorn, answering every POST /graphql
with a constant after reading the body. `bench/summary.py` compares the portal with it."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

ANSWER = b'{"data":{"__typename":"Query"}}'


async def graphql(request: Request) -> Response:
    await request.body()
    return Response(ANSWER, media_type="application/json")


app = Starlette(routes=[Route("/graphql", graphql, methods=["POST"])])
