"""Sign-in, rotating refresh tokens, sign-out, and machine-client tokens."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from asyncio import to_thread
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

import i18n
from auth.backend import CLIENT_SUBJECT_PREFIX, USER_SUBJECT_PREFIX
from auth.passwords import hash_password, needs_rehash, verify_password
from auth.principal import Principal
from auth.tokens import hash_secret, new_opaque_token
from core import clock
from core.errors import Throttled, UserError
from models import ApiClient, LoginThrottle, RefreshToken, User
from models.session import begin_writing
from resolvers.audit import audit
from resolvers.one_time import spend
from resolvers.scoping import Scope, build_scope

if TYPE_CHECKING:
    from resolvers.context import Context
    from settings import Settings


WEB_CLIENT_ID = "portal-web"


@dataclass(frozen=True)
class Tokens:
    access_token: str
    expires_at: datetime
    refresh_token: str | None
    scope: Scope


def normalise_email(email: str) -> str:
    return email.strip().lower()


def client_address(context: Context) -> str:
    client = context.request.client
    return client.host if client is not None else "unknown"


async def _check_throttle(context: Context, keys: list[str]) -> None:
    now = clock.now()
    rows = await context.session.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(keys)))
    for row in rows:
        if row.locked_until is not None and row.locked_until > now:
            seconds = int((row.locked_until - now).total_seconds()) + 1
            raise Throttled(
                i18n.translate("THROTTLED", context.language, seconds=seconds), retryAfter=seconds
            )


# Several people share a client address (an office behind NAT): it may fail this many times
# more often than one e-mail address before it is locked.
ADDRESS_LIMIT_FACTOR = 4
# First delay after a failure; it doubles with each further failure (capped).
FAILURE_DELAY_SECONDS = 0.05
MAX_FAILURE_DELAY_SECONDS = 2.0


def _limit(key: str, settings: Settings) -> int:
    factor = ADDRESS_LIMIT_FACTOR if key.startswith("ip:") else 1
    return max(1, settings.login_max_failures) * factor


async def _record_failure(context: Context, keys: list[str]) -> int:
    """Counts failures per key; at the limit the key is locked for a while. Committed at once,
    so the count survives the mutation's error answer. Returns how far along the worst key is
    (in e-mail-sized steps), for the slow-down."""
    settings = context.settings
    now = clock.now()
    session = context.session
    level = 0
    for key in keys:  # always in the same order (account key, then address): no deadlock
        row = await _locked_throttle_row(session, key, now)
        if now - row.window_started_at > timedelta(seconds=settings.login_lockout_seconds):
            row.failures, row.window_started_at, row.locked_until = 0, now, None
        row.failures += 1
        limit = _limit(key, settings)
        if row.failures >= limit:
            row.locked_until = now + timedelta(seconds=settings.login_lockout_seconds)
        level = max(level, -(-row.failures * settings.login_max_failures // limit))
    await session.commit()
    return level


# Throttle keys are stored (login_throttles.key, 300 characters): what a caller sends is
# hashed when longer than this, so any text counts against the same key and fits.
MAX_THROTTLE_VALUE = 200


def throttle_key(kind: str, value: str) -> str:
    if len(value) > MAX_THROTTLE_VALUE:
        value = "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{kind}:{value}"


async def _locked_throttle_row(session: AsyncSession, key: str, now: datetime) -> LoginThrottle:
    """The key's row, locked for this transaction (PostgreSQL), created if missing; two workers
    creating it at once do not fail, the loser reads the winner's row."""
    options = {"with_for_update": True, "populate_existing": True}
    row = await session.get(LoginThrottle, key, **options)  # type: ignore[arg-type]
    if row is not None:
        return row
    try:
        async with session.begin_nested():
            row = LoginThrottle(key=key, failures=0, window_started_at=now)
            session.add(row)
        return row
    except IntegrityError:
        row = await session.get(LoginThrottle, key, **options)  # type: ignore[arg-type]
        assert row is not None
        return row


async def _issue(context: Context, user: User, family_id: str | None = None) -> Tokens:
    settings = context.settings
    access, expires = context.services.tokens.issue_access_token(
        f"{USER_SUBJECT_PREFIX}{user.id}", WEB_CLIENT_ID
    )
    refresh = new_opaque_token()
    context.session.add(
        RefreshToken(
            user_id=user.id,
            family_id=family_id or str(uuid.uuid4()),
            token_hash=hash_secret(refresh),
            expires_at=clock.now() + timedelta(seconds=settings.refresh_token_ttl_seconds),
        )
    )
    principal = Principal(user_id=user.id, token_expires_at=expires)
    context.principal = principal
    scope = await build_scope(principal, context.session)
    return Tokens(access, datetime.fromtimestamp(expires, UTC), refresh, scope)


async def login(context: Context, email: str, password: str) -> Tokens:
    """Reads, then checks the password outside any transaction (some 0.2 s of CPU, in a thread
    so the server goes on answering), then writes in a transaction that is a writer from its
    start (`begin_writing`: on SQLite the write lock is held for the writes only, not for the
    password check); the user is read again there, as they may have changed meanwhile."""
    session = context.session
    email = normalise_email(email)
    keys = [throttle_key("email", email), throttle_key("ip", client_address(context))]
    await _check_throttle(context, keys)
    user = await session.scalar(select(User).where(func.lower(User.email) == email))
    password_hash = user.password_hash if user else None
    await session.commit()  # ends the reads (nothing written): no connection held meanwhile
    ok = await to_thread(verify_password, password_hash, password)
    new_hash = None
    if ok and password_hash and needs_rehash(password_hash):
        new_hash = await to_thread(hash_password, password)
    await begin_writing(session)
    if ok and user is not None:
        await session.refresh(user)
    if not ok or user is None or not user.is_active or user.email_confirmed_at is None:
        level = await _record_failure(context, keys)
        # Slow repeated guesses down before the lock-out takes over.
        await asyncio.sleep(
            min(FAILURE_DELAY_SECONDS * 2 ** (level - 1), MAX_FAILURE_DELAY_SECONDS)
        )
        raise UserError("INVALID_CREDENTIALS", "password")
    await session.execute(
        update(LoginThrottle)
        .where(LoginThrottle.key == keys[0])
        .values(failures=0, locked_until=None)
    )
    if new_hash is not None and user.password_hash == password_hash:
        user.password_hash = new_hash
    tokens = await _issue(context, user)
    audit(context, "login", "User", user.id, user_id=user.id)
    return tokens


async def refresh(context: Context, refresh_token: str) -> Tokens:
    """Rotates a refresh token. The first use spends it and returns its successor. Presented
    again within `refresh_reuse_grace_seconds` of that first use (two tabs refreshing at once,
    an app retrying after a timeout), it returns a sibling: a new token of the same family, so
    the login stays valid and each caller holds a working token. Presented later, it was stolen
    or replayed: the whole family is revoked and the reuse audited."""
    session = context.session
    digest = hash_secret(refresh_token)
    now = clock.now()
    # Claim the token with a conditional write first: on PostgreSQL it takes the row lock (a
    # concurrent refresh waits, then finds it spent); on SQLite it takes the write lock before
    # anything is read, so no transaction decides on a stale read.
    spent_now = await spend(
        session,
        RefreshToken.used_at,
        now,
        RefreshToken.token_hash == digest,
        RefreshToken.revoked_at.is_(None),
        RefreshToken.expires_at > now,
    )
    row = await session.scalar(
        select(RefreshToken)
        .where(RefreshToken.token_hash == digest)
        .execution_options(populate_existing=True)
    )
    if row is None or row.revoked_at is not None:  # unknown, or the login was ended
        raise UserError("INVALID_REFRESH_TOKEN", "refreshToken")
    if not spent_now and row.used_at is not None:
        grace = timedelta(seconds=context.settings.refresh_reuse_grace_seconds)
        if now - row.used_at > grace:
            await _revoke_reused_family(context, row, now)
            raise UserError("INVALID_REFRESH_TOKEN", "refreshToken")
        if row.expires_at <= now:
            raise UserError("INVALID_REFRESH_TOKEN", "refreshToken")
        audit(
            context,
            "refresh_token_reuse_within_grace",
            "User",
            row.user_id,
            {"family": row.family_id},
            user_id=row.user_id,
        )
    elif not spent_now:  # never used, but expired
        raise UserError("INVALID_REFRESH_TOKEN", "refreshToken")
    user = await session.get(User, row.user_id)
    if user is None or not user.is_active:
        raise UserError("INVALID_REFRESH_TOKEN", "refreshToken")
    return await _issue(context, user, family_id=row.family_id)


async def _revoke_reused_family(context: Context, row: RefreshToken, now: datetime) -> None:
    """A spent token presented after the grace window: it was stolen or replayed. Ends the
    whole login, audited, committed before the refusal rolls the transaction back."""
    session = context.session
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == row.family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    audit(
        context,
        "refresh_token_reuse",
        "User",
        row.user_id,
        {"family": row.family_id},
        user_id=row.user_id,
    )
    await session.commit()


async def logout(context: Context, refresh_token: str | None, everywhere: bool) -> bool:
    session = context.session
    scope = await context.require_scope()
    now = clock.now()
    stmt = update(RefreshToken).where(
        RefreshToken.user_id == scope.user_id, RefreshToken.revoked_at.is_(None)
    )
    if not everywhere:
        if refresh_token is None:
            return False
        family = await session.scalar(
            select(RefreshToken.family_id).where(
                RefreshToken.token_hash == hash_secret(refresh_token),
                RefreshToken.user_id == scope.user_id,
            )
        )
        if family is None:
            return False
        stmt = stmt.where(RefreshToken.family_id == family)
    await session.execute(stmt.values(revoked_at=now))
    audit(context, "logout", "User", scope.user_id, {"everywhere": everywhere})
    return True


async def client_token(context: Context, client_id: str, client_secret: str) -> Tokens:
    """OAuth 2.0 client-credentials, for machine integrations such as e-Maintenance. The secret
    is checked like a password in `login`: outside any transaction, in a thread."""
    session = context.session
    keys = [throttle_key("client", client_id), throttle_key("ip", client_address(context))]
    await _check_throttle(context, keys)
    client = await session.scalar(
        select(ApiClient).where(ApiClient.client_id == client_id, ApiClient.is_active)
    )
    await session.commit()  # ends the reads (nothing written)
    secret_hash = client.secret_hash if client else None
    ok = await to_thread(verify_password, secret_hash, client_secret)
    await begin_writing(session)
    if not ok or client is None:
        await _record_failure(context, keys)
        raise UserError("INVALID_CLIENT", "clientSecret")
    access, expires = context.services.tokens.issue_access_token(
        f"{CLIENT_SUBJECT_PREFIX}{client.id}", client.client_id, scope=" ".join(client.scopes)
    )
    principal = Principal(api_client_id=client.id, token_expires_at=expires)
    context.principal = principal
    scope = await build_scope(principal, context.session)
    return Tokens(access, datetime.fromtimestamp(expires, UTC), None, scope)
