"""RSA signing keys in ``<data_dir>/identity/keys/``: generated on first use, rotated by adding one.

Each key is a PEM file (mode 0600) named ``<created, ns>-<kid>.pem``; the newest signs, and every
key stays in the JWKS so tokens signed before a rotation keep validating until they expire. The
``kid`` is the key's RFC 7638 JWK thumbprint. A :class:`KeySet` notices keys added by another
process (``rotate_keys`` from the CLI) by re-reading the directory when its listing changes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from aobo.settings import Settings

KEY_SIZE = 2048


def keys_dir(settings: Settings | Path) -> Path:
    data_dir = settings if isinstance(settings, Path) else settings.data_dir
    return data_dir / "identity" / "keys"


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def thumbprint(public: rsa.RSAPublicKey) -> str:
    """The RFC 7638 JWK thumbprint (SHA-256, base64url) of an RSA public key."""
    numbers = public.public_numbers()
    canonical = json.dumps(
        {"e": _b64url_uint(numbers.e), "kty": "RSA", "n": _b64url_uint(numbers.n)}, separators=(",", ":")
    )
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey
    created_ns: int

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        return self.private_key.public_key()

    def jwk(self) -> dict[str, Any]:
        numbers = self.public_key.public_numbers()
        return {
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "n": _b64url_uint(numbers.n),
            "e": _b64url_uint(numbers.e),
        }


def _write_new_key(directory: Path) -> SigningKey:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    private = rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)
    kid = thumbprint(private.public_key())
    created = time.time_ns()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    final = directory / f"{created:020d}-{kid}.pem"
    tmp = directory / f".{final.name}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    os.chmod(tmp, 0o600)
    os.replace(tmp, final)  # atomic: readers never see half a key
    return SigningKey(kid, private, created)


def _load(directory: Path) -> list[SigningKey]:
    found: list[SigningKey] = []
    for path in sorted(directory.glob("*.pem")):
        created_text, _, _ = path.stem.partition("-")
        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(private, rsa.RSAPrivateKey):
            continue
        found.append(SigningKey(thumbprint(private.public_key()), private, int(created_text)))
    found.sort(key=lambda k: k.created_ns)
    return found


def rotate_keys(settings: Settings | Path) -> str:
    """Add a new signing key (the ``kid`` returned); older keys stay published for validation."""
    return _write_new_key(keys_dir(settings)).kid


class KeySet:
    """The keys of one data directory: the newest signs, all validate."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._listing: tuple[str, ...] | None = None
        self._keys: list[SigningKey] = []

    @classmethod
    def for_settings(cls, settings: Settings | Path) -> KeySet:
        return cls(keys_dir(settings))

    def _current(self) -> list[SigningKey]:
        with self._lock:
            listing = tuple(sorted(p.name for p in self.directory.glob("*.pem"))) if self.directory.is_dir() else ()
            if not listing:
                _write_new_key(self.directory)
                listing = tuple(sorted(p.name for p in self.directory.glob("*.pem")))
            if listing != self._listing:
                self._keys = _load(self.directory)
                self._listing = listing
            return self._keys

    @property
    def signing_key(self) -> SigningKey:
        return self._current()[-1]

    def public_key(self, kid: str) -> rsa.RSAPublicKey | None:
        for key in self._current():
            if key.kid == kid:
                return key.public_key
        return None

    def jwks(self) -> dict[str, Any]:
        # Newest first, as Entra lists the current signing key first.
        return {"keys": [k.jwk() for k in reversed(self._current())]}
