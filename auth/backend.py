"""Request -> Principal: reads the bearer token (header, or the WebSocket connection_init
payload) and maps it to a user or a machine client."""

from __future__ import annotations

import logging

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from auth.principal import ANONYMOUS, Principal
from auth.tokens import (
    TOKEN_INVALID,
    TOKEN_UNVERIFIABLE,
    UNKNOWN_IDENTITY,
    AccessClaims,
    InvalidToken,
    TokenService,
)
from models import ApiClient, User

log = logging.getLogger(__name__)

USER_SUBJECT_PREFIX = "user:"
CLIENT_SUBJECT_PREFIX = "client:"


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def authenticate(
    token: str | None, tokens: TokenService, sessions: async_sessionmaker[AsyncSession]
) -> Principal:
    """A missing or untrusted token makes the caller anonymous (never an error by itself).
    A session is opened only for a provider's token (our own name the user themselves)."""
    if token is None:
        return ANONYMOUS
    try:
        claims = await tokens.verify(token)
    except InvalidToken as error:
        return Principal(token_problem=error.reason)
    except Exception:  # the external provider is unreachable: fail closed, not with a 500
        log.warning("access token could not be verified", exc_info=True)
        return Principal(token_problem=TOKEN_UNVERIFIABLE)
    if claims.external:
        async with sessions() as session:
            return await _external_principal(claims, session)
    return _own_principal(claims)


def _own_principal(claims: AccessClaims) -> Principal:
    kind, _, raw_id = claims.subject.partition(":")
    if not raw_id.isdigit():
        return Principal(token_problem=TOKEN_INVALID)
    if f"{kind}:" == USER_SUBJECT_PREFIX:
        return Principal(user_id=int(raw_id), token_expires_at=claims.expires_at)
    if f"{kind}:" == CLIENT_SUBJECT_PREFIX:
        return Principal(api_client_id=int(raw_id), token_expires_at=claims.expires_at)
    return Principal(token_problem=TOKEN_INVALID)


async def _external_principal(claims: AccessClaims, session: AsyncSession) -> Principal:
    """Map the provider's subject (or, the first time, its e-mail) to one of our users."""
    user_id = await session.scalar(
        select(User.id).where(User.external_subject == claims.subject, User.is_active)
    )
    if user_id is None and claims.email:
        user = await session.scalar(
            select(User).where(func.lower(User.email) == claims.email.lower(), User.is_active)
        )
        if user is not None and user.external_subject in (None, claims.subject):
            user.external_subject = claims.subject
            await session.commit()
            user_id = user.id
    if user_id is None:
        return Principal(token_problem=UNKNOWN_IDENTITY)
    return Principal(user_id=user_id, token_expires_at=claims.expires_at)


async def load_client(session: AsyncSession, api_client_id: int) -> ApiClient | None:
    return await session.scalar(
        select(ApiClient).where(ApiClient.id == api_client_id, ApiClient.is_active)
    )
