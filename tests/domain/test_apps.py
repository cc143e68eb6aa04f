"""``store.apps``: app registrations, their credentials and their roles per tenant."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import NameOID

from aobo.domain.entra import EXCHANGE_ADMINISTRATOR, GLOBAL_READER, HELPDESK_ADMINISTRATOR
from aobo.domain.errors import AlreadyExists, InvalidCredential
from aobo.domain.schema import app_secrets
from aobo.domain.store import Store
from aobo.errors import AccessDenied


def certificate(key: CertificateIssuerPrivateKeyTypes) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "app")])
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )


def test_secret_is_hashed_and_shown_once(store: Store) -> None:
    tenant = store.create_tenant("appshome")
    app = store.apps.create(tenant.id, "  Reporting  ")
    assert app.display_name == "Reporting"
    assert store.apps.get(str(app.app_id).upper()) == app
    assert store.apps.get("not-a-guid") is None
    secret, value = store.apps.add_secret(app)
    assert len(value) == 40 and value[3:6] == "8Q~" and secret.hint == value[:3]
    assert secret.end_date_time - secret.created == timedelta(days=180)
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(app_secrets)).all()
    assert len(rows) == 1
    assert rows[0].secret_hash.startswith("$argon2id$")
    assert all(value not in str(column) for column in rows[0])
    assert store.apps.match_secret(app, value) == secret
    assert store.apps.match_secret(app, value[:-1] + "x") is None
    assert store.apps.secrets_of(app) == [secret]
    expired, old = store.apps.add_secret(app, lifetime=timedelta(seconds=-1))
    matched = store.apps.match_secret(app, old)
    assert matched == expired and matched.expired


def test_certificates_are_rsa_and_unique(store: Store) -> None:
    tenant = store.create_tenant("certhome")
    app = store.apps.create(tenant.id, "Certified")
    cert = certificate(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    pem = cert.public_bytes(serialization.Encoding.PEM)
    registered = store.apps.add_certificate(app, pem)
    assert registered.sha1_thumbprint == cert.fingerprint(hashes.SHA1()).hex() and not registered.expired
    assert store.apps.certificates_of(app) == [registered]
    with pytest.raises(AlreadyExists):
        store.apps.add_certificate(app, pem)
    with pytest.raises(InvalidCredential):
        store.apps.add_certificate(app, "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")
    # An EC certificate cannot sign RS256 assertions.
    ec_cert = certificate(ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(InvalidCredential):
        store.apps.add_certificate(app, ec_cert.public_bytes(serialization.Encoding.PEM))


def test_roles_follow_the_partner_relationship(store: Store) -> None:
    partner = store.create_tenant("rolepartner")
    customer = store.create_tenant("rolecustomer")
    stranger = store.create_tenant("rolestranger")
    app = store.apps.create(partner.id, "Automation")
    assert store.apps.roles_in(app, partner.id) == frozenset()  # home: present, no roles yet
    assert store.apps.roles_in(app, customer.id) is None
    with pytest.raises(AccessDenied):
        store.apps.assign_role(app, customer.id, EXCHANGE_ADMINISTRATOR)
    relationship = store.create_relationship(partner.id, customer.id)
    assert store.apps.assign_role(app, customer.id, EXCHANGE_ADMINISTRATOR.upper())
    assert not store.apps.assign_role(app, customer.id, EXCHANGE_ADMINISTRATOR)
    assert store.apps.roles_in(app, customer.id) == {EXCHANGE_ADMINISTRATOR}
    assert store.apps.tenants_of(app) == {customer.id: frozenset({EXCHANGE_ADMINISTRATOR})}
    with pytest.raises(AccessDenied):
        store.apps.assign_role(app, stranger.id, EXCHANGE_ADMINISTRATOR)
    store.remove_relationship(relationship.id)
    assert store.apps.roles_in(app, customer.id) is None
    assert store.apps.remove_role(app, customer.id, EXCHANGE_ADMINISTRATOR)
    assert store.apps.tenants_of(app) == {}


def test_in_a_gdap_customer_an_app_holds_only_what_the_active_relationships_grant(store: Store) -> None:
    partner = store.create_tenant("gdapapppartner")
    customer = store.create_tenant("gdapappcustomer")
    app = store.apps.create(partner.id, "Partner Bot")

    def relationship(name: str, roles: list[str]) -> uuid.UUID:
        rel = store.gdap.create(partner.id, customer.id, name, roles, duration_days=30)
        store.gdap.lock_for_approval(rel.guid)
        return store.gdap.approve(rel.guid).guid

    broad = relationship("broad", [EXCHANGE_ADMINISTRATOR, GLOBAL_READER])
    assert store.apps.assign_role(app, customer.id, EXCHANGE_ADMINISTRATOR)
    with pytest.raises(AccessDenied, match="can't be given that role"):
        store.apps.assign_role(app, customer.id, HELPDESK_ADMINISTRATOR)
    assert store.apps.roles_in(app, customer.id) == {EXCHANGE_ADMINISTRATOR}
    store.gdap.terminate(broad)
    assert store.apps.roles_in(app, customer.id) is None
    # A new, narrower relationship does not bring the old assignment back.
    relationship("read only", [GLOBAL_READER])
    assert store.apps.roles_in(app, customer.id) == frozenset()
    assert store.apps.assign_role(app, customer.id, GLOBAL_READER)
    assert store.apps.roles_in(app, customer.id) == {GLOBAL_READER}


def test_a_failed_transaction_keeps_nothing(store: Store) -> None:
    tenant = store.create_tenant("atomic")
    with pytest.raises(InvalidCredential), store.transaction() as tx:
        app = tx.apps.create(tenant.id, "Half")
        tx.apps.add_secret(app, value="short")
    assert store.apps.list(tenant.id) == []
    with pytest.raises(AlreadyExists):
        store.apps.create(10_000, "No tenant", app_id=uuid.uuid4())
