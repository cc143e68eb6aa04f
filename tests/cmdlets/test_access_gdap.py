"""open_scope with DAP and GDAP side by side: which roles a partner user holds in a customer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aobo.cmdlets import roles as r
from aobo.cmdlets.access import NoManagementRoles, open_scope
from aobo.domain.models import Tenant
from aobo.domain.store import Store
from aobo.errors import AccessDenied

PARTNER = "northwindit.onmicrosoft.com"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 'aobo.db'}") as s:
        s.migrate()
        yield s


@pytest.fixture
def world(store: Store) -> tuple[Tenant, Tenant, Tenant]:
    partner = store.create_tenant("northwindit")
    dap = store.create_tenant("contoso")
    gdap_only = store.create_tenant("litware")
    store.create_relationship(partner.id, dap.id)
    for customer, roles in (
        (dap, [r.SECURITY_READER_ROLE]),
        (gdap_only, [r.EXCHANGE_RECIPIENT_ADMINISTRATOR, r.GLOBAL_READER]),
    ):
        rel = store.gdap.create(partner.id, customer.id, f"To {customer.name}", roles)
        store.gdap.lock_for_approval(rel.guid)
        store.gdap.approve(rel.guid)
        store.gdap.assign(rel.guid, "Admins", roles[:1])
        if len(roles) > 1:
            store.gdap.assign(rel.guid, "Readers", roles[1:])
    return partner, dap, gdap_only


def test_dap_and_gdap_roles_add_up(store: Store, world: tuple[Tenant, Tenant, Tenant]) -> None:
    partner, dap, _ = world
    user = store.create_user(partner.id, f"both@{PARTNER}", "Both", role_groups=["HelpdeskAgents", "Admins"])
    scope = open_scope(store, user, "contoso.onmicrosoft.com")
    assert scope.tenant == dap
    assert scope.roles == {r.HELP_DESK, r.SECURITY_READER}
    assert scope.entra_roles == {r.HELPDESK_ADMINISTRATOR, r.SECURITY_READER_ROLE}


def test_gdap_only_customer_roles_come_from_the_groups(store: Store, world: tuple[Tenant, Tenant, Tenant]) -> None:
    partner, _, litware = world
    reader = store.create_user(partner.id, f"reader@{PARTNER}", "Reader", role_groups=["Readers"])
    scope = open_scope(store, reader, str(litware.guid))
    assert (scope.roles, scope.entra_roles) == ({r.VIEW_ONLY_ORGANIZATION_MANAGEMENT}, {r.GLOBAL_READER})
    both = store.create_user(partner.id, f"rw@{PARTNER}", "RW", role_groups=["Readers", "admins"])
    scope = open_scope(store, both, "litware.onmicrosoft.com")
    assert scope.roles == {r.VIEW_ONLY_ORGANIZATION_MANAGEMENT, r.RECIPIENT_MANAGEMENT}


def test_a_dap_agent_holds_nothing_in_a_gdap_only_customer(store: Store, world: tuple[Tenant, Tenant, Tenant]) -> None:
    partner, _, _ = world
    agent = store.create_user(partner.id, f"agent@{PARTNER}", "Agent", role_groups=["AdminAgents"])
    with pytest.raises(NoManagementRoles) as info:
        open_scope(store, agent, "litware.onmicrosoft.com")
    assert str(info.value).startswith("[AuthZRequestId=")
    assert str(info.value).endswith(
        f'[FailureCategory=AuthZ-AuthorizationException] The user "{PARTNER}\\agent@{PARTNER}" '
        "isn't assigned to any management roles."
    )


def test_no_relationship_at_all_keeps_the_old_refusal(store: Store, world: tuple[Tenant, Tenant, Tenant]) -> None:
    partner, _, _ = world
    store.create_tenant("woodgrove")
    user = store.create_user(partner.id, f"x@{PARTNER}", "X", role_groups=["Admins", "AdminAgents"])
    with pytest.raises(AccessDenied) as info:
        open_scope(store, user, "woodgrove.onmicrosoft.com")
    assert not isinstance(info.value, NoManagementRoles)
    assert "there is no active delegated administration relationship" in str(info.value)


def test_own_tenant_entra_roles_follow_the_role_groups(store: Store, world: tuple[Tenant, Tenant, Tenant]) -> None:
    _, dap, _ = world
    admin = store.create_user(dap.id, "admin@contoso.onmicrosoft.com", "A", role_groups=["Organization Management"])
    assert open_scope(store, admin, None).entra_roles == {r.EXCHANGE_ADMINISTRATOR}
