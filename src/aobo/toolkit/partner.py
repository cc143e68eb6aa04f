"""Tenant discovery: the partner API's customer list, and tenant lists from files or the command line.

``GET /partner/v1/customers`` lives on the same host as the remote PowerShell endpoint, so its
URL is derived from the endpoint URI (same scheme, host and port) and it is authenticated with
the same Basic credentials and TLS settings.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from aobo.toolkit.credential import Credential
from aobo.toolkit.errors import AuthError, ConnectError, ToolkitError, TransientError
from aobo.toolkit.transport import ssl_context


class NotPartnerError(AuthError):
    """Signed in, but the account is not a partner agent (HTTP 403): it has no customers to list."""


CUSTOMERS_PATH = "/partner/v1/customers"
TIMEOUT = httpx.Timeout(30.0, connect=10.0)


@dataclass(frozen=True, slots=True)
class Customer:
    tenant_id: str
    name: str
    default_domain: str
    initial_domain: str
    relationship: str
    state: str
    #: "DAP" and/or "GDAP"; empty from a server that predates GDAP.
    relationship_kinds: tuple[str, ...] = ()
    #: Entra roles the account holds in the tenant, by display name.
    roles: tuple[str, ...] = ()
    #: When the GDAP access ends (ISO 8601), None for DAP alone.
    end_date: str | None = None

    @property
    def access(self) -> str:
        """One line for a table: "DAP", "GDAP until 2028-12-04", "DAP, GDAP until ..."."""
        kinds = ", ".join(self.relationship_kinds or (self.relationship,))
        return f"{kinds} until {self.end_date[:10]}" if self.end_date else kinds

    @property
    def domain(self) -> str:
        """What to pass as DelegatedOrg: the initial (.onmicrosoft.com) domain, which never changes."""
        return self.initial_domain

    def to_dict(self) -> dict[str, Any]:
        """The partner API's own JSON shape."""
        return {
            "tenantId": self.tenant_id,
            "name": self.name,
            "defaultDomainName": self.default_domain,
            "initialDomainName": self.initial_domain,
            "relationship": self.relationship,
            "state": self.state,
            "relationshipKinds": list(self.relationship_kinds),
            "roles": list(self.roles),
            "endDateTime": self.end_date,
        }


def customers_url(uri: str) -> str:
    """``https://host:8443/powershell-liveid?x`` → ``https://host:8443/partner/v1/customers``."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConnectError(f"not an http(s) endpoint URI: {uri!r}")
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], CUSTOMERS_PATH, "", ""))


def tls_verify(ca_file: str | Path | None = None, insecure: bool = False) -> ssl.SSLContext | bool:
    """httpx's ``verify``: the same TLS settings the sessions use (system trust, a CA file, or none)."""
    return ssl_context(str(Path(ca_file).expanduser()) if ca_file is not None else None, insecure)


def list_customers(
    uri: str, credential: Credential, *, ca_file: str | Path | None = None, insecure: bool = False
) -> list[Customer]:
    """The caller's customers with an active relationship, ordered as the server lists them."""
    url = customers_url(uri)
    verify = tls_verify(ca_file, insecure)
    try:
        with httpx.Client(verify=verify, timeout=TIMEOUT, trust_env=False) as client:
            response = client.get(url, auth=(credential.username, credential.password()))
    except httpx.HTTPError as exc:
        raise _connect_error(url, exc) from None
    return _customers(response, credential)


async def alist_customers(
    uri: str, credential: Credential, *, ca_file: str | Path | None = None, insecure: bool = False
) -> list[Customer]:
    """:func:`list_customers` for asyncio callers."""
    url = customers_url(uri)
    verify = tls_verify(ca_file, insecure)
    try:
        async with httpx.AsyncClient(verify=verify, timeout=TIMEOUT, trust_env=False) as client:
            response = await client.get(url, auth=(credential.username, credential.password()))
    except httpx.HTTPError as exc:
        raise _connect_error(url, exc) from None
    return _customers(response, credential)


def _connect_error(url: str, exc: httpx.HTTPError) -> ToolkitError:
    """TLS trouble is for the user to fix (ConnectError); refused, reset or timed out may pass (TransientError)."""
    text = f"{type(exc).__name__}: {exc}"
    if "CERTIFICATE_VERIFY_FAILED" in text or "SSL" in text:
        hint = " (is the server's certificate trusted? give its CA with --ca-file, or --insecure)"
        return ConnectError(f"cannot reach {url}: {text}{hint}")
    if isinstance(exc, httpx.TransportError):
        return TransientError(f"cannot reach {url}: {text}")
    return ConnectError(f"cannot reach {url}: {text}")


def _customers(response: httpx.Response, credential: Credential) -> list[Customer]:
    if response.status_code == 401:
        raise AuthError(f"the server refused the user name or password of {credential.username}")
    if response.status_code == 403:
        raise NotPartnerError(_error_message(response) or f"{credential.username} may not list customers")
    if response.status_code != 200:
        detail = _error_message(response) or response.reason_phrase
        if response.status_code in (502, 503, 504):
            raise TransientError(f"{response.request.url} answered HTTP {response.status_code}: {detail}")
        raise ConnectError(f"{response.request.url} answered HTTP {response.status_code}: {detail}")
    try:
        return [_customer(item) for item in response.json()["value"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise ConnectError(f"{response.request.url} answered something that is not a customer list: {exc}") from None


def _customer(item: dict[str, Any]) -> Customer:
    return Customer(
        tenant_id=str(item["tenantId"]),
        name=str(item["name"]),
        default_domain=str(item["defaultDomainName"]),
        initial_domain=str(item["initialDomainName"]),
        relationship=str(item.get("relationship", "")),
        state=str(item.get("state", "")),
        relationship_kinds=tuple(str(k) for k in item.get("relationshipKinds") or ()),
        roles=tuple(str(r) for r in item.get("roles") or ()),
        end_date=str(item["endDateTime"]) if item.get("endDateTime") else None,
    )


def _error_message(response: httpx.Response) -> str | None:
    try:
        error = response.json()["error"]
        return f"{error['message']} ({error['code']})"
    except (ValueError, KeyError, TypeError):
        return None


# ---------------------------------------------------------------------- tenant lists


def tenants_from(
    spec: str,
    *,
    uri: str | None = None,
    credential: Credential | None = None,
    ca_file: str | Path | None = None,
    insecure: bool = False,
) -> list[str]:
    """Tenants to act on: ``all`` (the partner API; needs ``uri`` and ``credential``), a file with
    one tenant a line (``#`` starts a comment), or ``a,b,c``. Order kept, duplicates dropped."""
    text = spec.strip()
    if not text:
        raise ToolkitError("no tenants given: use all, a file, or a comma-separated list")
    if text.lower() == "all":
        if uri is None or credential is None:
            raise ToolkitError("--tenants all needs the endpoint URI and a credential to ask the partner API")
        return [c.domain for c in list_customers(uri, credential, ca_file=ca_file, insecure=insecure)]
    path = Path(text).expanduser()
    if _is_file(path):
        return _unique(_read_tenant_file(path), f"{path}")
    if "/" in text or "\\" in text or path.suffix.lower() in (".txt", ".csv", ".lst"):
        raise ToolkitError(f"no such tenant file: {text}")
    return _unique([t.strip() for t in text.split(",")], "the tenant list")


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a long comma list is no file name ("File name too long")
        return False


def _read_tenant_file(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ToolkitError(f"cannot read tenant file {path}: {exc}") from None
    return [line.split("#", 1)[0].strip() for line in lines]


def _unique(names: list[str], where: str) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for name in names:
        if not name:
            continue
        if any(ch.isspace() for ch in name) or "," in name:
            raise ToolkitError(f"{where}: {name!r} is not a tenant (a domain or tenant id, one per entry)")
        if name.lower() not in seen:
            seen.add(name.lower())
            out.append(name)
    if not out:
        raise ToolkitError(f"{where} names no tenant")
    return out


__all__ = [
    "AuthError",
    "ConnectError",
    "Customer",
    "NotPartnerError",
    "alist_customers",
    "customers_url",
    "list_customers",
    "tenants_from",
    "tls_verify",
]
