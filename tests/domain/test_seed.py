from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from aobo.domain.schema import users
from aobo.domain.seed import (
    DEFAULT_DEMO_PASSWORD,
    DEMO_PASSWORD_ENV,
    GDAP_GROUPS,
    PARTNER_DOMAIN,
    DemoWorld,
    demo_password,
    seed_demo,
    seed_generated,
)
from aobo.domain.store import Store
from aobo.errors import AuthenticationFailed, NotFound


@pytest.fixture(autouse=True)
def _no_password_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DEMO_PASSWORD_ENV, raising=False)


@pytest.fixture
def world(store: Store) -> DemoWorld:
    return seed_demo(store)


def _types(store: Store, tenant_id: int) -> Counter[str]:
    return Counter(r.recipient_type_details for r in store.iter_mailboxes(tenant_id))


def test_demo_tenants_and_mailbox_counts(store: Store, world: DemoWorld) -> None:
    assert world.created
    assert world.partner.initial_domain == PARTNER_DOMAIN
    assert [t.initial_domain for t in world.customers] == [
        "contoso.onmicrosoft.com",
        "fabrikam.onmicrosoft.com",
        "tailspintoys.onmicrosoft.com",
    ]
    assert [store.count_mailboxes(t.id) for t in world.customers] == [40, 1500, 10]
    (woodgrove,) = world.others
    assert woodgrove.initial_domain == "woodgrove.onmicrosoft.com"
    assert 0 < store.count_mailboxes(woodgrove.id) < 10
    contoso = world.customers[0]
    assert _types(store, contoso.id) == {
        "UserMailbox": 30,
        "SharedMailbox": 5,
        "RoomMailbox": 3,
        "EquipmentMailbox": 2,
    }
    assert set(_types(store, world.customers[1].id)) == {
        "UserMailbox",
        "SharedMailbox",
        "RoomMailbox",
        "EquipmentMailbox",
    }


def test_demo_relationships(store: Store, world: DemoWorld) -> None:
    customers = store.customers_of(world.partner.id)
    assert [t for t, _ in customers] == list(world.customers)
    assert all(rel.state == "active" and rel.kind == "DAP" for _, rel in customers)
    assert store.relationship(world.partner.id, world.others[0].id) is None
    (litware,) = world.gdap_customers
    assert litware.initial_domain == "litware.onmicrosoft.com"
    assert store.count_mailboxes(litware.id) == 10
    assert store.relationship(world.partner.id, litware.id) is None  # GDAP only
    (rel,) = store.gdap.relationships(litware.id)
    assert (rel.status, rel.partner_tenant_id, rel.duration_days, rel.auto_extend_days) == (
        "active",
        world.partner.id,
        730,
        180,
    )
    assert {a.group: set(a.roles) for a in store.gdap.assignments(rel.guid)} == {
        group: set(roles) for group, roles in GDAP_GROUPS.items()
    }
    assert store.gdap.relationships(world.others[0].id) == []


def test_demo_contoso_addresses_and_ambiguity(store: Store, world: DemoWorld) -> None:
    contoso = world.customers[0]
    assert contoso.domains == ("contoso.onmicrosoft.com", "contoso.com")
    assert contoso.default_domain == "contoso.com"
    rows = list(store.iter_mailboxes(contoso.id))
    assert all(r.primary_smtp_address.endswith("@contoso.com") for r in rows)
    assert all(json.loads(r.email_addresses)[0].startswith("SMTP:") for r in rows)
    ambiguous = store.find_recipients(contoso.id, "Alex Wilber")
    assert len(ambiguous) == 2 and len({r.alias for r in ambiguous}) == 2
    assert len({r.name for r in rows}) == 40  # names (and so DNs) stay unique


def test_demo_accounts(store: Store, world: DemoWorld) -> None:
    by_upn = {a.user_principal_name: a for a in world.accounts}
    assert set(by_upn) == {
        f"admin@{PARTNER_DOMAIN}",
        f"helpdesk@{PARTNER_DOMAIN}",
        f"norps@{PARTNER_DOMAIN}",
        f"gdapadmin@{PARTNER_DOMAIN}",
        f"gdapreader@{PARTNER_DOMAIN}",
        "admin@contoso.onmicrosoft.com",
        "admin@fabrikam.onmicrosoft.com",
        "admin@tailspintoys.onmicrosoft.com",
        "admin@woodgrove.onmicrosoft.com",
        "admin@litware.onmicrosoft.com",
    }
    expected_roles = {
        f"gdapadmin@{PARTNER_DOMAIN}": {"Exchange Admins"},
        f"gdapreader@{PARTNER_DOMAIN}": {"Exchange Readers"},
        f"admin@{PARTNER_DOMAIN}": {"AdminAgents"},
        f"helpdesk@{PARTNER_DOMAIN}": {"HelpdeskAgents"},
        f"norps@{PARTNER_DOMAIN}": {"AdminAgents"},
    }
    for upn in by_upn:
        user = store.authenticate(upn, DEFAULT_DEMO_PASSWORD)
        assert user.role_groups == expected_roles.get(upn, {"Organization Management"})
        assert user.remote_powershell_enabled == (not upn.startswith("norps@"))
        tenant = store.get_tenant(user.tenant_id)
        assert upn.endswith("@" + tenant.initial_domain)
    with pytest.raises(AuthenticationFailed):
        store.authenticate(f"admin@{PARTNER_DOMAIN}", "not-the-password")


def test_seed_demo_is_idempotent(store: Store, world: DemoWorld) -> None:
    with store.engine.connect() as conn:
        users_before = conn.execute(sa.select(sa.func.count()).select_from(users)).scalar_one()
    again = seed_demo(store)
    assert not again.created
    assert (again.partner, again.customers, again.others) == (world.partner, world.customers, world.others)
    assert [store.count_mailboxes(t.id) for t in world.customers] == [40, 1500, 10]
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(users)).scalar_one() == users_before


def test_seed_demo_is_deterministic(make_url: Callable[[], str]) -> None:
    fingerprints = []
    for _ in range(2):
        store = Store.open(make_url())
        try:
            store.migrate()
            world = seed_demo(store)
            tenants = [(t.initial_domain, t.guid) for t in store.list_tenants()]
            mailboxes = [
                (r.alias, r.guid, r.exchange_guid, r.external_directory_object_id, r.when_created, r.props)
                for t in world.customers
                for r in store.iter_mailboxes(t.id)
            ]
            accounts = [(a.user_principal_name, store.find_user(a.user_principal_name)) for a in world.accounts]
            fingerprints.append((tenants, mailboxes, [(upn, u.guid if u else None) for upn, u in accounts]))
        finally:
            store.close()
    assert fingerprints[0] == fingerprints[1]


def test_demo_password_override(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    assert demo_password() == DEFAULT_DEMO_PASSWORD
    monkeypatch.setenv(DEMO_PASSWORD_ENV, "Other-Pa55word!")
    assert demo_password() == "Other-Pa55word!"
    world = seed_demo(store)
    assert world.password == "Other-Pa55word!"
    assert store.authenticate(f"admin@{PARTNER_DOMAIN}", "Other-Pa55word!")
    with pytest.raises(AuthenticationFailed):
        store.authenticate(f"admin@{PARTNER_DOMAIN}", DEFAULT_DEMO_PASSWORD)


def test_explicit_password_wins(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DEMO_PASSWORD_ENV, "From-Env-1!")
    seed_demo(store, password="Explicit-2!")
    assert store.authenticate("admin@contoso.onmicrosoft.com", "Explicit-2!")


def test_seed_generated(store: Store, world: DemoWorld) -> None:
    created = seed_generated(store, 20, 5)
    assert [t.initial_domain for t in created] == [f"cust{n:04d}.onmicrosoft.com" for n in range(1, 21)]
    for tenant in created:
        assert store.count_mailboxes(tenant.id) == 5
        rel = store.relationship(world.partner.id, tenant.id)
        assert rel is not None and rel.state == "active"
        admin = store.find_user(f"admin@{tenant.initial_domain}")
        assert admin is not None and admin.role_groups == {"Organization Management"}
    assert store.authenticate("admin@cust0007.onmicrosoft.com", DEFAULT_DEMO_PASSWORD)
    assert len(store.customers_of(world.partner.id)) == 3 + 20
    # Numbering carries on after the existing customers.
    more = seed_generated(store, 2, 1)
    assert [t.name for t in more] == ["cust0021", "cust0022"]
    assert seed_generated(store, 0, 5) == []


def test_seed_generated_creates_the_demo_partner_when_missing(store: Store) -> None:
    created = seed_generated(store, 1, 3, password="Gen-Pa55!")
    partner = store.resolve_tenant(PARTNER_DOMAIN)
    assert partner is not None
    assert store.relationship(partner.id, created[0].id) is not None
    assert store.authenticate(f"admin@{PARTNER_DOMAIN}", "Gen-Pa55!")


def test_seed_generated_needs_an_existing_other_partner(store: Store) -> None:
    with pytest.raises(NotFound):
        seed_generated(store, 1, 1, partner_domain="elsewhere.onmicrosoft.com")
    with pytest.raises(ValueError):
        seed_generated(store, -1, 1)
