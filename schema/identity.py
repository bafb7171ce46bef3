"""Sign-in, token refresh and sign-out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from auth.requirements import PERSON, PUBLIC
from resolvers import identity
from schema.context import Info
from schema.mutations import Payload, transactional
from schema.permissions import mutation
from schema.viewer import Viewer


@strawberry.input(description="E-mail and password.")
class LoginInput:
    email: str = strawberry.field(description="Sign-in e-mail address.")
    password: str = strawberry.field(description="Password.")


@strawberry.input(description="The refresh token of the current login.")
class RefreshTokenInput:
    refresh_token: str = strawberry.field(description="The refresh token last received.")


@strawberry.input(description="What to sign out of.")
class LogoutInput:
    refresh_token: str | None = strawberry.field(
        default=None, description="End this login (the one holding this refresh token)."
    )
    everywhere: bool = strawberry.field(default=False, description="End every login of the user.")


@strawberry.input(description="Machine-client credentials (OAuth 2.0 client credentials).")
class ClientTokenInput:
    client_id: str = strawberry.field(description="Client identifier.")
    client_secret: str = strawberry.field(description="Client secret.")


@strawberry.type(description="Tokens for a signed-in caller.")
class AuthPayload(Payload):
    access_token: str | None = strawberry.field(
        default=None, description="Bearer access token (JWT, RFC 9068), short-lived."
    )
    token_type: str | None = strawberry.field(default=None, description="Always `Bearer`.")
    expires_at: datetime | None = strawberry.field(
        default=None, description="When the access token stops working."
    )
    refresh_token: str | None = strawberry.field(
        default=None,
        description="One-time token for `refreshToken`; each use returns a new one.",
    )
    viewer: Viewer | None = strawberry.field(default=None, description="Who is now signed in.")


@strawberry.type(description="Result of signing out.")
class LogoutPayload(Payload):
    revoked: bool = strawberry.field(default=False, description="Whether a login was ended.")


def _auth_payload(tokens: identity.Tokens) -> AuthPayload:
    return AuthPayload(
        access_token=tokens.access_token,
        token_type="Bearer",
        expires_at=tokens.expires_at,
        refresh_token=tokens.refresh_token,
        viewer=Viewer(scope=tokens.scope),
    )


@strawberry.type
class IdentityMutation:
    @mutation(PUBLIC, description="Signs in with e-mail and password.")
    async def login(
        self,
        info: Info,
        input: Annotated[
            LoginInput,
            strawberry.argument(description="The e-mail address and password to sign in with."),
        ],
    ) -> AuthPayload:
        async def work() -> AuthPayload:
            return _auth_payload(await identity.login(info.context, input.email, input.password))

        # The password is checked before the transaction takes the write lock.
        return await transactional(info, AuthPayload, work, write_lock_first=False)

    @mutation(
        PUBLIC,
        description="Exchanges a refresh token for new tokens; the old one is spent. Presented "
        "again within a short grace window after its first use (30 s by default: two tabs, a "
        "retry after a timeout) it returns other new tokens of the same login; presented later, "
        "it ends the whole login.",
    )
    async def refresh_token(
        self,
        info: Info,
        input: Annotated[
            RefreshTokenInput, strawberry.argument(description="The refresh token received last.")
        ],
    ) -> AuthPayload:
        async def work() -> AuthPayload:
            return _auth_payload(await identity.refresh(info.context, input.refresh_token))

        return await transactional(info, AuthPayload, work)

    @mutation(
        PERSON,
        description="Signs out: revokes the refresh tokens of this login (or all).",
    )
    async def logout(
        self,
        info: Info,
        input: Annotated[
            LogoutInput,
            strawberry.argument(
                description="The refresh token of the login to end, or `everywhere` for every login of the user."
            ),
        ],
    ) -> LogoutPayload:
        async def work() -> LogoutPayload:
            revoked = await identity.logout(info.context, input.refresh_token, input.everywhere)
            return LogoutPayload(revoked=revoked)

        return await transactional(info, LogoutPayload, work)

    @mutation(PUBLIC, description="Issues an access token to a machine client.")
    async def client_token(
        self,
        info: Info,
        input: Annotated[
            ClientTokenInput,
            strawberry.argument(
                description="The machine client's (e.g. e-Maintenance's) id and secret."
            ),
        ],
    ) -> AuthPayload:
        async def work() -> AuthPayload:
            return _auth_payload(
                await identity.client_token(info.context, input.client_id, input.client_secret)
            )

        return await transactional(info, AuthPayload, work, write_lock_first=False)
