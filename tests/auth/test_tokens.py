"""Access and refresh tokens, through the endpoint: every token the API did not issue (or no
longer honours) makes the caller anonymous, and protected fields answer UNAUTHENTICATED."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from auth.tokens import InvalidToken, TokenService
from core import clock
from models import AuditLogEntry, User
from settings import Settings
from tests.auth.conftest import after_grace
from tests.conftest import ClientFactory
from tests.graphql import GraphQLClient

QUERY_PROTECTED = """
query { viewer { authenticated user { email } } devices(first: 1) { totalCount } }
"""

QUERY_VIEWER = """
query { viewer { authenticated user { email } } }
"""

QUERY_REFRESH = """
mutation Refresh($input: RefreshTokenInput!) {
  refreshToken(input: $input) {
    accessToken refreshToken expiresAt viewer { user { email } }
    userErrors { field message code }
  }
}
"""

QUERY_LOGOUT = """
mutation Logout($input: LogoutInput!) {
  logout(input: $input) { revoked userErrors { code } }
}
"""

USER = "admin@acme.example"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(settings: Settings, tokens: TokenService, **overrides: Any) -> dict[str, Any]:
    now = int(clock.timestamp())
    claims = {
        "iss": settings.jwt_issuer,
        "sub": "user:2",
        "aud": settings.jwt_audience,
        "exp": now + 300,
        "iat": now,
        "jti": uuid.uuid4().hex,
        "client_id": "portal-web",
    }
    claims.update(overrides)
    return claims


def _sign(key: RSAKey, claims: dict[str, Any], kid: str, **header: Any) -> str:
    return jwt.encode({"alg": "RS256", "kid": kid, "typ": "at+jwt", **header}, claims, key)


async def _user_id(gql: GraphQLClient, email: str) -> int:
    payload = await gql.login(email)
    token = payload["accessToken"]
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    return int(claims["sub"].removeprefix("user:"))


async def _assert_anonymous(gql: GraphQLClient, token: str, reason: str) -> None:
    viewer = await gql(QUERY_VIEWER, token=token)
    assert not viewer.errors
    assert viewer.data["viewer"] == {"authenticated": False, "user": None}
    result = await gql(QUERY_PROTECTED, token=token)
    assert result.data is None  # `devices` is not in the anonymous schema: nothing ran
    [error] = result.errors
    assert "path" not in error
    assert error["extensions"] == {"code": "UNAUTHENTICATED", "reason": reason}
    # nothing of how the token was checked leaks into the answer
    assert "signature" not in error["message"].lower()


async def test_valid_token_is_accepted(
    gql: GraphQLClient, settings: Settings, tokens: TokenService
) -> None:
    # given
    user_id = await _user_id(gql, USER)
    token = _sign(tokens._key, _claims(settings, tokens, sub=f"user:{user_id}"), tokens.kid)
    # when
    result = await gql(QUERY_PROTECTED, token=token)
    # then
    assert not result.errors, result.errors
    assert result.data["viewer"]["user"]["email"] == USER
    assert result.data["devices"]["totalCount"] > 0


async def test_login_token_follows_rfc_9068(gql: GraphQLClient, settings: Settings) -> None:
    # when
    payload = await gql.login(USER)
    # then
    token = payload["accessToken"]
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert header["typ"] == "at+jwt" and header["alg"] == "RS256"
    assert {"iss", "sub", "aud", "exp", "iat", "jti", "client_id"} <= set(claims)
    assert claims["iss"] == settings.jwt_issuer and claims["aud"] == settings.jwt_audience
    assert claims["exp"] - claims["iat"] == settings.access_token_ttl_seconds


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"exp": int(clock.timestamp()) - 3600}, "TOKEN_EXPIRED"),
        ({"aud": "someone-else"}, "TOKEN_INVALID"),
        ({"iss": "https://evil.example"}, "TOKEN_INVALID"),
        ({"sub": "robot:7"}, "TOKEN_INVALID"),
    ],
    ids=["expired", "wrong-audience", "wrong-issuer", "unknown-subject-kind"],
)
async def test_token_with_bad_claims_is_anonymous(
    gql: GraphQLClient,
    settings: Settings,
    tokens: TokenService,
    overrides: dict[str, Any],
    reason: str,
) -> None:
    # given: signed with the API's own key, but the claims do not hold
    user_id = await _user_id(gql, USER)
    claims = _claims(settings, tokens, **({"sub": f"user:{user_id}"} | overrides))
    token = _sign(tokens._key, claims, tokens.kid)
    # when / then
    await _assert_anonymous(gql, token, reason)


@pytest.mark.parametrize("seconds_past_expiry", [0, 31, 3600])
async def test_a_token_accepted_before_is_refused_once_expired(
    gql: GraphQLClient, settings: Settings, tokens: TokenService, seconds_past_expiry: int
) -> None:
    """Verified tokens are remembered per process: the expiry must still be read every time
    (the clock's leeway is 30 s: at expiry and at +30 s the token still holds)."""
    # given: a token that worked, so is remembered
    user_id = await _user_id(gql, USER)
    claims = _claims(settings, tokens, sub=f"user:{user_id}")
    token = _sign(tokens._key, claims, tokens.kid)
    assert (await gql(QUERY_VIEWER, token=token)).data["viewer"]["authenticated"] is True
    # when: presented again once its expiry (and the leeway) has passed
    later = datetime.fromtimestamp(claims["exp"] + seconds_past_expiry, UTC)
    with time_machine.travel(later, tick=False):
        viewer = await gql(QUERY_VIEWER, token=token)
        # then: the API, and the token service itself (the context checks expiry too)
        if seconds_past_expiry <= 30:
            assert viewer.data["viewer"]["authenticated"] is True
            assert (await tokens.verify(token)).expires_at == claims["exp"]
        else:
            await _assert_anonymous(gql, token, "TOKEN_EXPIRED")
            with pytest.raises(InvalidToken) as refused:
                await tokens.verify(token)
            assert refused.value.reason == "TOKEN_EXPIRED"


async def test_token_without_access_token_type_is_anonymous(
    gql: GraphQLClient, settings: Settings, tokens: TokenService
) -> None:
    # given: an ID token or other JWT signed by the same key is not an access token
    user_id = await _user_id(gql, USER)
    token = _sign(
        tokens._key, _claims(settings, tokens, sub=f"user:{user_id}"), tokens.kid, typ="JWT"
    )
    # when / then
    await _assert_anonymous(gql, token, "TOKEN_INVALID")


async def test_token_signed_by_another_key_is_anonymous(
    gql: GraphQLClient, settings: Settings, tokens: TokenService
) -> None:
    # given: an attacker's key, claiming to be ours by key id
    user_id = await _user_id(gql, USER)
    other = RSAKey.generate_key(2048, private=True)
    token = _sign(other, _claims(settings, tokens, sub=f"user:{user_id}"), tokens.kid)
    # when / then
    await _assert_anonymous(gql, token, "TOKEN_INVALID")


async def test_alg_none_token_is_anonymous(
    gql: GraphQLClient, settings: Settings, tokens: TokenService
) -> None:
    # given: an unsigned token
    user_id = await _user_id(gql, USER)
    header = {"alg": "none", "typ": "at+jwt", "kid": tokens.kid}
    claims = _claims(settings, tokens, sub=f"user:{user_id}")
    for token in (
        f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}.",
        f"{_b64(json.dumps(header | {'alg': 'None'}).encode())}.{_b64(json.dumps(claims).encode())}.",
    ):
        # when / then
        await _assert_anonymous(gql, token, "TOKEN_INVALID")


async def test_hs256_signed_with_the_public_key_is_anonymous(
    gql: GraphQLClient, settings: Settings, tokens: TokenService
) -> None:
    # given: algorithm confusion: HMAC keyed with our published public key
    user_id = await _user_id(gql, USER)
    public = RSAKey.import_key(tokens.public_jwks()["keys"][0])
    header = {"alg": "HS256", "typ": "at+jwt", "kid": tokens.kid}
    claims = _claims(settings, tokens, sub=f"user:{user_id}")
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    forged = []
    for secret in (public.as_pem(private=False), json.dumps(tokens.public_jwks()).encode()):
        signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        forged.append(f"{signing_input}.{_b64(signature)}")
    for token in forged:
        # when / then
        await _assert_anonymous(gql, token, "TOKEN_INVALID")


@pytest.mark.parametrize(
    "token", ["garbage", "a.b.c", "..", "eyJhbGciOiJSUzI1NiJ9.e30.", "%%.$$.@@", "x" * 5000]
)
async def test_garbage_token_is_anonymous(gql: GraphQLClient, token: str) -> None:
    # when / then
    await _assert_anonymous(gql, token, "TOKEN_INVALID")


async def test_non_bearer_authorization_is_anonymous_without_reason(gql: GraphQLClient) -> None:
    # when
    result = await gql(QUERY_PROTECTED, headers={"Authorization": "Basic dXNlcjpwYXNz"})
    # then
    assert result.data is None
    assert result.errors[0]["extensions"] == {"code": "UNAUTHENTICATED"}


async def test_refresh_rotates_the_token(gql: GraphQLClient, settings: Settings) -> None:
    # given
    login = await gql.login(USER)
    # when
    result = await gql(QUERY_REFRESH, {"input": {"refreshToken": login["refreshToken"]}})
    # then
    payload = result.data["refreshToken"]
    assert payload["userErrors"] == []
    assert payload["viewer"]["user"]["email"] == USER
    assert payload["refreshToken"] not in (None, login["refreshToken"])
    again = await gql(QUERY_PROTECTED, token=payload["accessToken"])
    assert not again.errors
    # the old refresh token stopped working (after the reuse grace window)
    with after_grace(settings):
        old = await gql(QUERY_REFRESH, {"input": {"refreshToken": login["refreshToken"]}})
    assert old.data["refreshToken"]["accessToken"] is None
    assert [e["code"] for e in old.data["refreshToken"]["userErrors"]] == ["INVALID_REFRESH_TOKEN"]


async def test_refresh_token_reuse_revokes_the_whole_family(
    gql: GraphQLClient, settings: Settings
) -> None:
    # given: a login refreshed once (token A -> B), and a second, separate login
    login = await gql.login(USER)
    other_login = await gql.login(USER)
    first = await gql(QUERY_REFRESH, {"input": {"refreshToken": login["refreshToken"]}})
    rotated = first.data["refreshToken"]["refreshToken"]
    # when: A is presented again after the grace window (stolen and replayed)
    with after_grace(settings):
        replay = await gql(QUERY_REFRESH, {"input": {"refreshToken": login["refreshToken"]}})
    # then: refused, and B (never used) stopped working too
    assert [e["code"] for e in replay.data["refreshToken"]["userErrors"]] == [
        "INVALID_REFRESH_TOKEN"
    ]
    after = await gql(QUERY_REFRESH, {"input": {"refreshToken": rotated}})
    assert after.data["refreshToken"]["accessToken"] is None
    assert [e["code"] for e in after.data["refreshToken"]["userErrors"]] == [
        "INVALID_REFRESH_TOKEN"
    ]
    # the other login of the same user is another family: untouched
    other = await gql(QUERY_REFRESH, {"input": {"refreshToken": other_login["refreshToken"]}})
    assert other.data["refreshToken"]["userErrors"] == []


async def test_unknown_refresh_token_is_refused(gql: GraphQLClient) -> None:
    # when
    result = await gql(QUERY_REFRESH, {"input": {"refreshToken": "not-a-token"}})
    # then
    assert result.data["refreshToken"]["accessToken"] is None
    assert [e["code"] for e in result.data["refreshToken"]["userErrors"]] == [
        "INVALID_REFRESH_TOKEN"
    ]


async def test_logout_revokes_and_refresh_after_logout_fails(gql: GraphQLClient) -> None:
    # given
    login = await gql.login(USER)
    # when
    result = await gql(
        QUERY_LOGOUT, {"input": {"refreshToken": login["refreshToken"]}}, token=login["accessToken"]
    )
    # then
    assert result.data["logout"] == {"revoked": True, "userErrors": []}
    refresh = await gql(QUERY_REFRESH, {"input": {"refreshToken": login["refreshToken"]}})
    assert refresh.data["refreshToken"]["accessToken"] is None
    assert [e["code"] for e in refresh.data["refreshToken"]["userErrors"]] == [
        "INVALID_REFRESH_TOKEN"
    ]


async def test_logout_everywhere_ends_every_login(gql: GraphQLClient) -> None:
    # given
    first = await gql.login(USER)
    second = await gql.login(USER)
    # when
    result = await gql(QUERY_LOGOUT, {"input": {"everywhere": True}}, token=first["accessToken"])
    # then
    assert result.data["logout"]["revoked"] is True
    for login in (first, second):
        refresh = await gql(QUERY_REFRESH, {"input": {"refreshToken": login["refreshToken"]}})
        assert refresh.data["refreshToken"]["accessToken"] is None


async def test_logout_cannot_revoke_another_users_login(gql: GraphQLClient) -> None:
    # given
    victim = await gql.login("admin@globex.example")
    attacker = await gql.login(USER)
    # when
    result = await gql(
        QUERY_LOGOUT,
        {"input": {"refreshToken": victim["refreshToken"]}},
        token=attacker["accessToken"],
    )
    # then
    assert result.data["logout"]["revoked"] is False
    refresh = await gql(QUERY_REFRESH, {"input": {"refreshToken": victim["refreshToken"]}})
    assert refresh.data["refreshToken"]["userErrors"] == []


async def test_logout_requires_authentication(gql: GraphQLClient) -> None:
    # given
    login = await gql.login(USER)
    # when
    result = await gql(QUERY_LOGOUT, {"input": {"refreshToken": login["refreshToken"]}})
    # then
    assert result.error_codes == ["UNAUTHENTICATED"]
    refresh = await gql(QUERY_REFRESH, {"input": {"refreshToken": login["refreshToken"]}})
    assert refresh.data["refreshToken"]["userErrors"] == []


async def test_token_lifetimes_are_configurable(client_with: ClientFactory) -> None:
    # given
    async with client_with(access_token_ttl_seconds=90, refresh_token_ttl_seconds=0) as gql:
        # when
        before = clock.timestamp()
        login = await gql.login(USER)
        # then: the access token lives 90 s
        expires = datetime.fromisoformat(login["expiresAt"]).astimezone(UTC).timestamp()
        assert before + 85 <= expires <= clock.timestamp() + 95
        claims = json.loads(base64.urlsafe_b64decode(login["accessToken"].split(".")[1] + "=="))
        assert claims["exp"] - claims["iat"] == 90
        # and the refresh token expired at once
        refresh = await gql(QUERY_REFRESH, {"input": {"refreshToken": login["refreshToken"]}})
        assert [e["code"] for e in refresh.data["refreshToken"]["userErrors"]] == [
            "INVALID_REFRESH_TOKEN"
        ]


async def test_token_of_a_deactivated_user_is_anonymous(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given: a valid token, then the user is deactivated
    token = (await gql.login("devices@acme.example"))["accessToken"]
    await connection.execute(
        update(User).where(User.email == "devices@acme.example").values(is_active=False)
    )
    # when / then
    await _assert_anonymous(gql, token, "UNKNOWN_IDENTITY")


async def _audited(connection: AsyncConnection, action: str) -> int:
    return int(
        await connection.scalar(
            select(func.count()).select_from(AuditLogEntry).where(AuditLogEntry.action == action)
        )
        or 0
    )


async def test_reuse_is_audited_but_refresh_after_logout_is_not(
    gql: GraphQLClient, connection: AsyncConnection, settings: Settings
) -> None:
    # given
    before = await _audited(connection, "refresh_token_reuse")
    ended = await gql.login(USER)
    await gql(
        QUERY_LOGOUT, {"input": {"refreshToken": ended["refreshToken"]}}, token=ended["accessToken"]
    )
    replayed = await gql.login(USER)
    await gql(QUERY_REFRESH, {"input": {"refreshToken": replayed["refreshToken"]}})
    # when
    with after_grace(settings):
        await gql(QUERY_REFRESH, {"input": {"refreshToken": ended["refreshToken"]}})
        await gql(QUERY_REFRESH, {"input": {"refreshToken": replayed["refreshToken"]}})
    # then: only the replay of a spent token is theft
    assert await _audited(connection, "refresh_token_reuse") == before + 1
