"""POST WS-Management envelopes over one kept-alive HTTP/1.1 connection pool (httpx, asyncio).

Basic authentication as Exchange Online's remote PowerShell endpoint wants it, sent with every
request (the service checks it every time). TLS is verified by default; ``ca_file`` trusts a
self-signed server's certificate, ``insecure=True`` skips verification (with one warning per
process). HTTP and network failures become toolkit errors: 401 → :class:`AuthError` ("Access is
denied."), a SOAP fault → its mapped error, connection trouble → :class:`TransientError`.
"""

from __future__ import annotations

import functools
import ssl
import threading
import warnings
from pathlib import Path
from typing import Protocol

import httpx

from aobo.toolkit import wsman
from aobo.toolkit.errors import AuthError, ConnectError, TransientError

__all__ = ["CredentialLike", "InsecureConnectionWarning", "Transport", "ssl_context"]

SOAP_CONTENT_TYPE = "application/soap+xml;charset=UTF-8"
USER_AGENT = "aobo-toolkit/1 (WS-Management)"
#: Added to a Receive's OperationTimeout: the server answers within it, the network may lag.
READ_MARGIN = 30.0
_TRANSIENT_STATUSES = frozenset({408, 429, 502, 503, 504})


class CredentialLike(Protocol):
    """What the transport needs of :class:`aobo.toolkit.credential.Credential`."""

    @property
    def username(self) -> str: ...

    def password(self) -> str: ...


class InsecureConnectionWarning(UserWarning):
    """TLS verification is off: anyone on the path can read the password."""


_warned_insecure = threading.Event()


def _warn_insecure() -> None:
    if not _warned_insecure.is_set():
        _warned_insecure.set()
        warnings.warn(
            "TLS certificate verification is disabled (insecure=True): the server is not authenticated and "
            "anyone on the network path can read the Basic credentials. Pass ca_file= to trust a self-signed server.",
            InsecureConnectionWarning,
            stacklevel=4,
        )


@functools.lru_cache(maxsize=32)
def ssl_context(ca_file: str | None = None, insecure: bool = False) -> ssl.SSLContext | bool:
    """One context per (CA file, insecure): building one loads the trust store (tens of ms), and a
    fan-out opens hundreds of sessions."""
    if insecure:
        return False
    if ca_file is not None:
        path = Path(ca_file)
        if not path.is_file():
            raise ConnectError(f"The CA file {ca_file} does not exist.")
        try:
            return ssl.create_default_context(cafile=str(path))
        except (OSError, ssl.SSLError) as exc:
            raise ConnectError(f"The CA file {ca_file} cannot be used: {exc}") from None
    return ssl.create_default_context()


def _caused_by_tls(exc: BaseException) -> ssl.SSLError | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


class Transport:
    """An httpx AsyncClient bound to one endpoint URL and one account.

    Keep-alive matters: a pipeline is a Command and a run of Receives, and a new TLS handshake for
    each would cost more than the data. A few connections are kept so that a Signal can go out
    while a Receive is parked.
    """

    def __init__(
        self,
        url: str,
        credential: CredentialLike,
        *,
        ca_file: str | Path | None = None,
        insecure: bool = False,
        connect_timeout: float = 15.0,
        read_timeout: float = 60.0,
    ) -> None:
        if insecure:
            _warn_insecure()
        self.url = url
        self.read_timeout = read_timeout
        verify = (
            ssl_context(str(ca_file) if ca_file is not None else None, insecure) if url.startswith("https") else True
        )
        self._client = httpx.AsyncClient(
            auth=httpx.BasicAuth(credential.username, credential.password()),
            verify=verify,
            http1=True,
            http2=False,
            trust_env=False,
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            limits=httpx.Limits(max_connections=4, max_keepalive_connections=4, keepalive_expiry=100.0),
            headers={"Content-Type": SOAP_CONTENT_TYPE, "User-Agent": USER_AGENT},
        )
        self.closed = False

    async def post(self, request: wsman.Request, *, read_timeout: float | None = None) -> bytes:
        """POST one envelope; the 200 body, or the mapped error (a fault, 401, network trouble)."""
        timeout = httpx.Timeout(read_timeout or self.read_timeout, connect=self._client.timeout.connect)
        try:
            response = await self._client.post(self.url, content=request.body, timeout=timeout)
        except httpx.TimeoutException as exc:
            raise TransientError(f"The request to {self._where()} timed out ({type(exc).__name__}).") from None
        except httpx.TransportError as exc:
            tls = _caused_by_tls(exc)
            if tls is not None:
                raise ConnectError(
                    f"The TLS connection to {self._where()} could not be verified: {tls}. Pass ca_file= with the "
                    "server's CA certificate (or insecure=True for a test server)."
                ) from None
            raise TransientError(f"Connecting to {self._where()} failed: {exc or type(exc).__name__}.") from None
        return self._check(response)

    def _check(self, response: httpx.Response) -> bytes:
        status = response.status_code
        if status == 200:
            return response.content
        if status == 401:
            raise AuthError("Access is denied.")
        content_type = response.headers.get("content-type", "")
        if status == 500 and "xml" in content_type:
            root = wsman.parse(response.content)
            fault = wsman.fault_of(root)
            if fault is not None:
                raise wsman.error_for_fault(fault)
        if status in _TRANSIENT_STATUSES:
            raise TransientError(f"{self._where()} answered HTTP {status} {response.reason_phrase}.")
        raise ConnectError(f"{self._where()} answered HTTP {status} {response.reason_phrase}.")

    def _where(self) -> str:
        return str(httpx.URL(self.url).copy_with(username=None, password=None))

    async def aclose(self) -> None:
        if not self.closed:
            self.closed = True
            await self._client.aclose()

    def __repr__(self) -> str:
        return f"<Transport {self._where()}{' closed' if self.closed else ''}>"
