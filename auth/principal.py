"""Who is calling: the result of authenticating a request, before any database lookup."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Principal:
    """A person (user_id), a machine client (api_client_id) or nobody (anonymous)."""

    user_id: int | None = None
    api_client_id: int | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    token_expires_at: int | None = None
    # Why a presented token was not accepted (for a clearer UNAUTHENTICATED message).
    token_problem: str | None = None

    @property
    def is_anonymous(self) -> bool:
        return self.user_id is None and self.api_client_id is None


ANONYMOUS = Principal()
