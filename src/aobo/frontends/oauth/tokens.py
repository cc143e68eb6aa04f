"""RS256 JWTs shaped like Entra ID v2.0 tokens: access, refresh and ID tokens, and their validation.

Access tokens come in two kinds, told apart by ``idtyp`` (:func:`token_kind`): delegated ones
(``user``: a signed-in account, ``scp`` and ``upn``) and app-only ones (``app``: an application
acting as itself, ``roles`` ``Exchange.ManageAsApp`` and the directory roles it holds in ``wids``).

Refresh tokens are signed JWTs too (``typ`` claim ``refresh``, 90-day lifetime, own audience), so
they survive a restart and need no server-side table; they are validated exactly like access
tokens, and neither kind is accepted in the other's place.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import jwt

from aobo.frontends.oauth.keys import KeySet

AUDIENCE = "https://outlook.office365.com"
ACCESS_LIFETIME = 3600
REFRESH_LIFETIME = 90 * 24 * 3600
#: The audience of refresh tokens: never a resource, so a refresh token is never an access token.
REFRESH_AUDIENCE = "urn:aobo:identity:refresh"
LEEWAY = 60  # seconds of clock skew tolerated
#: The application permission an app-only token for Exchange Online carries.
MANAGE_AS_APP = "Exchange.ManageAsApp"

TokenKind = Literal["user", "app"]


class InvalidToken(Exception):
    """A token that must not be accepted; ``reason`` says why (``signature``, ``expired``, ``audience``,
    ``tenant``, ``malformed``, ``type``)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def issuer_for(base_url: str, tenant_guid: uuid.UUID | str) -> str:
    return f"{base_url.rstrip('/')}/{tenant_guid}/v2.0"


def _signed(
    keys: KeySet,
    *,
    aud: str,
    issuer: str,
    tenant_guid: uuid.UUID | str,
    user_guid: uuid.UUID | str,
    now: int | None,
    lifetime: int,
    **claims: Any,
) -> str:
    """A token with the claims every kind carries (audience, issuer, times, tenant, user, a unique id)
    plus ``claims``."""
    iat = int(time.time()) if now is None else now
    base = {
        "aud": aud,
        "iss": issuer,
        "iat": iat,
        "nbf": iat,
        "exp": iat + lifetime,
        "tid": str(tenant_guid),
        "oid": str(user_guid),
        # Unique per token: replays and revocation are told apart by it.
        "jti": uuid.uuid4().hex,
    }
    return _sign(keys, {**base, **claims})


def _sign(keys: KeySet, claims: Mapping[str, Any]) -> str:
    key = keys.signing_key
    return jwt.encode(dict(claims), key.private_key, algorithm="RS256", headers={"kid": key.kid, "typ": "JWT"})


def issue_access_token(
    keys: KeySet,
    *,
    issuer: str,
    tenant_guid: uuid.UUID | str,
    user_guid: uuid.UUID | str,
    upn: str,
    name: str,
    scopes: Iterable[str],
    client_id: str,
    audience: str = AUDIENCE,
    now: int | None = None,
    lifetime: int = ACCESS_LIFETIME,
    wids: Iterable[str] | None = None,
) -> str:
    # wids: the Entra role template ids held in the token's tenant, as Entra puts them in tokens.
    extra: dict[str, Any] = {} if wids is None else {"wids": list(wids)}
    return _signed(
        keys,
        aud=audience,
        issuer=issuer,
        tenant_guid=tenant_guid,
        user_guid=user_guid,
        now=now,
        lifetime=lifetime,
        sub=str(user_guid),
        upn=upn,
        unique_name=upn,
        name=name,
        scp=" ".join(scopes),
        appid=client_id,
        idtyp="user",
        ver="1.0",
        **extra,
    )


def issue_app_token(
    keys: KeySet,
    *,
    issuer: str,
    tenant_guid: uuid.UUID | str,
    app_object_id: uuid.UUID | str,
    app_id: uuid.UUID | str,
    app_name: str,
    role_ids: Iterable[str],
    audience: str = AUDIENCE,
    now: int | None = None,
    lifetime: int = ACCESS_LIFETIME,
) -> str:
    """An app-only access token: no user, the application permission and the app's directory roles."""
    return _signed(
        keys,
        aud=audience,
        issuer=issuer,
        tenant_guid=tenant_guid,
        user_guid=app_object_id,
        now=now,
        lifetime=lifetime,
        sub=str(app_object_id),
        idtyp="app",
        roles=[MANAGE_AS_APP],
        wids=sorted(role_ids),
        appid=str(app_id),
        azp=str(app_id),
        app_displayname=app_name,
        ver="1.0",
    )


def issue_refresh_token(
    keys: KeySet,
    *,
    issuer: str,
    tenant_guid: uuid.UUID | str,
    user_guid: uuid.UUID | str,
    upn: str,
    client_id: str,
    now: int | None = None,
    lifetime: int = REFRESH_LIFETIME,
) -> str:
    return _signed(
        keys,
        aud=REFRESH_AUDIENCE,
        issuer=issuer,
        tenant_guid=tenant_guid,
        user_guid=user_guid,
        now=now,
        lifetime=lifetime,
        typ="refresh",
        upn=upn,
        azp=client_id,
    )


def issue_id_token(
    keys: KeySet,
    *,
    issuer: str,
    tenant_guid: uuid.UUID | str,
    user_guid: uuid.UUID | str,
    upn: str,
    name: str,
    client_id: str,
    now: int | None = None,
) -> str:
    return _signed(
        keys,
        aud=client_id,
        issuer=issuer,
        tenant_guid=tenant_guid,
        user_guid=user_guid,
        now=now,
        lifetime=ACCESS_LIFETIME,
        sub=str(user_guid),
        preferred_username=upn,
        name=name,
        ver="2.0",
    )


def _decode(token: str, keys: KeySet, audience: str) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as exc:
        raise InvalidToken("malformed", f"The token is not a well-formed JWT: {exc}.") from None
    if header.get("alg") != "RS256":
        raise InvalidToken("signature", f"The token's algorithm {header.get('alg')!r} is not accepted; RS256 only.")
    public = keys.public_key(str(header.get("kid", "")))
    if public is None:
        raise InvalidToken("signature", f"The token was signed with an unknown key (kid {header.get('kid')!r}).")
    try:
        return jwt.decode(
            token,
            public,
            algorithms=["RS256"],
            audience=audience,
            leeway=LEEWAY,
            options={"require": ["exp", "iat", "nbf", "iss", "aud", "tid", "jti"]},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("expired", "The token has expired.") from None
    except jwt.InvalidAudienceError:
        raise InvalidToken("audience", f"The token's audience is not {audience!r}.") from None
    except jwt.InvalidSignatureError:
        raise InvalidToken("signature", "The token's signature is invalid.") from None
    except jwt.ImmatureSignatureError:
        raise InvalidToken("expired", "The token is not valid yet.") from None
    except jwt.InvalidTokenError as exc:
        raise InvalidToken("malformed", f"The token is invalid: {exc}.") from None


def validate_access_token(
    token: str, keys: KeySet, *, audience: str = AUDIENCE, tenant_guid: uuid.UUID | str
) -> dict[str, Any]:
    """The claims of a valid access token for ``audience`` in tenant ``tenant_guid``; else :class:`InvalidToken`.

    Delegated and app-only tokens are both accepted; :func:`token_kind` tells them apart."""
    claims = _decode(token, keys, audience)
    if claims.get("typ") == "refresh":
        raise InvalidToken("type", "The token is not an access token.")
    if claims.get("idtyp") == "app":
        if not isinstance(claims.get("roles"), list) or "scp" in claims or "upn" in claims:
            raise InvalidToken("type", "The app-only token carries no application roles.")
    elif "scp" not in claims:
        raise InvalidToken("type", "The token is not an access token.")
    expected = str(tenant_guid).lower()
    if str(claims.get("tid", "")).lower() != expected:
        raise InvalidToken("tenant", f"The token was issued for tenant {claims.get('tid')!r}, not {expected!r}.")
    if not str(claims.get("iss", "")).rstrip("/").lower().endswith(f"/{expected}/v2.0"):
        raise InvalidToken("tenant", "The token's issuer is not the tenant's issuer.")
    return claims


def token_kind(claims: Mapping[str, Any]) -> TokenKind:
    """``app`` for an app-only token, ``user`` for a delegated one (validated claims only)."""
    return "app" if claims.get("idtyp") == "app" else "user"


def validate_refresh_token(token: str, keys: KeySet, *, client_id: str) -> dict[str, Any]:
    """The claims of a valid refresh token issued to ``client_id``; else :class:`InvalidToken`."""
    claims = _decode(token, keys, REFRESH_AUDIENCE)
    if claims.get("typ") != "refresh":
        raise InvalidToken("type", "The token is not a refresh token.")
    if str(claims.get("azp", "")).lower() != client_id.lower():
        raise InvalidToken("client", "The refresh token was issued to another client.")
    return claims
