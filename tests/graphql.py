"""A small GraphQL client for tests: everything goes through the HTTP endpoint."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from core import clock
from demo.fleet import DEMO_PASSWORD

QUERY_LOGIN = """
mutation Login($input: LoginInput!) {
  login(input: $input) {
    accessToken refreshToken expiresAt
    userErrors { field message code }
  }
}
"""


@dataclass
class Response:
    status: int
    body: dict[str, Any]
    headers: httpx.Headers

    @property
    def data(self) -> Any:
        return self.body.get("data")

    @property
    def errors(self) -> list[dict[str, Any]]:
        return self.body.get("errors") or []

    @property
    def error_codes(self) -> list[str | None]:
        return [(e.get("extensions") or {}).get("code") for e in self.errors]


@dataclass
class GraphQLClient:
    http: httpx.AsyncClient

    async def __call__(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        as_user: str | None = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        all_headers = dict(headers or {})
        if as_user is not None:
            token = await self.token_for(as_user)
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=all_headers
        )
        return Response(response.status_code, response.json(), response.headers)

    async def login(self, email: str, password: str = DEMO_PASSWORD) -> dict[str, Any]:
        result = await self(QUERY_LOGIN, {"input": {"email": email, "password": password}})
        assert not result.errors, result.errors
        return result.data["login"]  # type: ignore[no-any-return]

    async def token_for(self, email: str) -> str:
        """Access tokens are stateless, so one sign-in per user serves the whole session (a new
        one when it nears its end, or when a test travelled back in time before its issue)."""
        cached = _TOKENS.get(email)
        now = clock.timestamp()
        if cached is None or cached[2] - now < 120 or now < cached[1]:
            issued = now
            payload = await self.login(email)
            assert payload["userErrors"] == [], payload
            expires = datetime.fromisoformat(payload["expiresAt"]).timestamp()
            cached = _TOKENS[email] = (payload["accessToken"], issued, expires)
        return cached[0]


_TOKENS: dict[str, tuple[str, float, float]] = {}


# What a document naming a field or mutation outside the caller's schema gets: refused by
# validation as an unknown name would be, before anything runs (`schema.audiences`).
NOT_IN_SCHEMA = ["GRAPHQL_VALIDATION_FAILED"]
