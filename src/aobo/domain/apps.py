"""App registrations (``store.apps``): applications that sign in as themselves with a client secret
or a certificate, and the Entra directory roles they hold in each tenant.

A secret's value is returned once, by :meth:`AppStore.add_secret`, and only its argon2 hash is kept.
An app holds roles in its home tenant, and in another tenant only those :func:`consentable_roles`
allows through its home tenant's partner relationships: that one function is where they decide.
"""

from __future__ import annotations

import secrets
import string
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import Row
from sqlalchemy.exc import IntegrityError

from aobo.domain.entra import ENTRA_ROLES
from aobo.domain.errors import AlreadyExists, InvalidCredential, NotFound
from aobo.domain.models import AppCertificate, AppRegistration, AppSecret, utcnow
from aobo.domain.passwords import dummy_hash, hash_password, verify_password
from aobo.domain.repository import Repository
from aobo.domain.schema import app_certificates, app_registrations, app_role_assignments, app_secrets
from aobo.errors import AccessDenied

if TYPE_CHECKING:
    from aobo.domain.store import Store

#: Entra's default lifetime of a new client secret (the portal's recommended 180 days).
SECRET_LIFETIME = timedelta(days=180)
_SECRET_ALPHABET = string.ascii_letters + string.digits + "_-.~"

_a, _s, _c, _ra = app_registrations.c, app_secrets.c, app_certificates.c, app_role_assignments.c


def consentable_roles(store: Store, home_tenant_id: int, tenant_id: int) -> frozenset[str] | None:
    """The roles an app registered in ``home_tenant_id`` may hold in ``tenant_id`` now: any in its
    own tenant or a DAP customer (DAP is Global Administrator there), in a GDAP customer only those
    its active relationships grant; ``None`` where no relationship lets it in at all."""
    if home_tenant_id == tenant_id or store.relationship(home_tenant_id, tenant_id) is not None:
        return frozenset(ENTRA_ROLES)
    return store.gdap.granted(home_tenant_id, tenant_id)


def new_secret_value() -> str:
    """A 40-character secret shaped like Entra's (``xyz8Q~...``)."""
    head = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(3))
    return head + "8Q~" + "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(34))


def _parse_uuid(value: str | uuid.UUID) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(value.strip())
    except (ValueError, AttributeError):
        return None


def _app(row: Row[object]) -> AppRegistration:
    m = row._mapping
    return AppRegistration(
        id=m["id"],
        tenant_id=m["tenant_id"],
        app_id=uuid.UUID(m["app_id"]),
        object_id=uuid.UUID(m["object_id"]),
        display_name=m["display_name"],
        created=m["created"],
    )


def _secret(row: Row[object]) -> AppSecret:
    m = row._mapping
    return AppSecret(uuid.UUID(m["key_id"]), m["hint"], m["end_date_time"], m["created"])


def _certificate(row: Row[object]) -> AppCertificate:
    m = row._mapping
    return AppCertificate(
        uuid.UUID(m["key_id"]),
        m["sha1_thumbprint"],
        m["sha256_thumbprint"],
        m["certificate_pem"],
        m["end_date_time"],
        m["created"],
    )


class AppStore(Repository):
    __slots__ = ()

    # -- registrations ----------------------------------------------------------------------------

    def create(
        self,
        tenant_id: int,
        display_name: str,
        *,
        app_id: uuid.UUID | None = None,
        object_id: uuid.UUID | None = None,
    ) -> AppRegistration:
        name = display_name.strip()
        if not name or len(name) > 256:
            raise ValueError("An application's display name must have 1 to 256 characters.")
        now = utcnow()
        values = {
            "tenant_id": tenant_id,
            "app_id": str(app_id or uuid.uuid4()),
            "object_id": str(object_id or uuid.uuid4()),
            "display_name": name,
            "created": now,
        }
        try:
            with self.writing() as conn:
                new_id = conn.execute(app_registrations.insert().values(**values)).inserted_primary_key[0]
        except IntegrityError:
            raise AlreadyExists(
                f"An application with id {values['app_id']} already exists, or tenant {tenant_id} does not."
            ) from None
        return _app_from(values, new_id)

    def get(self, app_id: str | uuid.UUID) -> AppRegistration | None:
        """The app whose client id is ``app_id``; ``None`` for an unknown or malformed id."""
        parsed = _parse_uuid(app_id)
        if parsed is None:
            return None
        with self.reading() as conn:
            row = conn.execute(sa.select(app_registrations).where(_a.app_id == str(parsed))).one_or_none()
        return None if row is None else _app(row)

    def require(self, app_id: str | uuid.UUID) -> AppRegistration:
        app = self.get(app_id)
        if app is None:
            raise NotFound(f"No application with id {app_id!s}.")
        return app

    def list(self, tenant_id: int | None = None) -> list[AppRegistration]:
        query = sa.select(app_registrations).order_by(_a.id)
        if tenant_id is not None:
            query = query.where(_a.tenant_id == tenant_id)
        with self.reading() as conn:
            return [_app(row) for row in conn.execute(query)]

    # -- client secrets ---------------------------------------------------------------------------

    def add_secret(
        self, app: AppRegistration, *, lifetime: timedelta = SECRET_LIFETIME, value: str | None = None
    ) -> tuple[AppSecret, str]:
        """A new secret and its value: the only time the value is available."""
        secret_value = value or new_secret_value()
        if len(secret_value) < 16:
            raise InvalidCredential("A client secret must have at least 16 characters.")
        now = utcnow()
        secret = AppSecret(uuid.uuid4(), secret_value[:3], now + lifetime, now)
        with self.writing() as conn:
            conn.execute(
                app_secrets.insert().values(
                    app_id=app.id,
                    key_id=str(secret.key_id),
                    hint=secret.hint,
                    secret_hash=hash_password(secret_value),
                    end_date_time=secret.end_date_time,
                    created=now,
                )
            )
        return secret, secret_value

    def secrets_of(self, app: AppRegistration) -> list[AppSecret]:
        with self.reading() as conn:
            rows = conn.execute(sa.select(app_secrets).where(_s.app_id == app.id).order_by(_s.id))
            return [_secret(row) for row in rows]

    def match_secret(self, app: AppRegistration, value: str) -> AppSecret | None:
        """The app's secret (expired or not) whose value is ``value``, else ``None``. Blocking (argon2)."""
        with self.reading() as conn:
            rows = list(conn.execute(sa.select(app_secrets).where(_s.app_id == app.id).order_by(_s.id.desc())))
        if not rows:
            verify_password(dummy_hash(), value)  # as slow as a real check: no hint that none exist
            return None
        for row in rows:
            if verify_password(row.secret_hash, value):
                return _secret(row)
        return None

    # -- certificates -----------------------------------------------------------------------------

    def add_certificate(self, app: AppRegistration, certificate_pem: str | bytes) -> AppCertificate:
        """Register the public certificate (PEM) of an RSA key; its own notAfter is the end date."""
        data = certificate_pem.encode() if isinstance(certificate_pem, str) else certificate_pem
        try:
            cert = x509.load_pem_x509_certificate(data)
        except ValueError:
            raise InvalidCredential("The certificate is not a PEM-encoded X.509 certificate.") from None
        if not isinstance(cert.public_key(), rsa.RSAPublicKey):
            raise InvalidCredential("The certificate's key must be an RSA key (client assertions are RS256).")
        now = utcnow()
        credential = AppCertificate(
            key_id=uuid.uuid4(),
            sha1_thumbprint=cert.fingerprint(hashes.SHA1()).hex(),
            sha256_thumbprint=cert.fingerprint(hashes.SHA256()).hex(),
            certificate_pem=cert.public_bytes(Encoding.PEM).decode("ascii"),
            end_date_time=cert.not_valid_after_utc,
            created=now,
        )
        try:
            with self.writing() as conn:
                conn.execute(
                    app_certificates.insert().values(
                        app_id=app.id,
                        key_id=str(credential.key_id),
                        sha1_thumbprint=credential.sha1_thumbprint,
                        sha256_thumbprint=credential.sha256_thumbprint,
                        certificate_pem=credential.certificate_pem,
                        end_date_time=credential.end_date_time,
                        created=now,
                    )
                )
        except IntegrityError:
            raise AlreadyExists("This certificate is already registered for the application.") from None
        return credential

    def certificates_of(self, app: AppRegistration) -> list[AppCertificate]:
        with self.reading() as conn:
            rows = conn.execute(sa.select(app_certificates).where(_c.app_id == app.id).order_by(_c.id))
            return [_certificate(row) for row in rows]

    # -- directory roles per tenant ---------------------------------------------------------------

    def assign_role(self, app: AppRegistration, tenant_id: int, role_template_id: str) -> bool:
        """Give the app a directory role in a tenant (consenting it there); False when it had it.

        Raises :class:`AccessDenied` for a tenant its home tenant may not act in."""
        role = role_template_id.lower()
        allowed = consentable_roles(self.store, app.tenant_id, tenant_id)
        if allowed is None:
            raise AccessDenied(
                f"The application {app.app_id} can't be consented into that tenant: its home tenant has no "
                "active delegated administration relationship with it."
            )
        if role not in allowed:
            raise AccessDenied(
                f"The application {app.app_id} can't be given that role there: no active delegated administration "
                "relationship with that tenant grants it."
            )
        try:
            with self.writing() as conn:
                exists = conn.execute(
                    sa.select(_ra.app_id).where(
                        _ra.app_id == app.id, _ra.tenant_id == tenant_id, _ra.role_template_id == role
                    )
                ).first()
                if exists:
                    return False
                conn.execute(
                    app_role_assignments.insert().values(
                        app_id=app.id, tenant_id=tenant_id, role_template_id=role, created=utcnow()
                    )
                )
        except IntegrityError:
            return False  # a concurrent writer assigned it first
        return True

    def remove_role(self, app: AppRegistration, tenant_id: int, role_template_id: str) -> bool:
        with self.writing() as conn:
            removed = conn.execute(
                app_role_assignments.delete().where(
                    _ra.app_id == app.id, _ra.tenant_id == tenant_id, _ra.role_template_id == role_template_id.lower()
                )
            ).rowcount
        return bool(removed)

    def assigned_roles(self, app: AppRegistration, tenant_id: int) -> frozenset[str]:
        """The role template ids recorded for the app in the tenant (consent is checked by callers
        through :meth:`roles_in`)."""
        with self.reading() as conn:
            rows = conn.execute(
                sa.select(_ra.role_template_id).where(_ra.app_id == app.id, _ra.tenant_id == tenant_id)
            ).scalars()
            return frozenset(rows)

    def roles_in(self, app: AppRegistration, tenant_id: int) -> frozenset[str] | None:
        """The roles the app holds in the tenant now; ``None`` when it is not present there at all
        (neither its home tenant nor a tenant it was consented into and may still act in)."""
        roles = self.assigned_roles(app, tenant_id)
        if tenant_id == app.tenant_id:
            return roles
        # Checked again at every use: a relationship that ends or narrows takes the roles with it.
        allowed = consentable_roles(self.store, app.tenant_id, tenant_id)
        if not roles or allowed is None:
            return None
        return roles & allowed

    def tenants_of(self, app: AppRegistration) -> dict[int, frozenset[str]]:
        """Every tenant with roles recorded for the app → those roles."""
        found: dict[int, set[str]] = {}
        with self.reading() as conn:
            for tenant_id, role in conn.execute(
                sa.select(_ra.tenant_id, _ra.role_template_id).where(_ra.app_id == app.id)
            ):
                found.setdefault(tenant_id, set()).add(role)
        return {t: frozenset(r) for t, r in found.items()}


def _app_from(values: dict[str, object], new_id: int) -> AppRegistration:
    created = values["created"]
    assert isinstance(created, datetime)
    return AppRegistration(
        id=new_id,
        tenant_id=int(str(values["tenant_id"])),
        app_id=uuid.UUID(str(values["app_id"])),
        object_id=uuid.UUID(str(values["object_id"])),
        display_name=str(values["display_name"]),
        created=created,
    )
