"""One typed settings object for the service, built once by the CLI (or a test) and passed down."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path
    db_url: str | None = None  # None: SQLite file ``aobo.db`` in data_dir
    host: str = "127.0.0.1"
    port: int = 8443
    cert_file: Path | None = None  # None: self-signed pair generated into data_dir
    key_file: Path | None = None
    insecure_http: bool = False
    #: Exchange Online's MaxConcurrency for remote PowerShell: open sessions per account.
    max_sessions_per_user: int = 3
    #: Seconds a session may sit unused before it is removed (Exchange Online: 15 minutes).
    idle_timeout: float = 900.0
    #: Largest SOAP envelope accepted or sent (Windows default MaxEnvelopeSizekb 500 → 512000 bytes).
    max_envelope_size: int = 512_000
    #: Hard cap on one HTTP request body, whatever the envelope header says.
    max_request_size: int = 1_048_576
    #: Receive long-poll when the request carries no OperationTimeout header.
    default_operation_timeout: float = 20.0
    #: Upper bound on a client's OperationTimeout, kept below common client read timeouts.
    max_operation_timeout: float = 60.0
    #: Consecutive wrong passwords before an account is locked out.
    lockout_threshold: int = 10
    #: Lifetime in seconds of the access tokens the identity endpoint issues (Entra: one hour).
    access_token_lifetime: int = 3600
    #: Seconds a device-code client waits between polls (Entra: 5); tests shorten it.
    device_code_interval: int = 5
    #: Seconds a device code stays valid (Entra: 15 minutes).
    device_code_lifetime: int = 900
    #: The service's public base URL (``https://login.example:8443``): the identity endpoint's token
    #: issuer, OpenID configuration URLs and accepted client-assertion audience are built from it,
    #: never from a request's Host header. None: this server's own scheme://host:port.
    public_url: str | None = None

    @property
    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{self.data_dir / 'aobo.db'}"

    @property
    def scheme(self) -> str:
        return "http" if self.insecure_http else "https"

    def endpoint_url(self, host: str | None = None) -> str:
        return f"{self.scheme}://{host or self.host}:{self.port}/powershell-liveid"

    @property
    def display_host(self) -> str:
        """The host as a URL names it: a wildcard address becomes this machine's name, IPv6 is bracketed."""
        if self.host in ("0.0.0.0", "::"):
            return socket.gethostname()
        if ":" in self.host:
            return f"[{self.host}]"
        return self.host

    @property
    def public_base_url(self) -> str:
        """``public_url`` without a trailing slash, else ``scheme://host:port`` of this server."""
        if self.public_url:
            return self.public_url.rstrip("/")
        return f"{self.scheme}://{self.display_host}:{self.port}"
