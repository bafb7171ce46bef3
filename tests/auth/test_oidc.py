"""Access tokens from an external OpenID Connect provider, whose JWKS a real loopback HTTP
server (run by the test) publishes: subject / verified e-mail mapping, key rotation, and every
token the provider did not properly issue is anonymous."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from core import clock
from tests.conftest import ClientFactory
from tests.graphql import GraphQLClient
from tests.servers import free_port, serving_in_thread

ISSUER = "https://idp.example.test"
AUDIENCE = "portal-api-at-idp"

QUERY_VIEWER = """
query { viewer { authenticated user { email } } }
"""

QUERY_ACCOUNTS = """
query { accounts(first: 10) { totalCount } }
"""


@dataclass
class FakeProvider:
    """The identity provider's signing keys and its JWKS endpoint."""

    port: int = 0
    keys: dict[str, RSAKey] = field(default_factory=dict)
    published: list[str] = field(default_factory=list)
    fetches: int = 0

    @property
    def jwks_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/jwks"

    def add_key(self, kid: str) -> None:
        self.keys[kid] = RSAKey.generate_key(2048, private=True)

    def publish(self, *kids: str) -> None:
        self.published = list(kids)

    def token(self, kid: str, **overrides: Any) -> str:
        now = int(clock.timestamp())
        claims = {
            "iss": ISSUER,
            "sub": "idp|" + uuid.uuid4().hex,
            "aud": AUDIENCE,
            "exp": now + 300,
            "iat": now,
            "azp": "portal-spa",
            **overrides,
        }
        return jwt.encode({"alg": "RS256", "kid": kid, "typ": "at+jwt"}, claims, self.keys[kid])

    async def jwks(self, _: Request) -> Response:
        self.fetches += 1
        keys = [
            self.keys[kid].as_dict(private=False) | {"kid": kid, "use": "sig", "alg": "RS256"}
            for kid in self.published
        ]
        return JSONResponse({"keys": keys})


@contextmanager
def served_provider() -> Iterator[FakeProvider]:
    """A provider with one published key ("k1"), its JWKS served on loopback."""
    provider = FakeProvider(port=free_port())
    provider.add_key("k1")
    provider.publish("k1")
    app = Starlette(routes=[Route("/jwks", provider.jwks)])
    with serving_in_thread(app, provider.port):
        yield provider


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    with served_provider() as provider:
        yield provider


def _oidc(provider: FakeProvider, **extra: Any) -> dict[str, Any]:
    return {
        "oidc_issuer": ISSUER,
        "oidc_jwks_url": provider.jwks_url,
        "oidc_audience": AUDIENCE,
        **extra,
    }


async def _viewer(gql: GraphQLClient, token: str) -> dict[str, Any]:
    result = await gql(QUERY_VIEWER, token=token)
    assert not result.errors, result.errors
    return result.data["viewer"]  # type: ignore[no-any-return]


async def test_provider_token_maps_by_verified_email_then_by_subject(
    client_with: ClientFactory, provider: FakeProvider
) -> None:
    async with client_with(**_oidc(provider)) as gql:
        # given: the provider's first token for this person carries a verified e-mail
        subject = "idp|alice"
        first = provider.token("k1", sub=subject, email="Admin@Acme.example", email_verified=True)
        # when
        viewer = await _viewer(gql, first)
        # then
        assert viewer == {"authenticated": True, "user": {"email": "admin@acme.example"}}
        # and later tokens are mapped by the subject alone
        later = provider.token("k1", sub=subject)
        assert (await _viewer(gql, later))["user"] == {"email": "admin@acme.example"}
        accounts = await gql(QUERY_ACCOUNTS, token=later)
        assert not accounts.errors
        assert accounts.data["accounts"]["totalCount"] == 5


async def test_provider_email_is_not_trusted_unless_verified(
    client_with: ClientFactory, provider: FakeProvider
) -> None:
    async with client_with(**_oidc(provider)) as gql:
        # given
        for claims in ({"email_verified": False}, {}, {"email_verified": "true"}):
            token = provider.token("k1", email="agent@vendor.example", **claims)
            # when
            result = await gql(QUERY_ACCOUNTS, token=token)
            # then
            assert result.data is None
            assert result.errors[0]["extensions"] == {
                "code": "UNAUTHENTICATED",
                "reason": "UNKNOWN_IDENTITY",
            }


async def test_unknown_provider_user_is_anonymous(
    client_with: ClientFactory, provider: FakeProvider
) -> None:
    async with client_with(**_oidc(provider)) as gql:
        # given
        token = provider.token("k1", email="nobody@nowhere.example", email_verified=True)
        # when
        viewer = await _viewer(gql, token)
        result = await gql(QUERY_ACCOUNTS, token=token)
        # then
        assert viewer == {"authenticated": False, "user": None}
        assert result.errors[0]["extensions"] == {
            "code": "UNAUTHENTICATED",
            "reason": "UNKNOWN_IDENTITY",
        }


async def test_subject_bound_to_another_identity_is_not_remapped(
    client_with: ClientFactory, provider: FakeProvider
) -> None:
    async with client_with(**_oidc(provider)) as gql:
        # given: the user is already linked to one subject of the provider
        email = "admin@globex.example"
        linked = provider.token("k1", sub="idp|gloria", email=email, email_verified=True)
        assert (await _viewer(gql, linked))["authenticated"] is True
        # when: another subject claims the same e-mail
        other = provider.token("k1", sub="idp|mallory", email=email, email_verified=True)
        # then
        assert (await _viewer(gql, other))["authenticated"] is False


@pytest.mark.parametrize(
    "overrides",
    [
        {"iss": "https://other-idp.example.test"},
        {"aud": "some-other-api"},
        {"exp": int(clock.timestamp()) - 3600},
    ],
    ids=["wrong-issuer", "wrong-audience", "expired"],
)
async def test_provider_token_with_bad_claims_is_anonymous(
    client_with: ClientFactory, provider: FakeProvider, overrides: dict[str, Any]
) -> None:
    async with client_with(**_oidc(provider)) as gql:
        # given
        token = provider.token(
            "k1", sub="idp|x", email="admin@acme.example", email_verified=True, **overrides
        )
        # when
        viewer = await _viewer(gql, token)
        # then
        assert viewer["authenticated"] is False


async def test_rotated_provider_key_is_fetched_on_unknown_kid(
    client_with: ClientFactory, provider: FakeProvider
) -> None:
    async with client_with(**_oidc(provider)) as gql:
        gql.app.state.services.tokens.jwks_refetch_interval = 0  # type: ignore[attr-defined]
        claims = {"sub": "idp|alice", "email": "admin@acme.example", "email_verified": True}
        assert (await _viewer(gql, provider.token("k1", **claims)))["authenticated"] is True
        assert provider.fetches == 1
        # given: the provider rotates to a new key and retires the old one
        provider.add_key("k2")
        provider.publish("k2")
        # when
        viewer = await _viewer(gql, provider.token("k2", **claims))
        # then: the new key id made the API refetch the JWKS once
        assert viewer["authenticated"] is True
        assert provider.fetches == 2
        # the cached set now lacks k1: its tokens stop working after one more refetch
        assert (await _viewer(gql, provider.token("k1", **claims)))["authenticated"] is False


async def test_made_up_key_ids_do_not_hammer_the_provider(
    client_with: ClientFactory, provider: FakeProvider
) -> None:
    async with client_with(**_oidc(provider)) as gql:
        # given: keys were fetched a moment ago
        claims = {"sub": "idp|alice", "email": "admin@acme.example", "email_verified": True}
        assert (await _viewer(gql, provider.token("k1", **claims)))["authenticated"] is True
        provider.add_key("evil")
        # when
        for _ in range(5):
            assert (await _viewer(gql, provider.token("evil", **claims)))["authenticated"] is False
        # then
        assert provider.fetches == 1


async def test_token_signed_by_a_key_the_provider_does_not_publish_is_anonymous(
    client_with: ClientFactory, provider: FakeProvider
) -> None:
    async with client_with(**_oidc(provider)) as gql:
        gql.app.state.services.tokens.jwks_refetch_interval = 0  # type: ignore[attr-defined]
        # given: an attacker's key under the provider's published key id
        provider.keys["forged"] = provider.keys["k1"]
        provider.add_key("k1")  # the published k1 is now a different key than the signer's
        token = jwt.encode(
            {"alg": "RS256", "kid": "k1"},
            {
                "iss": ISSUER,
                "aud": AUDIENCE,
                "sub": "idp|x",
                "exp": int(clock.timestamp()) + 60,
                "email": "agent@vendor.example",
                "email_verified": True,
            },
            provider.keys["forged"],
        )
        # when
        viewer = await _viewer(gql, token)
        # then
        assert viewer["authenticated"] is False


async def test_own_tokens_still_work_with_a_provider_configured(
    client_with: ClientFactory, provider: FakeProvider
) -> None:
    async with client_with(**_oidc(provider)) as gql:
        # given
        login = await gql.login("admin@acme.example")
        # when
        result = await gql(QUERY_ACCOUNTS, token=login["accessToken"])
        # then
        assert not result.errors
        assert provider.fetches == 0  # our own key id never asks the provider


async def test_unreachable_provider_fails_closed(
    client_with: ClientFactory, provider: FakeProvider
) -> None:
    async with client_with(
        **_oidc(provider, oidc_jwks_url=f"http://127.0.0.1:{free_port()}/")
    ) as gql:
        # given
        token = provider.token("k1", email="admin@acme.example", email_verified=True)
        # when
        result = await gql(QUERY_ACCOUNTS, token=token)
        # then
        assert result.status == 200
        assert result.errors[0]["extensions"] == {
            "code": "UNAUTHENTICATED",
            "reason": "TOKEN_UNVERIFIABLE",
        }
