"""Access tokens (JWT, RFC 9068 profile) signed by the app's own key, and verification of
tokens from an external OpenID Connect provider."""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from joserfc import jws, jwt
from joserfc.errors import ExpiredTokenError, InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet, RSAKey
from joserfc.jwt import JWTClaimsRegistry

from core import clock
from settings import Settings

log = logging.getLogger(__name__)

ALGORITHM = "RS256"
ACCESS_TOKEN_TYPE = "at+jwt"
CLOCK_LEEWAY_SECONDS = 30
# Our own access tokens already verified, kept per process: a signature check costs more than
# the rest of a small signed-in request.
VERIFIED_TOKENS = 10_000


# Why a token was refused, as told to the client (`extensions.reason`): coarse on purpose, so
# that it helps a client decide (refresh, or sign in again) without describing our checks.
TOKEN_EXPIRED = "TOKEN_EXPIRED"
TOKEN_INVALID = "TOKEN_INVALID"
TOKEN_UNVERIFIABLE = "TOKEN_UNVERIFIABLE"
UNKNOWN_IDENTITY = "UNKNOWN_IDENTITY"

EXTERNAL_ALGORITHMS = ["RS256", "ES256", "PS256"]


class InvalidToken(Exception):
    """The bearer token cannot be trusted; the request is treated as a failed authentication."""

    def __init__(self, detail: str, reason: str = TOKEN_INVALID) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True)
class AccessClaims:
    subject: str
    client_id: str
    issuer: str
    expires_at: int
    email: str | None = None
    external: bool = False


def hash_secret(token: str) -> str:
    """One-way digest for stored one-time and refresh tokens (high-entropy, so no salt)."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_opaque_token() -> str:
    return secrets.token_urlsafe(32)


def _load_or_create_key(settings: Settings) -> RSAKey:
    if settings.signing_key_pem:
        return RSAKey.import_key(settings.signing_key_pem)
    path: Path = settings.var_dir / "keys" / "signing-key.pem"
    if path.exists():
        return RSAKey.import_key(path.read_bytes())
    path.parent.mkdir(parents=True, exist_ok=True)
    key = RSAKey.generate_key(2048, private=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(key.as_pem(private=True))
    tmp.chmod(0o600)
    tmp.replace(path)
    log.info("generated a new signing key at %s", path)
    return RSAKey.import_key(path.read_bytes())


class TokenService:
    """Issues and verifies access tokens; one per process, holding only keys (no request state)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        key = _load_or_create_key(settings)
        self.kid = key.thumbprint()
        self._key = RSAKey.import_key(key.as_dict(private=True) | {"kid": self.kid})
        self._oidc_keys: KeySet | None = None
        self._oidc_keys_fetched_at = 0.0
        # Shortest time between two JWKS fetches triggered by an unknown key id.
        self.jwks_refetch_interval = 30.0
        self._verified: OrderedDict[str, AccessClaims] = OrderedDict()

    def public_jwks(self) -> dict[str, Any]:
        return {"keys": [self._key.as_dict(private=False) | {"use": "sig", "alg": ALGORITHM}]}

    def issue_access_token(self, subject: str, client_id: str, **extra: Any) -> tuple[str, int]:
        now = int(clock.timestamp())
        expires_at = now + self.settings.access_token_ttl_seconds
        claims = {
            "iss": self.settings.jwt_issuer,
            "sub": subject,
            "aud": self.settings.jwt_audience,
            "exp": expires_at,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "client_id": client_id,
            **extra,
        }
        header = {"alg": ALGORITHM, "kid": self.kid, "typ": ACCESS_TOKEN_TYPE}
        return jwt.encode(header, claims, self._key, algorithms=[ALGORITHM]), expires_at

    async def verify(self, token: str) -> AccessClaims:
        """Our own tokens (recognised by our key id), else the external provider's if one is
        configured. Only asymmetric algorithms are accepted, so `alg: none` and HS256 signed
        with a public key never verify.

        One of our tokens that verified is remembered: the same text has the same signature and
        the same claims, and of the claims only the expiry changes its answer over time, so a
        remembered token near or past its expiry is verified afresh (which says why it fails)."""
        known = self._verified.get(token)
        if known is not None:
            if clock.timestamp() < known.expires_at + CLOCK_LEEWAY_SECONDS - 1:
                return known
            del self._verified[token]
        claims = await self._verify(token)
        if not claims.external:
            self._verified[token] = claims
            while len(self._verified) > VERIFIED_TOKENS:
                self._verified.popitem(last=False)
        return claims

    async def _verify(self, token: str) -> AccessClaims:
        try:
            header = jws.extract_compact(token.encode()).headers()
        except Exception as error:  # malformed base64, JSON or structure
            raise InvalidToken("malformed token") from error
        external = self.settings.oidc_issuer is not None and header.get("kid") != self.kid
        if external:
            return await self._verify_external(token)
        try:
            decoded = jwt.decode(token, self._key, algorithms=[ALGORITHM])
        except (JoseError, ValueError) as error:
            raise InvalidToken("bad signature") from error
        if str(decoded.header.get("typ", "")).lower() not in {
            ACCESS_TOKEN_TYPE,
            "application/at+jwt",
        }:
            raise InvalidToken("not an access token")
        self._validate(decoded.claims, self.settings.jwt_issuer, self.settings.jwt_audience)
        return AccessClaims(
            subject=str(decoded.claims["sub"]),
            client_id=str(decoded.claims.get("client_id", "")),
            issuer=self.settings.jwt_issuer,
            expires_at=int(decoded.claims["exp"]),
        )

    def _validate(self, claims: dict[str, Any], issuer: str, audience: str) -> None:
        registry = JWTClaimsRegistry(
            leeway=CLOCK_LEEWAY_SECONDS,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": audience},
            exp={"essential": True},
            sub={"essential": True},
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError as error:
            raise InvalidToken(str(error), TOKEN_EXPIRED) from error
        except JoseError as error:
            raise InvalidToken(str(error)) from error

    async def _verify_external(self, token: str) -> AccessClaims:
        settings = self.settings
        assert settings.oidc_issuer is not None
        keys = await self._external_keys()
        try:
            decoded = jwt.decode(token, keys, algorithms=EXTERNAL_ALGORITHMS)
        except InvalidKeyIdError as error:
            # An unknown kid may mean the provider rotated its keys: refetch, at most once per
            # `jwks_refetch_interval`, so that made-up key ids cannot hammer the provider.
            if time.monotonic() - self._oidc_keys_fetched_at < self.jwks_refetch_interval:
                raise InvalidToken("unknown key id") from error
            keys = await self._external_keys(force=True)
            try:
                decoded = jwt.decode(token, keys, algorithms=EXTERNAL_ALGORITHMS)
            except (JoseError, ValueError) as again:
                raise InvalidToken("bad signature") from again
        except (JoseError, ValueError) as error:
            raise InvalidToken("bad signature") from error
        audience = settings.oidc_audience or settings.jwt_audience
        self._validate(decoded.claims, settings.oidc_issuer, audience)
        # An e-mail address maps a new identity to a user only if the provider vouches for it.
        verified = decoded.claims.get("email_verified") is True
        return AccessClaims(
            subject=str(decoded.claims["sub"]),
            client_id=str(decoded.claims.get("client_id") or decoded.claims.get("azp") or ""),
            issuer=settings.oidc_issuer,
            expires_at=int(decoded.claims["exp"]),
            email=decoded.claims.get("email") if verified else None,
            external=True,
        )

    async def _external_keys(self, force: bool = False) -> KeySet:
        # Keys are a cache of public data, refetched hourly or on an unknown key id.
        if (
            self._oidc_keys is not None
            and not force
            and time.monotonic() - self._oidc_keys_fetched_at < 3600
        ):
            return self._oidc_keys
        settings = self.settings
        async with httpx.AsyncClient(timeout=5.0) as client:
            jwks_url = settings.oidc_jwks_url
            if not jwks_url:
                discovery = await client.get(
                    settings.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration"  # type: ignore[union-attr]
                )
                discovery.raise_for_status()
                jwks_url = discovery.json()["jwks_uri"]
            response = await client.get(jwks_url)
            response.raise_for_status()
        self._oidc_keys = KeySet.import_key_set(response.json())
        self._oidc_keys_fetched_at = time.monotonic()
        return self._oidc_keys
