"""Demo data: a partner, its DAP customers, a GDAP-only customer, a tenant that is not a customer,
and generated load.

Everything is reproducible: names come from seeded :class:`random.Random` instances and every GUID
is a uuid5 of the object's name, so two fresh databases seeded the same way hold the same GUIDs
(handy when comparing output between runs or against recorded transcripts).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import os
import random
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from aobo.domain.entra import EXCHANGE_ADMINISTRATOR, EXCHANGE_RECIPIENT_ADMINISTRATOR, GLOBAL_READER
from aobo.domain.errors import NotFound
from aobo.domain.gdap import AUTO_EXTEND_DAYS, MAX_DURATION_DAYS
from aobo.domain.models import NewMailbox, Tenant
from aobo.domain.passwords import hash_password
from aobo.domain.seed_content import seed_content
from aobo.domain.store import Store

__all__ = [
    "DEFAULT_DEMO_PASSWORD",
    "DEMO_PASSWORD_ENV",
    "GDAP_GROUPS",
    "GDAP_RELATIONSHIP_NAME",
    "PARTNER_DOMAIN",
    "DemoAccount",
    "DemoWorld",
    "demo_app_secret",
    "demo_password",
    "seed_demo",
    "seed_generated",
    "stable_guid",
]

DEMO_PASSWORD_ENV: Final = "AOBO_DEMO_PASSWORD"
#: Shared by every demo account unless AOBO_DEMO_PASSWORD says otherwise. Public: demo data only.
DEFAULT_DEMO_PASSWORD: Final = "Aobo-Demo-2026!"

PARTNER_DOMAIN: Final = "northwindit.onmicrosoft.com"
ORG_MANAGEMENT: Final = "Organization Management"

# Fixed namespace for the demo GUIDs; changing it changes every seeded GUID.
_NAMESPACE: Final = uuid.UUID("5d0b6a57-8c1e-4f0e-9a53-a0b0a0b0a0b0")
# Mailbox creation dates are spread over the years before this instant, not before "now",
# so reseeding later yields the same data.
_EPOCH: Final = datetime(2026, 1, 1, tzinfo=UTC)
_TENANTS_PER_TRANSACTION: Final = 50


def demo_password() -> str:
    """The demo password: ``$AOBO_DEMO_PASSWORD`` when set and non-empty, else the default."""
    return os.environ.get(DEMO_PASSWORD_ENV) or DEFAULT_DEMO_PASSWORD


def stable_guid(*parts: str) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, "/".join(p.lower() for p in parts))


#: The demo partner's app registration for app-only automation (client credentials).
DEMO_APP_NAME: Final = "Northwind Automation"
DEMO_APP_ID: Final = stable_guid("app", PARTNER_DOMAIN, DEMO_APP_NAME)
#: The customer the demo app is consented into, as Exchange Administrator (through the DAP relationship).
DEMO_APP_CUSTOMER: Final = "contoso.onmicrosoft.com"


def demo_app_secret(password: str | None = None) -> str:
    """The demo app's client secret, derived from the demo password so that it can be known
    again after seeding (the store keeps only its hash)."""
    digest = hashlib.sha256(f"aobo demo app secret\0{password or demo_password()}".encode()).digest()
    return "Nwa8Q~" + base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")[:34]


@dataclass(frozen=True, slots=True)
class DemoAccount:
    user_principal_name: str
    display_name: str
    tenant_domain: str
    role_groups: tuple[str, ...]
    remote_powershell_enabled: bool = True


@dataclass(frozen=True, slots=True)
class DemoWorld:
    """What :func:`seed_demo` set up, for the CLI to print."""

    partner: Tenant
    customers: tuple[Tenant, ...]
    others: tuple[Tenant, ...]
    accounts: tuple[DemoAccount, ...]
    password: str
    #: False when the demo world was already there: ``password`` is then what was asked for this
    #: time, not necessarily what the accounts were created with.
    created: bool
    #: Customers reached through GDAP only (not in ``customers``, the DAP ones).
    gdap_customers: tuple[Tenant, ...] = ()
    #: The partner's app registration for app-only access, and its client secret (derived from ``password``).
    app_id: uuid.UUID = DEMO_APP_ID
    app_secret: str = ""


# -- the demo world as data --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _TenantSpec:
    name: str
    extra_domains: tuple[str, ...] = ()
    mailboxes: int = 0

    @property
    def domain(self) -> str:
        return f"{self.name}.onmicrosoft.com"


_CUSTOMERS: Final = (
    _TenantSpec("contoso", ("contoso.com",), 40),
    _TenantSpec("fabrikam", (), 1500),
    _TenantSpec("tailspintoys", (), 10),
)
# Not a customer of the partner: delegated access to it must be refused.
_OTHERS: Final = (_TenantSpec("woodgrove", (), 5),)
# Reached only through GDAP: no DAP relationship, and only partner users in the groups below.
_GDAP_CUSTOMERS: Final = (_TenantSpec("litware", (), 10),)
GDAP_RELATIONSHIP_NAME: Final = "Litware Exchange management"
#: Partner security group → the roles it is assigned in the GDAP relationship.
GDAP_GROUPS: Final = {
    "Exchange Admins": (EXCHANGE_ADMINISTRATOR, EXCHANGE_RECIPIENT_ADMINISTRATOR),
    "Exchange Readers": (GLOBAL_READER,),
}


def _accounts() -> tuple[DemoAccount, ...]:
    partner = [
        DemoAccount(f"admin@{PARTNER_DOMAIN}", "Northwind IT Admin", PARTNER_DOMAIN, ("AdminAgents",)),
        DemoAccount(f"helpdesk@{PARTNER_DOMAIN}", "Northwind IT Helpdesk", PARTNER_DOMAIN, ("HelpdeskAgents",)),
        # An admin agent with remote PowerShell switched off, to exercise that refusal.
        DemoAccount(f"norps@{PARTNER_DOMAIN}", "Northwind IT No RPS", PARTNER_DOMAIN, ("AdminAgents",), False),
        # GDAP only: in a security group, in neither DAP agent group.
        DemoAccount(f"gdapadmin@{PARTNER_DOMAIN}", "Northwind IT GDAP Admin", PARTNER_DOMAIN, ("Exchange Admins",)),
        DemoAccount(f"gdapreader@{PARTNER_DOMAIN}", "Northwind IT GDAP Reader", PARTNER_DOMAIN, ("Exchange Readers",)),
    ]
    admins = [
        DemoAccount(f"admin@{t.domain}", f"{t.name.capitalize()} Admin", t.domain, (ORG_MANAGEMENT,))
        for t in (*_CUSTOMERS, *_OTHERS, *_GDAP_CUSTOMERS)
    ]
    return (*partner, *admins)


# (display name, alias, department, office) — Microsoft's familiar demo cast. Two people share the
# display name "Alex Wilber" (aliases differ) so ambiguous -Identity lookups can be tested.
_CONTOSO_PEOPLE: Final = (
    ("Adele Vance", "AdeleV", "Retail", "18/2111"),
    ("Alex Wilber", "AlexW", "Marketing", "131/1104"),
    ("Alex Wilber", "AWilber", "IT", "20/1101"),
    ("Allan Deyoung", "AllanD", "IT", "131/1105"),
    ("Bianca Pisani", "BiancaP", "Sales", "19/3123"),
    ("Brian Johnson", "BrianJ", "Sales", "19/3124"),
    ("Cameron White", "CameronW", "Operations", "24/1105"),
    ("Christie Cline", "ChristieC", "Sales", "131/2105"),
    ("Debra Berger", "DebraB", "Executive Management", "18/2107"),
    ("Delia Dennis", "DeliaD", "Operations", "24/1106"),
    ("Diego Siciliani", "DiegoS", "HR", "14/1108"),
    ("Emily Braun", "EmilyB", "Finance", "97/2302"),
    ("Enrico Cattaneo", "EnricoC", "Legal", "14/1102"),
    ("Gerhart Moller", "GerhartM", "Legal", "14/1103"),
    ("Grady Archie", "GradyA", "R&D", "19/2109"),
    ("Henrietta Mueller", "HenriettaM", "R&D", "18/1106"),
    ("Irvin Sayers", "IrvinS", "R&D", "20/2107"),
    ("Isaiah Langer", "IsaiahL", "Sales", "20/1101"),
    ("Johanna Lorenz", "JohannaL", "Engineering", "23/2102"),
    ("Joni Sherman", "JoniS", "Legal", "20/1109"),
    ("Lee Gu", "LeeG", "Manufacturing", "23/3101"),
    ("Lidia Holloway", "LidiaH", "Engineering", "20/2107"),
    ("Lynne Robbins", "LynneR", "Retail", "20/1104"),
    ("Megan Bowen", "MeganB", "Marketing", "12/1110"),
    ("Miriam Graham", "MiriamG", "Executive Management", "131/2103"),
    ("Nestor Wilke", "NestorW", "Operations", "36/2121"),
    ("Patti Fernandez", "PattiF", "Executive Management", "15/1102"),
    ("Pradeep Gupta", "PradeepG", "Finance", "98/2202"),
    ("Raul Razo", "RaulR", "Operations", "24/1109"),
    ("Sara Davis", "SaraD", "Finance", "97/2303"),
)
_CONTOSO_SHARED: Final = (
    ("Sales Team", "sales"),
    ("Customer Support", "support"),
    ("Info", "info"),
    ("HR Team", "hr"),
    ("Finance Team", "finance"),
)
_CONTOSO_ROOMS: Final = (
    ("Conf Room Adams", "ConfRoomAdams", 8),
    ("Conf Room Baker", "ConfRoomBaker", 12),
    ("Conf Room Crystal", "ConfRoomCrystal", 20),
)
_CONTOSO_EQUIPMENT: Final = (("Projector 1", "Projector1"), ("Pool Car 1", "PoolCar1"))


def _contoso_mailboxes(tenant: Tenant) -> list[NewMailbox]:
    rng = random.Random("contoso")
    domain = tenant.initial_domain
    result = []
    for i, (display, alias, department, office) in enumerate(_CONTOSO_PEOPLE):
        first, _, last = display.partition(" ")
        props: dict[str, Any] = {"Department": department, "Office": office}
        extra: tuple[str, ...] = ()
        if alias == "AdeleV":
            extra = ("smtp:adele.vance@contoso.com", "SIP:adelev@contoso.com")
        if department == "Legal":
            props["LitigationHoldEnabled"] = True
        if i % 4 == 0:
            props["ArchiveStatus"] = "Active"
            props["ArchiveGuid"] = str(stable_guid(domain, alias, "archive"))
        if i % 3 == 0:
            props["CustomAttribute1"] = f"CC-{1000 + i * 7}"
        result.append(
            _mailbox(
                domain,
                rng,
                name=alias,
                alias=alias,
                display_name=display,
                first_name=first,
                last_name=last,
                user_principal_name=f"{alias}@contoso.com",
                extra_addresses=extra,
                props=props,
            )
        )
    for display, alias in _CONTOSO_SHARED:
        props = {"GrantSendOnBehalfTo": ["MeganB"]} if alias == "sales" else {}
        result.append(
            _mailbox(
                domain,
                rng,
                name=display,
                alias=alias,
                display_name=display,
                recipient_type_details="SharedMailbox",
                props=props,
            )
        )
    for display, alias, capacity in _CONTOSO_ROOMS:
        result.append(
            _mailbox(
                domain,
                rng,
                name=display,
                alias=alias,
                display_name=display,
                recipient_type_details="RoomMailbox",
                props={"ResourceCapacity": capacity},
            )
        )
    for display, alias in _CONTOSO_EQUIPMENT:
        result.append(
            _mailbox(
                domain,
                rng,
                name=display,
                alias=alias,
                display_name=display,
                recipient_type_details="EquipmentMailbox",
            )
        )
    return result


_FIRST_NAMES: Final = (
    "Aaron",
    "Abigail",
    "Adrian",
    "Aisha",
    "Alan",
    "Alice",
    "Amir",
    "Ana",
    "Andre",
    "Angela",
    "Anika",
    "Arjun",
    "Ava",
    "Ben",
    "Bianca",
    "Carla",
    "Carlos",
    "Chen",
    "Chloe",
    "Daniel",
    "Dana",
    "David",
    "Elena",
    "Eli",
    "Emma",
    "Eric",
    "Fatima",
    "Felix",
    "Fiona",
    "Gabriel",
    "Grace",
    "Hana",
    "Hannah",
    "Hiro",
    "Ian",
    "Ines",
    "Isabel",
    "Ivan",
    "Jack",
    "Jamal",
    "Jana",
    "Javier",
    "Jin",
    "Julia",
    "Kai",
    "Karen",
    "Kenji",
    "Laura",
    "Leo",
    "Lina",
    "Lucas",
    "Maya",
    "Mei",
    "Mohamed",
    "Nadia",
    "Nina",
    "Noah",
    "Olga",
    "Omar",
    "Paula",
    "Pedro",
    "Priya",
    "Rafael",
    "Rosa",
    "Ryan",
    "Sam",
    "Sofia",
    "Tariq",
    "Tomas",
    "Uma",
    "Victor",
    "Wei",
    "Yara",
    "Yusuf",
    "Zoe",
)
_LAST_NAMES: Final = (
    "Abbott",
    "Adams",
    "Ahmed",
    "Alvarez",
    "Andersen",
    "Bauer",
    "Becker",
    "Bennett",
    "Brooks",
    "Carter",
    "Castro",
    "Chen",
    "Clarke",
    "Cruz",
    "Dubois",
    "Evans",
    "Fischer",
    "Flores",
    "Garcia",
    "Gomez",
    "Gupta",
    "Hall",
    "Hansen",
    "Hughes",
    "Ito",
    "Jensen",
    "Johnson",
    "Kato",
    "Khan",
    "Kim",
    "Klein",
    "Kowalski",
    "Larsen",
    "Lee",
    "Lopez",
    "Martin",
    "Meyer",
    "Miller",
    "Moreau",
    "Murphy",
    "Nakamura",
    "Nguyen",
    "Novak",
    "Okafor",
    "Olsen",
    "Patel",
    "Perez",
    "Petrov",
    "Quinn",
    "Reyes",
    "Rossi",
    "Sato",
    "Schmidt",
    "Silva",
    "Singh",
    "Smith",
    "Tanaka",
    "Torres",
    "Vogel",
    "Walker",
    "Wang",
    "Weber",
    "Williams",
    "Wong",
    "Young",
    "Zhang",
)
_DEPARTMENTS: Final = ("Sales", "Marketing", "Finance", "HR", "IT", "Operations", "Legal", "R&D", "Support")
# Cumulative weights: mostly people, a few shared, room and equipment mailboxes.
_TYPE_WEIGHTS: Final = (
    ("UserMailbox", 90),
    ("SharedMailbox", 96),
    ("RoomMailbox", 99),
    ("EquipmentMailbox", 100),
)


def _generated_mailboxes(tenant: Tenant, count: int, seed: str) -> Iterator[NewMailbox]:
    rng = random.Random(seed)
    domain = tenant.initial_domain
    taken: set[str] = set()
    kinds = {"SharedMailbox": 0, "RoomMailbox": 0, "EquipmentMailbox": 0}
    for _ in range(count):
        roll = rng.randrange(100)
        kind = next(k for k, limit in _TYPE_WEIGHTS if roll < limit)
        if kind == "UserMailbox":
            first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
            alias = _unique(f"{first}.{last}", taken)
            yield _mailbox(
                domain,
                rng,
                name=alias,
                alias=alias,
                display_name=f"{first} {last}",
                first_name=first,
                last_name=last,
                props={"Department": rng.choice(_DEPARTMENTS)},
            )
            continue
        kinds[kind] += 1
        n = kinds[kind]
        label = {"SharedMailbox": "Shared", "RoomMailbox": "Room", "EquipmentMailbox": "Equipment"}[kind]
        alias = _unique(f"{label.lower()}{n:03d}", taken)
        props = {"ResourceCapacity": rng.choice((4, 6, 8, 12, 20))} if kind == "RoomMailbox" else {}
        yield _mailbox(
            domain,
            rng,
            name=f"{label} {n:03d}",
            alias=alias,
            display_name=f"{label} {n:03d}",
            recipient_type_details=kind,
            props=props,
        )


def _unique(alias: str, taken: set[str]) -> str:
    candidate, n = alias, 1
    while candidate.lower() in taken:
        n += 1
        candidate = f"{alias}{n}"
    taken.add(candidate.lower())
    return candidate


def _mailbox(domain: str, rng: random.Random, **fields: Any) -> NewMailbox:
    key = f"{domain}/{fields['alias']}".lower()
    return NewMailbox(
        **fields,
        guid=uuid.uuid5(_NAMESPACE, f"{key}/guid"),
        exchange_guid=uuid.uuid5(_NAMESPACE, f"{key}/exchange"),
        external_directory_object_id=uuid.uuid5(_NAMESPACE, f"{key}/directory"),
        when_created=_EPOCH - timedelta(days=rng.randrange(30, 5 * 365), seconds=rng.randrange(86_400)),
    )


# -- seeding -----------------------------------------------------------------------------------


def seed_demo(store: Store, password: str | None = None) -> DemoWorld:
    """Create the demo world; a no-op returning the same description when it is already there.

    Each step only creates what is missing, so a run that was interrupted is completed by the next.
    """
    password = password or demo_password()
    accounts = _accounts()
    if store.resolve_tenant(PARTNER_DOMAIN) and store.find_user(accounts[0].user_principal_name):
        _ensure_demo_app(store, password)  # worlds seeded before apps existed get it now
        return _world(store, accounts, password, created=False)

    password_hash = hash_password(password)  # once: ~50 ms each, and every demo account shares it
    by_domain: dict[str, Tenant] = {}
    for spec in (*_CUSTOMERS, *_OTHERS, *_GDAP_CUSTOMERS):
        tenant = _ensure_tenant(store, spec.name, spec.extra_domains)
        by_domain[tenant.initial_domain] = tenant
        if store.count_mailboxes(tenant.id) == 0:
            with store.transaction() as tx:
                if spec.name == "contoso":
                    tx.add_mailboxes(tenant.id, _contoso_mailboxes(tenant))
                else:
                    tx.add_mailboxes(tenant.id, _generated_mailboxes(tenant, spec.mailboxes, spec.name))
                seed_content(tx, tenant, spec.name)
    partner = _ensure_tenant(store, "northwindit", ())
    by_domain[partner.initial_domain] = partner
    for spec in _CUSTOMERS:
        store.create_relationship(partner.id, by_domain[spec.domain].id)
    for spec in _GDAP_CUSTOMERS:
        _ensure_gdap(store, partner, by_domain[spec.domain])
    # The partner's first admin goes last: its presence is what marks the world as complete.
    _ensure_demo_app(store, password)
    for account in (*accounts[1:], accounts[0]):
        _ensure_user(store, by_domain[account.tenant_domain], account, password_hash)
    return _world(store, accounts, password, created=True)


def _ensure_demo_app(store: Store, password: str) -> None:
    """The partner's "Northwind Automation" app: a secret derived from the demo password, and
    Exchange Administrator in Contoso, consented through the partner relationship."""
    partner = store.resolve_tenant(PARTNER_DOMAIN)
    customer = store.resolve_tenant(DEMO_APP_CUSTOMER)
    if partner is None or customer is None or store.apps.get(DEMO_APP_ID) is not None:
        return
    with store.transaction() as tx:
        app = tx.apps.create(
            partner.id, DEMO_APP_NAME, app_id=DEMO_APP_ID, object_id=stable_guid("app-object", str(DEMO_APP_ID))
        )
        tx.apps.add_secret(app, value=demo_app_secret(password), lifetime=timedelta(days=730))
        tx.apps.assign_role(app, customer.id, EXCHANGE_ADMINISTRATOR)


def seed_generated(
    store: Store,
    tenants: int,
    mailboxes: int,
    *,
    partner_domain: str = PARTNER_DOMAIN,
    password: str | None = None,
) -> list[Tenant]:
    """Add ``tenants`` customers ``cust0001.onmicrosoft.com``... (numbering continues after existing
    ones), each with ``mailboxes`` mailboxes, an ``admin@`` account and an active DAP relationship.

    The partner is created with the demo world when it is the demo partner and missing.
    """
    if tenants < 0 or mailboxes < 0:
        raise ValueError("tenants and mailboxes must not be negative.")
    partner = store.resolve_tenant(partner_domain)
    if partner is None and partner_domain.lower() == PARTNER_DOMAIN:
        partner = seed_demo(store, password).partner
    if partner is None:
        raise NotFound(f"No partner tenant {partner_domain!r}.")
    if tenants == 0:
        return []
    # Hashed once for all the generated admins: argon2 is deliberately slow (~50 ms a hash).
    password_hash = hash_password(password or demo_password())
    numbers = [int(m[1]) for t in store.list_tenants() if (m := re.fullmatch(r"cust(\d+)", t.name))]
    start = max(numbers, default=0) + 1
    created: list[Tenant] = []
    pending = iter(range(start, start + tenants))
    # Several tenants per transaction: fewer commits, and far fewer WAL syncs on SQLite.
    while batch := list(itertools.islice(pending, _TENANTS_PER_TRANSACTION)):
        with store.transaction() as tx:
            created.extend(_generated_tenant(tx, partner, number, mailboxes, password_hash) for number in batch)
    return created


def _generated_tenant(store: Store, partner: Tenant, number: int, mailboxes: int, password_hash: str) -> Tenant:
    name = f"cust{number:04d}"
    tenant = store.create_tenant(name, guid=stable_guid(f"{name}.onmicrosoft.com", "tenant"))
    store.create_user(
        tenant.id,
        f"admin@{tenant.initial_domain}",
        f"{name} Admin",
        password_hash=password_hash,
        role_groups=(ORG_MANAGEMENT,),
        guid=stable_guid(f"admin@{tenant.initial_domain}", "user"),
    )
    store.add_mailboxes(tenant.id, _generated_mailboxes(tenant, mailboxes, name))
    seed_content(store, tenant, name)
    store.create_relationship(partner.id, tenant.id)
    return tenant


def _ensure_tenant(store: Store, name: str, extra_domains: tuple[str, ...]) -> Tenant:
    domain = f"{name}.onmicrosoft.com"
    existing = store.resolve_tenant(domain)
    if existing is not None:
        return existing
    return store.create_tenant(name, guid=stable_guid(domain, "tenant"), accepted_domains=extra_domains)


def _ensure_gdap(store: Store, partner: Tenant, customer: Tenant) -> None:
    """An approved relationship (two years, auto-extended) with the demo groups assigned."""
    guid = stable_guid(partner.initial_domain, customer.initial_domain, "gdap")
    if store.gdap.get(guid) is not None:
        return
    roles = {role for group_roles in GDAP_GROUPS.values() for role in group_roles}
    with store.transaction() as tx:
        tx.gdap.create(
            partner.id,
            customer.id,
            GDAP_RELATIONSHIP_NAME,
            roles,
            duration_days=MAX_DURATION_DAYS,
            auto_extend_days=AUTO_EXTEND_DAYS,
            guid=guid,
        )
        tx.gdap.lock_for_approval(guid)
        tx.gdap.approve(guid)
        for group, group_roles in GDAP_GROUPS.items():
            tx.gdap.assign(guid, group, group_roles)


def _ensure_user(store: Store, tenant: Tenant, account: DemoAccount, password_hash: str) -> None:
    if store.find_user(account.user_principal_name) is not None:
        return
    store.create_user(
        tenant.id,
        account.user_principal_name,
        account.display_name,
        password_hash=password_hash,
        role_groups=account.role_groups,
        remote_powershell_enabled=account.remote_powershell_enabled,
        guid=stable_guid(account.user_principal_name, "user"),
    )


def _world(store: Store, accounts: tuple[DemoAccount, ...], password: str, *, created: bool) -> DemoWorld:
    def tenant(spec_domain: str) -> Tenant:
        found = store.resolve_tenant(spec_domain)
        if found is None:
            raise NotFound(f"Demo tenant {spec_domain} is missing.")
        return found

    return DemoWorld(
        partner=tenant(PARTNER_DOMAIN),
        customers=tuple(tenant(s.domain) for s in _CUSTOMERS),
        others=tuple(tenant(s.domain) for s in _OTHERS),
        accounts=accounts,
        password=password,
        created=created,
        gdap_customers=tuple(tenant(s.domain) for s in _GDAP_CUSTOMERS),
        app_secret=demo_app_secret(password),
    )
