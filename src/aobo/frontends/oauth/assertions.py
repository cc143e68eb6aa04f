"""Client assertions (RFC 7523 ``private_key_jwt``): an application proves itself with a short JWT
signed by the private key of a certificate registered for it.

The header names the certificate by thumbprint (``x5t``, SHA-1, with RS256; or ``x5t#S256`` with
PS256, which msal sends when it is given the certificate itself). ``iss`` and ``sub`` are the
client id, ``aud`` the token endpoint, and each ``jti`` is accepted once while its assertion lives.
"""

from __future__ import annotations

import base64
import binascii
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from aobo.domain.models import AppCertificate

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: Longest lifetime accepted for one assertion (msal makes them for 10 minutes).
MAX_ASSERTION_LIFETIME = 3600
LEEWAY = 60
_ALGORITHMS = {"x5t": "RS256", "x5t#S256": "PS256"}


class InvalidAssertion(Exception):
    """``reason``: ``malformed``, ``unknown_key``, ``signature``, ``expired``, ``audience``,
    ``client`` (iss/sub not the client id) or ``replay``; ``thumbprint`` as the client sent it."""

    def __init__(self, reason: str, message: str, thumbprint: str = "") -> None:
        super().__init__(message)
        self.reason = reason
        self.thumbprint = thumbprint


class ReplayGuard:
    """The ``jti`` values seen, each kept until its assertion expires; bounded."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._seen: dict[str, float] = {}
        self._capacity = capacity
        self._lock = threading.Lock()

    def first_use(self, key: str, expires: float) -> bool:
        now = time.time()
        with self._lock:
            if len(self._seen) >= self._capacity:
                self._seen = {k: e for k, e in self._seen.items() if e > now}
                if len(self._seen) >= self._capacity:
                    # Full of live entries: refuse rather than forget one that might be replayed.
                    return False
            seen = self._seen.get(key)
            if seen is not None and seen > now:
                return False
            self._seen[key] = expires
            return True


def _thumbprint_hex(value: Any) -> str:
    try:
        raw = base64.urlsafe_b64decode(str(value) + "=" * (-len(str(value)) % 4))
    except (binascii.Error, ValueError):
        return ""
    return raw.hex()


def verify_client_assertion(
    assertion: str,
    certificates: Iterable[AppCertificate],
    *,
    client_id: str,
    audience_ok: Callable[[str], bool],
    replay: ReplayGuard,
) -> dict[str, Any]:
    """The claims of a valid assertion by ``client_id``; else :class:`InvalidAssertion`."""
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.InvalidTokenError:
        raise InvalidAssertion("malformed", "The client assertion is not a well-formed JWT.") from None
    name = next((n for n in _ALGORITHMS if n in header), None)
    if name is None:
        raise InvalidAssertion("malformed", "The client assertion's header names no certificate thumbprint (x5t).")
    thumbprint = _thumbprint_hex(header[name])
    algorithm = _ALGORITHMS[name]
    if header.get("alg") != algorithm:
        raise InvalidAssertion("signature", f"The client assertion must be signed with {algorithm}.", thumbprint)
    field = "sha1_thumbprint" if name == "x5t" else "sha256_thumbprint"
    cert = next((c for c in certificates if getattr(c, field) == thumbprint), None)
    if cert is None:
        raise InvalidAssertion("unknown_key", "The key was not found.", thumbprint)
    if cert.expired:
        raise InvalidAssertion("unknown_key", "The key used is expired.", thumbprint)
    public = x509.load_pem_x509_certificate(cert.certificate_pem.encode()).public_key()
    assert isinstance(public, rsa.RSAPublicKey)  # only RSA certificates are registered
    try:
        claims: dict[str, Any] = jwt.decode(
            assertion,
            public,
            algorithms=[algorithm],
            leeway=LEEWAY,
            options={"require": ["exp", "aud", "iss", "sub", "jti"], "verify_aud": False},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidAssertion("expired", "The client assertion has expired.", thumbprint) from None
    except jwt.ImmatureSignatureError:
        raise InvalidAssertion("expired", "The client assertion is not valid yet.", thumbprint) from None
    except jwt.InvalidSignatureError:
        raise InvalidAssertion("signature", "Client assertion failed signature validation.", thumbprint) from None
    except jwt.InvalidTokenError as exc:
        raise InvalidAssertion("malformed", f"The client assertion is invalid: {exc}.", thumbprint) from None
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if not any(isinstance(a, str) and audience_ok(a) for a in audiences):
        raise InvalidAssertion("audience", "The client assertion's audience is not this token endpoint.", thumbprint)
    if str(claims["iss"]).lower() != client_id.lower() or str(claims["sub"]).lower() != client_id.lower():
        raise InvalidAssertion("client", "The client assertion's issuer and subject must be the client id.")
    now = time.time()
    if float(claims["exp"]) - float(claims.get("iat", claims.get("nbf", now))) > MAX_ASSERTION_LIFETIME:
        raise InvalidAssertion("expired", "The client assertion's lifetime is longer than an hour.", thumbprint)
    if not replay.first_use(f"{client_id.lower()}\0{claims['jti']}", float(claims["exp"]) + LEEWAY):
        raise InvalidAssertion("replay", f"The client assertion with jti '{claims['jti']}' was already used.")
    return claims
