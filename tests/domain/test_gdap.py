"""GDAP relationships in the store: the state machine, durations, expiry from the clock, auto-extension,
access assignments and what a partner user holds through them (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from aobo.cmdlets import roles as role_table
from aobo.domain import gdap
from aobo.domain.entra import ENTRA_ROLES
from aobo.domain.errors import AlreadyExists, InvalidChange, NotFound
from aobo.domain.models import Tenant
from aobo.domain.store import Store

EXCHANGE_ADMIN = role_table.EXCHANGE_ADMINISTRATOR
GLOBAL_READER = role_table.GLOBAL_READER
GLOBAL_ADMIN = role_table.GLOBAL_ADMINISTRATOR
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    c = Clock()
    monkeypatch.setattr(gdap, "clock", c)
    yield c


@pytest.fixture
def tenants(store: Store) -> tuple[Tenant, Tenant]:
    return store.create_tenant("northwindit"), store.create_tenant("litware")


def active(store: Store, partner: Tenant, customer: Tenant, **kwargs: object) -> str:
    rel = store.gdap.create(
        partner.id,
        customer.id,
        kwargs.pop("name", "Exchange"),
        kwargs.pop("roles", [EXCHANGE_ADMIN, GLOBAL_READER]),
        **kwargs,
    )  # type: ignore[arg-type]
    store.gdap.lock_for_approval(rel.guid)
    return str(store.gdap.approve(rel.guid).guid)


def test_every_grantable_role_acts_as_an_exchange_role_group() -> None:
    # A relationship may hold any of the six roles; each must mean something to the role table.
    assert set(role_table.ENTRA_ROLE_GROUPS) == set(ENTRA_ROLES)
    assert all(group in role_table.ROLE_GROUPS for group in role_table.ENTRA_ROLE_GROUPS.values())


def test_created_locked_approved_terminated(store: Store, tenants: tuple[Tenant, Tenant], clock: Clock) -> None:
    partner, customer = tenants
    rel = store.gdap.create(partner.id, customer.id, "Exchange admins", [EXCHANGE_ADMIN.upper()], duration_days=30)
    assert (rel.status, rel.roles, rel.duration_days, rel.auto_extend_days) == ("created", (EXCHANGE_ADMIN,), 30, 0)
    assert rel.activated is None and rel.end is None and rel.created == T0
    with pytest.raises(InvalidChange, match="is created; this action needs it to be approvalPending"):
        store.gdap.approve(rel.guid)
    clock.advance(hours=1)
    pending = store.gdap.lock_for_approval(rel.guid)
    assert pending.status == "approvalPending"
    assert pending.request_expires == T0 + timedelta(hours=1, days=90)
    with pytest.raises(InvalidChange, match="approvalPending; this action needs it to be created"):
        store.gdap.lock_for_approval(rel.guid)
    clock.advance(hours=1)
    approved = store.gdap.approve(rel.guid)
    assert approved.status == "active"
    assert approved.activated == T0 + timedelta(hours=2)
    assert approved.end == approved.activated + timedelta(days=30)
    with pytest.raises(InvalidChange, match="is active: only a relationship in status created can be changed"):
        store.gdap.update(rel.guid, display_name="Other")
    ended = store.gdap.terminate(rel.guid)
    assert ended.status == "terminated" and ended.end == clock.now
    with pytest.raises(InvalidChange, match="is terminated"):
        store.gdap.terminate(rel.guid)
    assert store.gdap.get(rel.guid) == ended
    assert [r.guid for r in store.gdap.relationships(customer.id)] == [rel.guid]
    assert store.gdap.relationships(partner.id, status="active") == []


def test_an_active_relationship_expires_at_its_end_without_any_job(
    store: Store, tenants: tuple[Tenant, Tenant], clock: Clock
) -> None:
    partner, customer = tenants
    guid = active(store, partner, customer, duration_days=10)
    clock.advance(days=10, seconds=-1)
    assert store.gdap.get(guid).status == "active"  # type: ignore[union-attr]
    clock.advance(seconds=1)
    expired = store.gdap.get(guid)
    assert expired is not None and expired.status == "expired" and expired.end == T0 + timedelta(days=10)
    with pytest.raises(InvalidChange, match="is expired"):
        store.gdap.terminate(guid)
    with pytest.raises(InvalidChange, match="is expired: access can be assigned only in an active one"):
        store.gdap.assign(guid, "Exchange Admins", [EXCHANGE_ADMIN])


def test_auto_extension_adds_180_days_again_and_again(
    store: Store, tenants: tuple[Tenant, Tenant], clock: Clock
) -> None:
    partner, customer = tenants
    guid = active(store, partner, customer, duration_days=730, auto_extend_days=180)
    clock.advance(days=730)
    rel = store.gdap.get(guid)
    assert rel is not None and rel.status == "active" and rel.end == T0 + timedelta(days=910)
    clock.advance(days=400)  # 1130 days: two more extensions
    rel = store.gdap.get(guid)
    assert rel is not None and rel.status == "active" and rel.end == T0 + timedelta(days=1270)
    # Switching auto-extension off while active is allowed (Graph allows only that change then).
    store.gdap.update(guid, auto_extend_days=0)
    assert store.gdap.get(guid).status == "expired"  # type: ignore[union-attr]


def test_auto_extension_is_refused_with_global_administrator(store: Store, tenants: tuple[Tenant, Tenant]) -> None:
    partner, customer = tenants
    with pytest.raises(InvalidChange, match=r"Auto-extension is not supported .* Global Administrator role"):
        store.gdap.create(partner.id, customer.id, "GA", [GLOBAL_ADMIN, GLOBAL_READER], auto_extend_days=180)
    rel = store.gdap.create(partner.id, customer.id, "GA", [GLOBAL_READER], auto_extend_days=180)
    with pytest.raises(InvalidChange, match="Global Administrator"):
        store.gdap.update(rel.guid, roles=[GLOBAL_ADMIN])
    assert store.gdap.get(rel.guid).roles == (GLOBAL_READER,)  # type: ignore[union-attr]


@pytest.mark.parametrize(("text", "days"), [("P730D", 730), ("P2Y", 730), ("p1d", 1), ("P8W", 56), ("P1Y30D", 395)])
def test_durations_in_range_parse(text: str, days: int) -> None:
    assert gdap.parse_duration(text) == days


@pytest.mark.parametrize("text", ["P731D", "P3Y", "P0D", "PT0S", "730", "P", "P1M", ""])
def test_durations_out_of_range_or_malformed_are_refused(text: str) -> None:
    with pytest.raises(InvalidChange):
        gdap.parse_duration(text)


def test_duration_limits_hold_in_the_store(store: Store, tenants: tuple[Tenant, Tenant]) -> None:
    partner, customer = tenants
    with pytest.raises(InvalidChange, match="P731D is out of range"):
        store.gdap.create(partner.id, customer.id, "Long", [GLOBAL_READER], duration_days=731)
    with pytest.raises(InvalidChange, match="P0D is out of range"):
        store.gdap.create(partner.id, customer.id, "Short", [GLOBAL_READER], duration_days=0)
    assert gdap.parse_auto_extend("PT0S") == 0 and gdap.parse_auto_extend("p180d") == 180
    with pytest.raises(InvalidChange, match="supported values are PT0S and P180D"):
        gdap.parse_auto_extend("P90D")


def test_display_names_are_unique_per_partner_and_bounded(store: Store, tenants: tuple[Tenant, Tenant]) -> None:
    partner, customer = tenants
    other = store.create_tenant("fabrikam")
    store.gdap.create(partner.id, customer.id, "Exchange", [GLOBAL_READER])
    with pytest.raises(AlreadyExists, match="displayName 'EXCHANGE' already exists"):
        store.gdap.create(partner.id, other.id, "EXCHANGE", [GLOBAL_READER])
    store.gdap.create(other.id, customer.id, "Exchange", [GLOBAL_READER])  # another partner may
    with pytest.raises(InvalidChange, match="longer than 50"):
        store.gdap.create(partner.id, other.id, "x" * 51, [GLOBAL_READER])
    with pytest.raises(InvalidChange, match="at least one role"):
        store.gdap.create(partner.id, other.id, "None", [])
    with pytest.raises(InvalidChange, match="not a role template id"):
        store.gdap.create(partner.id, other.id, "Bad", ["Exchange Administrator"])
    with pytest.raises(InvalidChange, match="its own partner"):
        store.gdap.create(partner.id, partner.id, "Self", [GLOBAL_READER])
    with pytest.raises(NotFound):
        store.gdap.create(partner.id, 9999, "Ghost", [GLOBAL_READER])


def test_an_unanswered_request_expires_after_90_days(
    store: Store, tenants: tuple[Tenant, Tenant], clock: Clock
) -> None:
    partner, customer = tenants
    rel = store.gdap.create(partner.id, customer.id, "Pending", [GLOBAL_READER])
    store.gdap.lock_for_approval(rel.guid)
    clock.advance(days=90)
    assert store.gdap.get(rel.guid).status == "expired"  # type: ignore[union-attr]
    with pytest.raises(InvalidChange, match="is expired; this action needs it to be approvalPending"):
        store.gdap.approve(rel.guid)


def test_assignments_decide_what_a_partner_user_holds(
    store: Store, tenants: tuple[Tenant, Tenant], clock: Clock
) -> None:
    partner, customer = tenants
    assert store.gdap.roles_in(partner.id, customer.id, ["Exchange Admins"]) is None  # no relationship
    guid = active(store, partner, customer)
    assert store.gdap.roles_in(partner.id, customer.id, ["Exchange Admins"]) == frozenset()
    admins = store.gdap.assign(guid, "Exchange Admins", [EXCHANGE_ADMIN])
    assert admins.group_id == gdap.group_guid(partner.guid, "exchange admins")
    store.gdap.assign(guid, "Exchange Readers", [GLOBAL_READER])
    with pytest.raises(AlreadyExists, match="already has an access assignment"):
        store.gdap.assign(guid, "exchange admins", [GLOBAL_READER])
    with pytest.raises(InvalidChange, match="not among the roles of the relationship"):
        store.gdap.assign(guid, "Helpdesk", [role_table.HELPDESK_ADMINISTRATOR])
    assert store.gdap.roles_in(partner.id, customer.id, ["exchange admins"]) == {EXCHANGE_ADMIN}
    assert store.gdap.roles_in(partner.id, customer.id, ["Exchange Admins", "Exchange Readers"]) == {
        EXCHANGE_ADMIN,
        GLOBAL_READER,
    }
    assert store.gdap.roles_in(partner.id, customer.id, ["AdminAgents"]) == frozenset()
    store.gdap.unassign(guid, admins.guid)
    assert store.gdap.roles_in(partner.id, customer.id, ["Exchange Admins"]) == frozenset()
    with pytest.raises(NotFound):
        store.gdap.unassign(guid, admins.guid)
    assert [a.group for a in store.gdap.assignments(guid)] == ["Exchange Readers"]
    assert len(store.gdap.assignments(guid, include_deleted=True)) == 2
    store.gdap.terminate(guid)
    assert store.gdap.roles_in(partner.id, customer.id, ["Exchange Readers"]) is None


def test_security_group_membership(store: Store, tenants: tuple[Tenant, Tenant]) -> None:
    partner, _ = tenants
    user = store.create_user(partner.id, "gdap@northwindit.onmicrosoft.com", "GDAP")
    assert store.gdap.add_to_group(user.id, "Exchange Admins") is True
    assert store.gdap.add_to_group(user.id, "exchange admins") is False
    assert store.find_user(user.user_principal_name).role_groups == {"Exchange Admins"}  # type: ignore[union-attr]
    assert store.gdap.remove_from_group(user.id, "EXCHANGE ADMINS") is True
    assert store.find_user(user.user_principal_name).role_groups == frozenset()  # type: ignore[union-attr]
    with pytest.raises(NotFound):
        store.gdap.add_to_group(9999, "Exchange Admins")
