"""Fixtures for identity and access tests: direct access to the app's token service (apps with
adjusted settings: `client_with` in tests/conftest.py)."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette

from auth.tokens import TokenService


@pytest.fixture
def tokens(app: Starlette) -> TokenService:
    return app.state.services.tokens  # type: ignore[no-any-return]
