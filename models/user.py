"""People, their memberships in accounts, invitations, and the secrets that identify them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, BigId, IdMixin, TimestampMixin, str_enum
from models.enums import MembershipStatus, Role, TokenPurpose


class User(IdMixin, TimestampMixin, Base):
    __tablename__ = "users"

    # Stored lower-cased; the unique index is the one source of truth for "already registered".
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    language: Mapped[str] = mapped_column(String(2), default="en")
    # Vendor staff: not a member of customer accounts, sees every account.
    is_agent: Mapped[bool] = mapped_column(default=False)
    is_active: Mapped[bool] = mapped_column(default=True)
    email_confirmed_at: Mapped[datetime | None] = mapped_column()
    # Subject of an external OpenID Connect identity mapped to this user.
    external_subject: Mapped[str | None] = mapped_column(String(255), unique=True)
    # Changes (to a value never used before) with every change of this user's row, memberships
    # or assignments, in the same transaction: database triggers, see the migration
    # 20261207_d5a8e3c1f742. Cached scopes are keyed on it (resolvers/scoping.ScopeCache).
    scope_version: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class Membership(IdMixin, TimestampMixin, Base):
    """A user's role on one account (a user may hold different roles on different accounts)."""

    __tablename__ = "memberships"

    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[Role] = mapped_column(str_enum(Role, "role"))
    status: Mapped[MembershipStatus] = mapped_column(
        str_enum(MembershipStatus, "membership_status"), default=MembershipStatus.ACTIVE
    )
    version: Mapped[int] = mapped_column(default=1)

    __table_args__ = (
        UniqueConstraint("user_id", "account_id", name="uq_memberships_user_account"),
    )


class MembershipDevice(Base):
    """A device assigned to a (device) manager's membership."""

    __tablename__ = "membership_devices"

    membership_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("memberships.id", ondelete="CASCADE"), primary_key=True
    )
    device_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class MembershipStockLocation(Base):
    """A stock location assigned to a (device-)stock manager's membership."""

    __tablename__ = "membership_stock_locations"

    membership_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("memberships.id", ondelete="CASCADE"), primary_key=True
    )
    stock_location_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("stock_locations.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class ScopeEpoch(Base):
    """One row: changes (triggers) with every change of the account tree (an account added,
    removed or moved), which may change what every viewer reaches below its accounts."""

    __tablename__ = "scope_epoch"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)


class Invitation(IdMixin, TimestampMixin, Base):
    __tablename__ = "invitations"

    account_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(254))
    role: Mapped[Role] = mapped_column(str_enum(Role, "role"))
    device_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    stock_location_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    language: Mapped[str] = mapped_column(String(2), default="en")
    # Only the SHA-256 of the one-time token is kept.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by_user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    expires_at: Mapped[datetime] = mapped_column()
    accepted_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    sent_count: Mapped[int] = mapped_column(default=1)


class OneTimeToken(IdMixin, TimestampMixin, Base):
    """Hashed one-time link tokens (e-mail confirmation, password reset)."""

    __tablename__ = "one_time_tokens"

    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[TokenPurpose] = mapped_column(str_enum(TokenPurpose, "token_purpose"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class RefreshToken(IdMixin, TimestampMixin, Base):
    """Rotating refresh tokens; a family shares one login, so reuse of a spent token revokes
    the whole family."""

    __tablename__ = "refresh_tokens"

    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    family_id: Mapped[str] = mapped_column(String(36), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


class ApiClient(IdMixin, TimestampMixin, Base):
    """A machine credential (e.g. the e-Maintenance integration), with its own scopes."""

    __tablename__ = "api_clients"

    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    secret_hash: Mapped[str] = mapped_column(String(255))
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    is_active: Mapped[bool] = mapped_column(default=True)


class LoginThrottle(Base):
    """Failed sign-ins per key (an e-mail or a client address), shared by every worker."""

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    window_started_at: Mapped[datetime] = mapped_column()
    locked_until: Mapped[datetime | None] = mapped_column()

    __table_args__ = (Index("ix_login_throttles_locked_until", "locked_until"),)
