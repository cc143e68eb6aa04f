"""What the identity tests share: a self-signed RSA certificate for an app, and HTTP sessions that
trust the test server."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class AppCertificate:
    private_key: rsa.RSAPrivateKey
    private_pem: str
    certificate_pem: str
    sha1: str  # hex, as msal's "thumbprint" takes it


def make_certificate(name: str = "aobo test app", *, days: int = 30) -> AppCertificate:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return AppCertificate(
        key,
        private_pem,
        cert.public_bytes(serialization.Encoding.PEM).decode(),
        cert.fingerprint(hashes.SHA1()).hex(),
    )


class PortKeepingSession(requests.Session):
    """msal drops the authority's port when it asks ``/common/userrealm`` (Entra is always on 443);
    put the test server's port back on such URLs."""

    def __init__(self, base_url: str, ca_file: str) -> None:
        super().__init__()
        self.base_url = base_url
        self.portless = f"https://{urlsplit(base_url).hostname}/"
        self.trust_env = False  # REQUESTS_CA_BUNDLE would otherwise override verify
        self.verify = ca_file

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        if isinstance(url, str) and url.startswith(self.portless):
            url = f"{self.base_url}/{url[len(self.portless) :]}"
        return super().request(method, url, *args, **kwargs)
