"""Errors raised by the store, below :class:`aobo.errors.StoreError`.

StoreError (aobo.errors)
├── NotFound (aobo.errors)
├── InvalidChange               a value or a state change the object's rules refuse (GDAP duration, status)
└── AlreadyExists               a unique key (UPN, tenant name, accepted domain) is taken
    └── ProxyAddressConflict    a proxy address is already used by another recipient in the tenant
InvalidCredential               an app credential that cannot be registered
"""

from __future__ import annotations

from aobo.errors import NotFound, StoreError

__all__ = ["AlreadyExists", "InvalidChange", "InvalidCredential", "NotFound", "ProxyAddressConflict", "StoreError"]


class InvalidChange(StoreError):
    """A value out of range, or a change the object's current state does not allow."""


class AlreadyExists(StoreError):
    """A row with the same unique key already exists."""


class ProxyAddressConflict(AlreadyExists):
    """A proxy address (``smtp:``, ``sip:``, ``x500:``...) is already taken inside the tenant.

    Exchange refuses the change as a whole; so does the store, so nothing is half-written.
    """

    def __init__(self, address: str, tenant_id: int, owner: str | None = None) -> None:
        # Exchange's own wording, so the cmdlet layer can pass the text through unchanged.
        used_by = f' of "{owner}"' if owner else ""
        super().__init__(
            f'The proxy address "{address}" is already being used by the proxy addresses or '
            f"LegacyExchangeDN{used_by}. Please choose another proxy address."
        )
        self.address = address
        self.tenant_id = tenant_id
        self.owner = owner


class InvalidCredential(StoreError):
    """A credential that cannot be registered (not a PEM X.509 certificate, not an RSA key...)."""
