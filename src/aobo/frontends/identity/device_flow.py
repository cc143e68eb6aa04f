"""Pending device-code sign-ins (RFC 8628), kept in memory: they live 15 minutes.

A device asks for a code pair; the person types the short ``user_code`` on the verification page
and signs in there, and the device polls with the long ``device_code`` until that sign-in approves
(or declines) it. Codes are found by a hash of their value and then compared in constant time; a
user code works once. The table is capped, so a flood of requests cannot grow memory without bound:
at most ``CAPACITY`` grants, at most ``PER_CLIENT`` live ones started from one client address, and
the endpoint stores only a GUID client id and a scope of at most ``MAX_SCOPE`` characters.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Literal

from aobo.domain.models import Tenant, User

#: Letters and digits nobody confuses (no 0/O, 1/I/L, 5/S, 2/Z, 8/B).
USER_CODE_ALPHABET = "ACDEFGHJKMNPQRTUVWXY34679"
USER_CODE_LENGTH = 9
LIFETIME = 900
CAPACITY = 10_000
#: Live (unexpired) grants one client address may have started.
PER_CLIENT = 50
#: Longest ``scope`` a device-code request may carry.
MAX_SCOPE = 2048
#: An expired code is still recognised (and reported as expired) this long after it ends.
GRACE = 900

State = Literal["pending", "approved", "declined"]


def _digest(code: str) -> bytes:
    return hashlib.sha256(code.encode()).digest()


def normalise_user_code(text: str) -> str:
    return "".join(ch for ch in text.upper() if ch.isalnum())


@dataclass(slots=True)
class DeviceGrant:
    # The codes and the consent ticket are credentials: kept out of repr (logs, tracebacks).
    device_code: str = field(repr=False)
    user_code: str = field(repr=False)
    client_id: str
    scope: str
    url_tenant: Tenant | None
    expires: float
    interval: int
    client_address: str = ""
    state: State = "pending"
    user: User | None = None
    last_poll: float = 0.0
    #: Set once the person's credentials were checked: the consent step must present it.
    consent_ticket: str | None = field(default=None, repr=False)
    candidate: User | None = None
    created: float = field(default_factory=time.time)

    @property
    def expired(self) -> bool:
        return time.time() >= self.expires


class DeviceFlowFull(Exception):
    """Too many sign-ins are pending."""


class DeviceFlowThrottled(Exception):
    """Too many sign-ins are pending from one client address; one ends in ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after} s")
        self.retry_after = retry_after


class DeviceFlows:
    def __init__(
        self,
        *,
        interval: int = 5,
        lifetime: int = LIFETIME,
        capacity: int = CAPACITY,
        per_client: int = PER_CLIENT,
    ) -> None:
        self.interval = interval
        self.lifetime = lifetime
        self.capacity = capacity
        self.per_client = per_client
        self._by_device: dict[bytes, DeviceGrant] = {}
        self._by_user: dict[bytes, DeviceGrant] = {}
        self._by_address: dict[str, list[DeviceGrant]] = {}
        self._lock = threading.Lock()

    def start(self, client_id: str, scope: str, url_tenant: Tenant | None, client_address: str = "") -> DeviceGrant:
        with self._lock:
            self._sweep()
            now = time.time()
            mine = [
                g
                for g in self._by_address.get(client_address, ())
                if g.expires > now and _digest(g.device_code) in self._by_device
            ]
            if len(mine) >= self.per_client:
                self._by_address[client_address] = mine
                raise DeviceFlowThrottled(max(1, int(min(g.expires for g in mine) - now) + 1))
            if len(self._by_device) >= self.capacity:
                raise DeviceFlowFull
            while True:
                user_code = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))
                if _digest(user_code) not in self._by_user:
                    break
            grant = DeviceGrant(
                device_code=secrets.token_urlsafe(48),
                user_code=user_code,
                client_id=client_id,
                scope=scope,
                url_tenant=url_tenant,
                expires=now + self.lifetime,
                interval=self.interval,
                client_address=client_address,
            )
            self._by_device[_digest(grant.device_code)] = grant
            self._by_user[_digest(user_code)] = grant
            mine.append(grant)
            self._by_address[client_address] = mine
            return grant

    def by_user_code(self, text: str) -> DeviceGrant | None:
        """The pending grant of a user code (expired ones too: the page says so); else ``None``."""
        code = normalise_user_code(text)
        with self._lock:
            grant = self._by_user.get(_digest(code))
        if grant is None or not hmac.compare_digest(grant.user_code, code):
            return None
        return grant

    def by_ticket(self, text: str) -> DeviceGrant | None:
        """The grant whose consent step ``text`` is the ticket of."""
        with self._lock:
            candidates = [g for g in self._by_user.values() if g.consent_ticket is not None]
        found = None
        for grant in candidates:  # every ticket compared, in constant time each
            if hmac.compare_digest(grant.consent_ticket or "", text):
                found = grant
        return found

    def by_device_code(self, code: str) -> DeviceGrant | None:
        with self._lock:
            grant = self._by_device.get(_digest(code))
        if grant is None or not hmac.compare_digest(grant.device_code, code):
            return None
        return grant

    def offer_consent(self, grant: DeviceGrant, user: User) -> str:
        """Remember who signed in for the grant; the ticket the consent form carries."""
        with self._lock:
            grant.candidate = user
            grant.consent_ticket = secrets.token_urlsafe(32)
            return grant.consent_ticket

    def decide(self, grant: DeviceGrant, *, approve: bool) -> bool:
        """Approve (for the signed-in candidate) or decline; the user code stops working. False when the
        grant was already decided or has expired."""
        with self._lock:
            if grant.state != "pending" or grant.expired or grant.candidate is None:
                return False
            grant.state = "approved" if approve else "declined"
            grant.user = grant.candidate if approve else None
            grant.consent_ticket = None
            self._by_user.pop(_digest(grant.user_code), None)
            return True

    def poll(self, grant: DeviceGrant) -> bool:
        """Record a poll; False when it came sooner than the interval allows."""
        now = time.monotonic()
        with self._lock:
            # A little slack: clients sleep ``interval`` between polls, and requests take time either way.
            too_soon = grant.last_poll and now - grant.last_poll < grant.interval * 0.8
            grant.last_poll = now
            return not too_soon

    def finish(self, grant: DeviceGrant) -> None:
        """Forget a grant whose token was issued or that was declined: a device code works once."""
        with self._lock:
            self._by_device.pop(_digest(grant.device_code), None)
            self._by_user.pop(_digest(grant.user_code), None)

    def _sweep(self) -> None:
        limit = time.time() - GRACE
        for key, grant in list(self._by_device.items()):
            if grant.expires < limit:
                del self._by_device[key]
                self._by_user.pop(_digest(grant.user_code), None)
        now = time.time()
        for address, grants in list(self._by_address.items()):
            live = [g for g in grants if g.expires > now and _digest(g.device_code) in self._by_device]
            if live:
                self._by_address[address] = live
            else:
                del self._by_address[address]
