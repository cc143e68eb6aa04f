"""HTTP Basic credentials checked against the store, with a short-lived verification cache.

WinRM clients send Basic credentials on every request of a session. argon2 is deliberately slow
(tens of milliseconds), so a successful verification is remembered for a few minutes under an
HMAC of the credentials with a per-process random key: the cache never holds a password or a
reusable hash of one, and a restart forgets everything.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import threading
import time
from dataclasses import dataclass

from aobo.domain.models import User
from aobo.domain.store import Store
from aobo.errors import AuthenticationFailed

CACHE_SECONDS = 300.0
CACHE_MAX = 10_000
#: OAuth access tokens arrive as Basic passwords of several kilobytes.
MAX_AUTHORIZATION_HEADER = 16 * 1024


@dataclass(frozen=True, slots=True)
class BasicCredentials:
    username: str
    password: str

    def __repr__(self) -> str:  # never show the password, even in tracebacks
        return f"BasicCredentials(username={self.username!r}, password='******')"


def parse_basic(header: str | None) -> BasicCredentials | None:
    """The credentials of an ``Authorization: Basic ...`` header, or None if absent or malformed."""
    if not header or len(header) > MAX_AUTHORIZATION_HEADER:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    username, sep, password = decoded.partition(":")
    if not sep or not username:
        return None
    return BasicCredentials(username, password)


class CredentialVerifier:
    def __init__(self, store: Store, *, lockout_threshold: int = 10) -> None:
        self._store = store
        self._lockout_threshold = lockout_threshold
        self._key = os.urandom(32)
        self._cache: dict[bytes, tuple[float, User]] = {}
        self._lock = threading.Lock()

    def _cache_key(self, creds: BasicCredentials) -> bytes:
        material = f"{creds.username.lower()}\0{creds.password}".encode()
        return hmac.new(self._key, material, hashlib.sha256).digest()

    def verify(self, creds: BasicCredentials) -> User:
        """The authenticated user; raises AuthenticationFailed. Blocking: call from a worker thread."""
        key = self._cache_key(creds)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        user = self._store.authenticate(creds.username, creds.password, lockout_threshold=self._lockout_threshold)
        with self._lock:
            if len(self._cache) >= CACHE_MAX:
                self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
                if len(self._cache) >= CACHE_MAX:
                    self._cache.clear()
            self._cache[key] = (now + CACHE_SECONDS, user)
        return user

    def cached(self, creds: BasicCredentials) -> User | None:
        """The user if these credentials were verified recently (no store access, safe on the event loop)."""
        with self._lock:
            hit = self._cache.get(self._cache_key(creds))
        return hit[1] if hit is not None and hit[0] > time.monotonic() else None


__all__ = ["AuthenticationFailed", "BasicCredentials", "CredentialVerifier", "parse_basic"]
