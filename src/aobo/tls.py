"""A self-signed certificate so that the service speaks HTTPS from its first start.

Basic authentication sends the password with every request, so TLS is the default. Operators with a
real certificate pass ``--cert``/``--key``; everyone else gets a key pair generated once into
``<data>/tls/`` and reused. The certificate is its own CA (``CA:TRUE``, ``keyCertSign``) so a client
can trust exactly this server by naming the file as its CA bundle, which is what ``aobo demo`` and the
tests do with pypsrp and httpx.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
from collections.abc import Iterable, Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["ensure_self_signed"]

VALIDITY = dt.timedelta(days=730)
#: Regenerate a certificate this close to expiry rather than serve one that is about to fail.
RENEW_BEFORE = dt.timedelta(days=7)
ALWAYS_NAMED = ("localhost", "127.0.0.1", "::1")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def ensure_self_signed(data_dir: Path, hosts: Sequence[str]) -> tuple[Path, Path]:
    """Return ``(cert.pem, key.pem)`` under ``data_dir/tls``, generating them when needed.

    An existing pair is kept unless it cannot be read, expires within a week, or does not name one
    of ``hosts`` (so ``--host myserver`` after a first start on localhost gets a matching cert).
    """
    tls_dir = data_dir / "tls"
    cert_path, key_path = tls_dir / "cert.pem", tls_dir / "key.pem"
    wanted = _subject_alt_names([*ALWAYS_NAMED, *hosts])
    if key_path.exists() and _reusable(cert_path, wanted):
        return cert_path, key_path

    tls_dir.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _self_signed(key, wanted)
    _write(
        key_path,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        mode=0o600,
    )
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return cert_path, key_path


def _subject_alt_names(hosts: Iterable[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys(h.strip("[]") for h in hosts if h):
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            names.append(x509.DNSName(host.lower()))
            continue
        if address.is_unspecified:
            # A wildcard bind (0.0.0.0, ::) is reached through the machine's own name.
            names.append(x509.DNSName(socket.gethostname().lower()))
        else:
            names.append(x509.IPAddress(address))
    return list(dict.fromkeys(names))


def _reusable(cert_path: Path, wanted: list[x509.GeneralName]) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        present = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, x509.ExtensionNotFound):
        return False
    fresh = cert.not_valid_after_utc - RENEW_BEFORE > dt.datetime.now(dt.UTC)
    return fresh and all(name in present for name in wanted)


def _self_signed(key: ec.EllipticCurvePrivateKey, names: list[x509.GeneralName]) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "aobo")])
    now = dt.datetime.now(dt.UTC)
    public_key = key.public_key()
    ski = x509.SubjectKeyIdentifier.from_public_key(public_key)
    # The extensions satisfy strict X.509 checking (Python 3.13's VERIFY_X509_STRICT): a CA needs
    # keyUsage with keyCertSign, and every certificate an authority key identifier.
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))  # tolerate client clocks running behind
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )


def _write(path: Path, data: bytes, *, mode: int) -> None:
    # Write beside the target and rename, so a crash never leaves half a key, and create the file
    # with its final mode so the private key is never readable by others, not even briefly.
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, mode)  # os.open's mode is filtered by the umask
    os.replace(tmp, path)
