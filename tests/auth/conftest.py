"""Fixtures for identity and access tests: direct access to the app's token service (apps with
adjusted settings: `client_with` in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
import time_machine
from starlette.applications import Starlette

from auth.tokens import TokenService
from core import clock
from settings import Settings


@pytest.fixture
def tokens(app: Starlette) -> TokenService:
    return app.state.services.tokens  # type: ignore[no-any-return]


@contextmanager
def after_grace(settings: Settings) -> Iterator[None]:
    """The clock moved just past the refresh-token reuse grace window (ticking on from there):
    a spent refresh token presented now is a replay."""
    later = clock.now() + timedelta(seconds=settings.refresh_reuse_grace_seconds + 1)
    with time_machine.travel(later, tick=True):
        yield
