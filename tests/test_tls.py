import ipaddress
import ssl
import stat
from pathlib import Path

from cryptography import x509

from aobo.tls import ensure_self_signed


def _sans(cert_path: Path) -> x509.SubjectAlternativeName:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value


def test_ensure_self_signed_generates_once_and_reuses(tmp_path: Path) -> None:
    cert, key = ensure_self_signed(tmp_path, ["127.0.0.1"])
    assert (cert, key) == (tmp_path / "tls" / "cert.pem", tmp_path / "tls" / "key.pem")
    first = cert.read_bytes(), key.read_bytes()

    assert ensure_self_signed(tmp_path, ["localhost"]) == (cert, key)
    assert (cert.read_bytes(), key.read_bytes()) == first


def test_ensure_self_signed_names_loopback_and_requested_host(tmp_path: Path) -> None:
    cert, _ = ensure_self_signed(tmp_path, ["aobo.example.test"])
    sans = _sans(cert)
    assert set(sans.get_values_for_type(x509.DNSName)) == {"localhost", "aobo.example.test"}
    assert set(sans.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    }
    parsed = x509.load_pem_x509_certificate(cert.read_bytes())
    assert parsed.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_ensure_self_signed_regenerates_for_a_new_host(tmp_path: Path) -> None:
    cert, _ = ensure_self_signed(tmp_path, ["127.0.0.1"])
    before = cert.read_bytes()
    ensure_self_signed(tmp_path, ["10.1.2.3"])
    assert cert.read_bytes() != before
    assert ipaddress.ip_address("10.1.2.3") in _sans(cert).get_values_for_type(x509.IPAddress)


def test_ensure_self_signed_key_is_private(tmp_path: Path) -> None:
    _, key = ensure_self_signed(tmp_path, [])
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_ensure_self_signed_pair_loads_into_server_and_client_contexts(tmp_path: Path) -> None:
    cert, key = ensure_self_signed(tmp_path, ["127.0.0.1"])
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(cafile=cert)
    client.verify_flags |= ssl.VERIFY_X509_STRICT
    assert client.get_ca_certs()[0]["subject"] == ((("commonName", "aobo"),),)
