"""GDAP through remote PowerShell against a real server (pypsrp): each Entra role decides what runs in
the customer, and expiry, termination and a lost assignment refuse the next command of an open session."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from pypsrp.exceptions import WSManFaultError
from pypsrp.powershell import PSInvocationState, RunspacePool

from aobo.cmdlets import roles as role_table
from aobo.domain import gdap
from aobo.domain.entra import ENTRA_ROLES
from aobo.domain.models import NewMailbox, utcnow
from aobo.domain.store import Store
from tests.e2e.helpers import PARTNER_ADMIN, Endpoint, errors_of, objects_of, run

LITWARE = "litware.onmicrosoft.com"
PARTNER = "northwindit.onmicrosoft.com"
GDAP_ADMIN = f"gdapadmin@{PARTNER}"
GDAP_READER = f"gdapreader@{PARTNER}"


def _grant(store: Store, name: str, roles: list[str], *, customer: str = LITWARE, group: str | None = None) -> str:
    """A partner user in a group of its own holding ``roles`` in the customer through a new relationship;
    returns the relationship's id."""
    partner, tenant = store.resolve_tenant(PARTNER), store.resolve_tenant(customer)
    group = group or f"GDAP {name}"
    rel = store.gdap.create(partner.id, tenant.id, f"Test {name}", roles, duration_days=30)
    store.gdap.lock_for_approval(rel.guid)
    store.gdap.approve(rel.guid)
    store.gdap.assign(rel.guid, group, roles)
    return str(rel.guid)


@pytest.fixture(scope="module")
def role_users(rps_rw: Endpoint) -> dict[str, str]:
    """One partner user per Entra role, each holding only that role in litware."""
    store = rps_rw.store
    partner = store.resolve_tenant(PARTNER)
    users = {}
    for role_id, role_name in ENTRA_ROLES.items():
        upn = f"gdap-{role_name.lower().replace(' ', '')}@{PARTNER}"
        store.create_user(partner.id, upn, role_name, rps_rw.password, role_groups=[f"GDAP {role_name}"])
        _grant(store, role_name, [role_id])
        users[role_name] = upn
    return users


def _allowed(pool: RunspacePool, cmdlet: str, *params: tuple[str, object]) -> bool:
    ps = run(pool, cmdlet, *params)
    errors = errors_of(ps)
    refused = any("isn't assigned to any management roles" in e or "CmdletAccessDenied" in e for e in errors) or any(
        "is not recognized" in e for e in errors
    )
    if not refused:
        assert ps.state == PSInvocationState.COMPLETED, errors
    return not refused


# What each Entra role may run in the customer: a read of recipients, a recipient write, a mailbox
# setting a help desk may change, an organisation read, an organisation write.
ROLE_SURFACE = {
    "Global Administrator": (True, True, True, True, True),
    "Exchange Administrator": (True, True, True, True, True),
    "Exchange Recipient Administrator": (True, True, True, False, False),
    "Global Reader": (True, False, False, True, False),
    "Helpdesk Administrator": (True, False, True, False, False),
    "Security Reader": (False, False, False, True, False),
}


@pytest.mark.parametrize("role", list(ROLE_SURFACE))
def test_each_entra_role_decides_what_runs(rps_rw: Endpoint, role_users: dict[str, str], role: str) -> None:
    expected = ROLE_SURFACE[role]
    with rps_rw.pool(role_users[role], LITWARE) as pool:
        mailbox = None
        if expected[0]:
            mailboxes = objects_of(run(pool, "Get-Mailbox", ("ResultSize", 1)))
            assert len(mailboxes) == 1
            mailbox = mailboxes[0]["Alias"]
        else:
            assert not _allowed(pool, "Get-Mailbox", ("ResultSize", 1))
        target = mailbox or "nobody"
        got = (
            expected[0],
            _allowed(pool, "Set-Mailbox", ("Identity", target), ("CustomAttribute5", f"by {role}")),
            _allowed(pool, "Set-MailboxAutoReplyConfiguration", ("Identity", target), ("AutoReplyState", "Disabled")),
            _allowed(pool, "Get-TransportRule"),
            _allowed(pool, "Set-OrganizationConfig", ("AuditDisabled", False)),
        )
        assert got == expected
        # The surface the client imports is trimmed the same way.
        names = {m.name for m in pool.get_command_metadata(["*"])}
        assert ("Set-Mailbox" in names) == expected[1]
        assert ("Get-TransportRule" in names) == expected[3]


def test_the_seeded_gdap_users_hold_their_groups_roles(rps_rw: Endpoint) -> None:
    with rps_rw.pool(GDAP_READER, LITWARE) as pool:
        assert len(objects_of(run(pool, "Get-Mailbox"))) == 10
        assert not _allowed(pool, "Set-Mailbox", ("Identity", "nobody"), ("CustomAttribute5", "x"))
    with rps_rw.pool(GDAP_ADMIN, LITWARE) as pool:
        (mailbox,) = objects_of(run(pool, "Get-Mailbox", ("ResultSize", 1)))
        ps = run(pool, "Set-Mailbox", ("Identity", mailbox["Alias"]), ("CustomAttribute4", "gdap"))
        assert ps.state == PSInvocationState.COMPLETED, errors_of(ps)
        (again,) = objects_of(run(pool, "Get-Mailbox", ("Identity", mailbox["Alias"])))
        assert again["CustomAttribute4"] == "gdap"


def test_gdap_users_reach_no_dap_customer_and_dap_agents_no_gdap_one(rps_rw: Endpoint) -> None:
    with pytest.raises(WSManFaultError) as info:
        rps_rw.open_pool(GDAP_ADMIN, "contoso.onmicrosoft.com")
    assert "no active delegated administration relationship" in info.value.reason
    with pytest.raises(WSManFaultError) as info:
        rps_rw.open_pool(PARTNER_ADMIN, LITWARE)
    # A GDAP relationship joins the tenants, but AdminAgents holds no role in it: Exchange's AuthZ text.
    assert info.value.reason.startswith("[AuthZRequestId=")
    assert f'The user "{PARTNER}\\{PARTNER_ADMIN}" isn\'t assigned to any management roles.' in info.value.reason


def test_a_partner_group_with_no_role_in_the_customer(rps_rw: Endpoint) -> None:
    store = rps_rw.store
    partner = store.resolve_tenant(PARTNER)
    upn = f"gdap-norole@{PARTNER}"
    # In a group the relationship does not assign, and in one assigned in another customer only.
    store.create_user(partner.id, upn, "No role", rps_rw.password, role_groups=["Unassigned Group"])
    _grant(store, "other customer", [role_table.GLOBAL_READER], customer="tailspintoys.onmicrosoft.com")
    store.gdap.add_to_group(store.find_user(upn).id, "GDAP other customer")
    with pytest.raises(WSManFaultError) as info:
        rps_rw.open_pool(upn, LITWARE)
    assert info.value.code == 5
    assert "[FailureCategory=AuthZ-AuthorizationException]" in info.value.reason
    assert f'The user "{PARTNER}\\{upn}" isn\'t assigned to any management roles.' in info.value.reason
    # Its group does hold a role in tailspintoys, so that works, and nothing of litware is visible there.
    with rps_rw.pool(upn, "tailspintoys.onmicrosoft.com") as pool:
        assert len(objects_of(run(pool, "Get-Mailbox"))) == 10


@pytest.fixture
def expiring(rps_rw: Endpoint, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    """A user holding Exchange Administrator in litware through a 30-day relationship of its own."""
    store = rps_rw.store
    partner = store.resolve_tenant(PARTNER)
    name = f"expiring {len(store.gdap.relationships(partner.id))}"
    upn = f"gdap-{name.replace(' ', '')}@{PARTNER}"
    store.create_user(partner.id, upn, name, rps_rw.password, role_groups=[f"GDAP {name}"])
    guid = _grant(store, name, [role_table.EXCHANGE_ADMINISTRATOR])
    yield upn, guid


def test_expiry_in_the_middle_of_a_session_refuses_the_next_command(
    rps_rw: Endpoint, expiring: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    upn, guid = expiring
    with rps_rw.pool(upn, LITWARE) as pool:
        assert len(objects_of(run(pool, "Get-Mailbox", ("ResultSize", 2)))) == 2
        later = utcnow() + timedelta(days=30, seconds=1)
        monkeypatch.setattr(gdap, "clock", lambda: later)  # the server reads the same clock
        assert rps_rw.store.gdap.get(guid).status == "expired"
        with pytest.raises(WSManFaultError) as info:
            run(pool, "Get-Mailbox", ("ResultSize", 1))
        assert info.value.code == 5
        # Other relationships still join the partner to litware, so Exchange's AuthZ text applies.
        assert info.value.reason.startswith("[AuthZRequestId=")
        assert info.value.reason.endswith(
            "[FailureCategory=AuthZ-AuthorizationException] "
            f'The user "{PARTNER}\\{upn}" isn\'t assigned to any management roles.'
        )
        with pytest.raises(WSManFaultError) as again:
            rps_rw.open_pool(upn, LITWARE)
        assert "isn't assigned to any management roles" in again.value.reason
        monkeypatch.undo()
    # The server kept serving: the seeded users still work.
    with rps_rw.pool(GDAP_READER, LITWARE) as pool:
        assert len(objects_of(run(pool, "Get-Mailbox", ("ResultSize", 1)))) == 1


def test_termination_in_the_middle_of_a_session_refuses_the_next_command(
    rps_rw: Endpoint, expiring: tuple[str, str]
) -> None:
    upn, guid = expiring
    with rps_rw.pool(upn, LITWARE) as pool:
        assert len(objects_of(run(pool, "Get-Mailbox", ("ResultSize", 1)))) == 1
        rps_rw.store.gdap.terminate(guid)
        with pytest.raises(WSManFaultError) as info:
            run(pool, "Get-Mailbox", ("ResultSize", 1))
        assert info.value.code == 5
        assert f'The user "{PARTNER}\\{upn}" isn\'t assigned to any management roles.' in info.value.reason
    with pytest.raises(WSManFaultError):
        rps_rw.open_pool(upn, LITWARE)


def test_the_last_relationship_ending_gives_the_no_relationship_text(rps_rw: Endpoint) -> None:
    store = rps_rw.store
    partner = store.resolve_tenant(PARTNER)
    upn = f"gdap-only-one@{PARTNER}"
    store.create_user(partner.id, upn, "Only one", rps_rw.password, role_groups=["GDAP adatum"])
    adatum = store.create_tenant("adatum")
    store.add_mailboxes(adatum.id, [NewMailbox(name="Ann", alias="ann", display_name="Ann")])
    guid = _grant(store, "adatum", [role_table.GLOBAL_READER], customer=adatum.initial_domain, group="GDAP adatum")
    with rps_rw.pool(upn, adatum.initial_domain) as pool:
        assert [m["Alias"] for m in objects_of(run(pool, "Get-Mailbox"))] == ["ann"]
        store.gdap.terminate(guid)
        with pytest.raises(WSManFaultError) as info:
            run(pool, "Get-Mailbox")
        assert info.value.reason == (
            f'Access is denied. The relationship that let "{upn}" act on behalf of '
            f"'{adatum.initial_domain}' is no longer active."
        )
    with pytest.raises(WSManFaultError) as again:
        rps_rw.open_pool(upn, adatum.initial_domain)
    assert "there is no active delegated administration relationship" in again.value.reason


def test_a_deleted_assignment_refuses_the_next_command_with_exchange_s_authz_text(
    rps_rw: Endpoint, expiring: tuple[str, str]
) -> None:
    upn, guid = expiring
    with rps_rw.pool(upn, LITWARE) as pool:
        assert len(objects_of(run(pool, "Get-Mailbox", ("ResultSize", 1)))) == 1
        (assignment,) = rps_rw.store.gdap.assignments(guid)
        rps_rw.store.gdap.unassign(guid, assignment.guid)
        with pytest.raises(WSManFaultError) as info:
            run(pool, "Get-Mailbox", ("ResultSize", 1))
        assert f'The user "{PARTNER}\\{upn}" isn\'t assigned to any management roles.' in info.value.reason


def test_roles_that_shrink_or_grow_apply_to_the_next_command_of_an_open_session(rps_rw: Endpoint) -> None:
    store = rps_rw.store
    partner = store.resolve_tenant(PARTNER)
    upn = f"gdap-two-groups@{PARTNER}"
    store.create_user(partner.id, upn, "Two groups", rps_rw.password, role_groups=["GDAP writers", "GDAP readers"])
    writers = _grant(store, "writers", [role_table.EXCHANGE_ADMINISTRATOR], group="GDAP writers")
    _grant(store, "readers", [role_table.GLOBAL_READER], group="GDAP readers")
    with rps_rw.pool(upn, LITWARE) as pool:
        [first] = objects_of(run(pool, "Get-Mailbox", ("ResultSize", 1)))
        change = ("Identity", first["Alias"]), ("CustomAttribute3", "shrink")
        assert _allowed(pool, "Set-Mailbox", *change)
        assert errors_of(run(pool, "Set-Mailbox", *change)) == []
        (assignment,) = store.gdap.assignments(writers)
        store.gdap.unassign(writers, assignment.guid)
        # Global Reader is left: reading goes on, writing stops at once.
        assert _allowed(pool, "Get-Mailbox", ("ResultSize", 1))
        assert not _allowed(pool, "Set-Mailbox", *change)
        store.gdap.assign(writers, "GDAP writers", [role_table.EXCHANGE_ADMINISTRATOR])
        assert _allowed(pool, "Set-Mailbox", *change)


def test_auto_extension_keeps_a_session_working_past_the_first_end(
    rps_rw: Endpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = rps_rw.store
    partner, litware = store.resolve_tenant(PARTNER), store.resolve_tenant(LITWARE)
    upn = f"gdap-autoextend@{PARTNER}"
    store.create_user(partner.id, upn, "Auto-extended", rps_rw.password, role_groups=["GDAP auto"])
    rel = store.gdap.create(
        partner.id, litware.id, "Auto-extended", [role_table.GLOBAL_READER], duration_days=1, auto_extend_days=180
    )
    store.gdap.lock_for_approval(rel.guid)
    store.gdap.approve(rel.guid)
    store.gdap.assign(rel.guid, "GDAP auto", [role_table.GLOBAL_READER])
    with rps_rw.pool(upn, LITWARE) as pool:
        later = utcnow() + timedelta(days=100)
        monkeypatch.setattr(gdap, "clock", lambda: later)
        assert len(objects_of(run(pool, "Get-Mailbox", ("ResultSize", 1)))) == 1
        much_later = utcnow() + timedelta(days=1 + 180 * 3)
        monkeypatch.setattr(gdap, "clock", lambda: much_later)
        assert len(objects_of(run(pool, "Get-Mailbox", ("ResultSize", 1)))) == 1
        store.gdap.update(rel.guid, auto_extend_days=0)
        with pytest.raises(WSManFaultError):
            run(pool, "Get-Mailbox", ("ResultSize", 1))
