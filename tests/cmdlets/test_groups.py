"""Distribution groups, their members and Microsoft 365 groups, on a seeded store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aobo.cmdlets.catalog import default_registry
from aobo.cmdlets.exchange import groups
from aobo.cmdlets.pipeline import CommandInvocation, run_pipeline
from aobo.cmdlets.results import CmdletError, ErrorRecord, ExchangeObject, WarningRecord
from aobo.domain.errors import NotFound

BYPASS = ("BypassSecurityGroupManagerCheck", True)


def run(ctx: Any, *commands: tuple[str, list[tuple[str, Any]]]) -> list[Any]:
    return list(run_pipeline(ctx, default_registry(), [CommandInvocation(n, p) for n, p in commands]))


def objects(out: list[Any]) -> list[ExchangeObject]:
    return [o for o in out if isinstance(o, ExchangeObject)]


def errors(out: list[Any]) -> list[ErrorRecord]:
    return [o for o in out if isinstance(o, ErrorRecord)]


@pytest.fixture
def admin(store: Any, partner_ctx: Callable[..., Any]) -> Any:
    return partner_ctx(store, "admin", "contoso")


def member_names(ctx: Any, group: str) -> list[str]:
    return [o["Name"] for o in objects(run(ctx, ("Get-DistributionGroupMember", [("Identity", group)])))]


# --- reading -----------------------------------------------------------------------------------


def test_get_distribution_group_lists_the_seeded_groups(admin: Any) -> None:
    found = {o["Name"]: o for o in objects(run(admin, ("Get-DistributionGroup", [])))}
    assert {"All Staff", "IT Admins", "Finance Approvers", "All Rooms", "External Partners"} <= set(found)
    assert "Project Phoenix" not in found  # Microsoft 365 groups are Get-UnifiedGroup's
    staff, admins, rooms = found["All Staff"], found["IT Admins"], found["All Rooms"]
    assert staff.type_names[:3] == (
        "Microsoft.Exchange.Data.Directory.Management.DistributionGroup",
        "Microsoft.Exchange.Data.Directory.Management.DistributionGroupBase",
        "Microsoft.Exchange.Data.Directory.Management.MailEnabledRecipient",
    )
    assert str(staff["GroupType"]) == "Universal"
    assert str(admins["GroupType"]) == "Universal, SecurityEnabled"
    assert str(admins["RecipientTypeDetails"]) == "MailUniversalSecurityGroup"
    assert str(rooms["RecipientTypeDetails"]) == "RoomList"
    assert str(staff["MemberDepartRestriction"]) == "Open" and str(admins["MemberDepartRestriction"]) == "Closed"
    assert staff["RequireSenderAuthenticationEnabled"] is True
    assert list(staff["ManagedBy"]) == ["AdeleV"]
    assert staff["PrimarySmtpAddress"] == "AllStaff@contoso.com"


def test_get_distribution_group_by_identity_type_and_filter(admin: Any) -> None:
    one = objects(run(admin, ("Get-DistributionGroup", [("Identity", "AllStaff@contoso.onmicrosoft.com")])))
    assert [o["Name"] for o in one] == ["All Staff"]
    security = objects(run(admin, ("Get-DistributionGroup", [("RecipientTypeDetails", "MailUniversalSecurityGroup")])))
    assert {o["Name"] for o in security} == {"IT Admins", "Finance Approvers"}
    filtered = objects(run(admin, ("Get-DistributionGroup", [("Filter", "Name -like 'All*'")])))
    assert {o["Name"] for o in filtered} == {"All Staff", "All Rooms"}
    wild = objects(run(admin, ("Get-DistributionGroup", [("Identity", "*Approvers")])))
    assert [o["Name"] for o in wild] == ["Finance Approvers"]
    owned = objects(run(admin, ("Get-DistributionGroup", [("ManagedBy", "AdeleV")])))
    assert "All Staff" in {o["Name"] for o in owned} and "Sales Department" not in {o["Name"] for o in owned}
    missing = errors(run(admin, ("Get-DistributionGroup", [("Identity", "Project Phoenix")])))
    assert "couldn't be found" in missing[0].message


def test_members_are_reduced_recipients_and_result_size_warns(admin: Any) -> None:
    out = run(admin, ("Get-DistributionGroupMember", [("Identity", "All Staff"), ("ResultSize", 2)]))
    members = objects(out)
    assert len(members) == 2
    assert members[0].type_names[0] == "Microsoft.Exchange.Data.Directory.Management.ReducedRecipient"
    assert str(members[0]["RecipientTypeDetails"]) == "UserMailbox"
    assert next(o for o in out if isinstance(o, WarningRecord)).message.startswith("There are more results available")
    partners = objects(run(admin, ("Get-DistributionGroupMember", [("Identity", "External Partners")])))
    contacts = [o for o in partners if str(o["RecipientTypeDetails"]) == "MailContact"]
    assert len(contacts) == 3 and all(o["ExternalEmailAddress"].startswith("SMTP:") for o in contacts)
    assert "AdeleV" in {o["Name"] for o in partners}


def test_pipeline_group_into_member_listing(admin: Any) -> None:
    piped = objects(
        run(admin, ("Get-DistributionGroup", [("Identity", "All Staff")]), ("Get-DistributionGroupMember", []))
    )
    users = objects(run(admin, ("Get-Mailbox", [("RecipientTypeDetails", "UserMailbox")])))
    assert sorted(o["Name"] for o in piped) == sorted(o["Name"] for o in users)


def test_get_unified_group_counts_members(admin: Any) -> None:
    found = {o["Name"]: o for o in objects(run(admin, ("Get-UnifiedGroup", [])))}
    assert set(found) == {"Project Phoenix", "Marketing Hub", "Social Club"}
    phoenix = found["Project Phoenix"]
    assert phoenix.type_names[0] == "Microsoft.Exchange.Data.Directory.Management.UnifiedGroup"
    assert str(phoenix["AccessType"]) == "Private" and str(found["Marketing Hub"]["AccessType"]) == "Public"
    assert phoenix["GroupMemberCount"] == 6 and phoenix["GroupExternalMemberCount"] == 0
    assert len(phoenix["ManagedBy"]) == 2
    assert phoenix["SharePointSiteUrl"] == "https://contoso.sharepoint.com/sites/ProjectPhoenix"


# --- writing -----------------------------------------------------------------------------------


def test_new_distribution_group_with_members(admin: Any) -> None:
    out = run(
        admin,
        (
            "New-DistributionGroup",
            [("Name", "Project Alpha"), ("Members", ["AdeleV", "MeganB@contoso.com"]), ("ManagedBy", ["AlexW"])],
        ),
    )
    (group,) = objects(out)
    assert group["Alias"] == "ProjectAlpha" and group["DisplayName"] == "Project Alpha"
    assert group["RequireSenderAuthenticationEnabled"] is True
    assert str(group["MemberJoinRestriction"]) == "Closed"
    assert list(group["ManagedBy"]) == ["AlexW"]
    assert sorted(member_names(admin, "Project Alpha")) == ["AdeleV", "MeganB"]


def test_new_distribution_group_is_all_or_nothing(admin: Any) -> None:
    out = run(admin, ("New-DistributionGroup", [("Name", "Broken"), ("Members", ["AdeleV", "nobody@nowhere"])]))
    assert objects(out) == []
    assert errors(out)[0].message == (
        'Couldn\'t find object "nobody@nowhere". Please make sure that it was spelled correctly or specify a '
        "different object."
    )
    assert "couldn't be found" in errors(run(admin, ("Get-DistributionGroup", [("Identity", "Broken")])))[0].message


def test_new_distribution_group_refusals(admin: Any) -> None:
    taken = errors(run(admin, ("New-DistributionGroup", [("Name", "all staff")])))
    assert taken[0].message == 'The name "all staff" is already being used. Please try another name.'
    clash = errors(run(admin, ("New-DistributionGroup", [("Name", "Sales Crew"), ("Alias", "sales")])))
    assert clash[0].exception_type == "Microsoft.Exchange.Data.ProxyAddressExistsException"
    assert "sales@contoso.com" in clash[0].message
    open_security = errors(
        run(
            admin, ("New-DistributionGroup", [("Name", "Sec"), ("Type", "Security"), ("MemberJoinRestriction", "Open")])
        )
    )
    assert "MemberJoinRestriction" in open_security[0].message
    foreign = errors(run(admin, ("New-DistributionGroup", [("Name", "X"), ("PrimarySmtpAddress", "x@fabrikam.com")])))
    assert "isn't an accepted domain" in foreign[0].message
    room = errors(
        run(admin, ("New-DistributionGroup", [("Name", "Rooms B"), ("RoomList", True), ("Members", ["AdeleV"])]))
    )
    assert "Only room mailboxes and room lists" in room[0].message


def test_security_group_defaults(admin: Any) -> None:
    (group,) = objects(run(admin, ("New-DistributionGroup", [("Name", "Auditors"), ("Type", "Security")])))
    assert str(group["GroupType"]) == "Universal, SecurityEnabled"
    assert str(group["MemberDepartRestriction"]) == "Closed"


def test_changes_need_a_manager_or_the_bypass_switch(admin: Any) -> None:
    refused = errors(run(admin, ("Set-DistributionGroup", [("Identity", "All Staff"), ("DisplayName", "Everyone")])))
    assert refused[0].message == (
        "You don't have sufficient permissions. This operation can only be performed by a manager of the group."
    )
    assert refused[0].exception_type.endswith("OperationRequiresGroupManagerException")
    run(admin, ("Set-DistributionGroup", [("Identity", "All Staff"), ("DisplayName", "Everyone"), BYPASS]))
    (group,) = objects(run(admin, ("Get-DistributionGroup", [("Identity", "All Staff")])))
    assert group["DisplayName"] == "Everyone"


def test_set_distribution_group_multi_valued_and_flags(admin: Any) -> None:
    run(
        admin,
        (
            "Set-DistributionGroup",
            [
                ("Identity", "All Staff"),
                ("ManagedBy", {"Add": ["MeganB"], "Remove": ["AdeleV"]}),
                ("AcceptMessagesOnlyFromSendersOrMembers", ["AlexW", "IT Admins"]),
                ("RequireSenderAuthenticationEnabled", False),
                ("MemberJoinRestriction", "ApprovalRequired"),
                ("CustomAttribute3", "x"),
                ("EmailAddresses", {"Add": ["smtp:everyone@contoso.com"]}),
                BYPASS,
            ],
        ),
    )
    (group,) = objects(run(admin, ("Get-DistributionGroup", [("Identity", "All Staff")])))
    assert list(group["ManagedBy"]) == ["MeganB"]
    assert list(group["AcceptMessagesOnlyFromSendersOrMembers"]) == ["AlexW", "IT Admins"]
    assert list(group["AcceptMessagesOnlyFrom"]) == ["AlexW"]
    assert list(group["AcceptMessagesOnlyFromDLMembers"]) == ["IT Admins"]
    assert group["RequireSenderAuthenticationEnabled"] is False
    assert str(group["MemberJoinRestriction"]) == "ApprovalRequired"
    assert group["CustomAttribute3"] == "x"
    assert "smtp:everyone@contoso.com" in list(group["EmailAddresses"])
    again = run(admin, ("Set-DistributionGroup", [("Identity", "All Staff"), ("CustomAttribute3", "x"), BYPASS]))
    assert any(isinstance(o, WarningRecord) and "no settings" in o.message for o in again)
    open_security = errors(
        run(admin, ("Set-DistributionGroup", [("Identity", "IT Admins"), ("MemberDepartRestriction", "Open"), BYPASS]))
    )
    assert "MemberDepartRestriction" in open_security[0].message


def test_add_and_remove_member_texts(admin: Any) -> None:
    add = [("Identity", "IT Admins"), ("Member", "PattiF"), BYPASS]
    assert errors(run(admin, ("Add-DistributionGroupMember", add))) == []
    assert "PattiF" in member_names(admin, "IT Admins")
    again = errors(run(admin, ("Add-DistributionGroupMember", add)))
    assert again[0].message == 'The recipient "PattiF" is already a member of the group "IT Admins".'
    assert again[0].reason == "MemberAlreadyExistsException"
    remove = [("Identity", "IT Admins"), ("Member", "PattiF"), BYPASS, ("Confirm", False)]
    assert errors(run(admin, ("Remove-DistributionGroupMember", remove))) == []
    gone = errors(run(admin, ("Remove-DistributionGroupMember", remove)))
    assert gone[0].message == 'The recipient "PattiF" isn\'t a member of the group "IT Admins".'
    assert gone[0].reason == "MemberNotFoundException"


def test_any_recipient_kind_can_be_a_member(admin: Any) -> None:
    for member in ("Sales Team", "Conf Room Adams", "IT Admins", "Project Phoenix"):
        assert (
            errors(run(admin, ("Add-DistributionGroupMember", [("Identity", "All Staff"), ("Member", member), BYPASS])))
            == []
        )
    kinds = {
        str(o["RecipientTypeDetails"])
        for o in objects(run(admin, ("Get-DistributionGroupMember", [("Identity", "All Staff")])))
    }
    assert {"SharedMailbox", "RoomMailbox", "MailUniversalSecurityGroup", "GroupMailbox"} <= kinds
    rooms = errors(
        run(admin, ("Add-DistributionGroupMember", [("Identity", "All Rooms"), ("Member", "AdeleV"), BYPASS]))
    )
    assert "Only room mailboxes and room lists" in rooms[0].message


def test_piped_rooms_bind_to_member(admin: Any, store: Any) -> None:
    run(admin, ("New-DistributionGroup", [("Name", "Building 2"), ("RoomList", True)]))
    run(
        admin,
        ("Get-Mailbox", [("RecipientTypeDetails", "RoomMailbox")]),
        ("Add-DistributionGroupMember", [("Identity", "Building 2"), BYPASS]),
    )
    assert sorted(member_names(admin, "Building 2")) == ["Conf Room Adams", "Conf Room Baker", "Conf Room Crystal"]


def test_remove_distribution_group(admin: Any, store: Any) -> None:
    assert objects(run(admin, ("Get-DistributionGroup", [("Identity", "IT Admins")])))
    out = run(admin, ("Remove-DistributionGroup", [("Identity", "IT Admins"), BYPASS, ("Confirm", False)]))
    assert errors(out) == []
    assert errors(run(admin, ("Get-DistributionGroup", [("Identity", "IT Admins")])))
    what_if = run(admin, ("Remove-DistributionGroup", [("Identity", "All Staff"), BYPASS, ("WhatIf", True)]))
    assert objects(run(admin, ("Get-DistributionGroup", [("Identity", "All Staff")])))
    assert any("Removing distribution group" in getattr(o, "message", "") for o in what_if)


def test_help_desk_reads_groups_but_cannot_change_them(store: Any, partner_ctx: Callable[..., Any]) -> None:
    helpdesk = partner_ctx(store, "helpdesk", "contoso")
    assert objects(run(helpdesk, ("Get-DistributionGroupMember", [("Identity", "All Staff")])))
    assert objects(run(helpdesk, ("Get-UnifiedGroup", [])))
    for command in (
        ("Add-DistributionGroupMember", [("Identity", "All Staff"), ("Member", "AdeleV")]),
        ("New-DistributionGroup", [("Name", "Nope")]),
    ):
        with pytest.raises(CmdletError) as info:
            run(helpdesk, command)
        assert info.value.record.reason == "CmdletAccessDeniedException"


# --- the repository ----------------------------------------------------------------------------


def _ids(store: Any, tenant: str, *names: str) -> list[int]:
    t = store.resolve_tenant(f"{tenant}.onmicrosoft.com")
    return [store.find_recipients(t.id, n, limit=1)[0].id for n in names]


def test_repository_refuses_other_tenants_rows(store: Any) -> None:
    contoso = store.resolve_tenant("contoso.onmicrosoft.com")
    (group,) = _ids(store, "contoso", "All Staff")
    outsider = next(iter(store.iter_recipients(store.resolve_tenant("fabrikam.onmicrosoft.com").id, limit=1))).id
    with pytest.raises(NotFound):
        store.groups.add_member(contoso.id, group, outsider)
    with pytest.raises(NotFound):
        store.groups.bulk_add(contoso.id, [(group, outsider)])
    (fabrikam_group,) = _ids(store, "fabrikam", "All Staff")
    assert list(store.groups.iter_members(contoso.id, fabrikam_group)) == []
    assert store.groups.count_members(contoso.id, fabrikam_group) == 0
    with pytest.raises(ValueError):
        store.groups.add_member(contoso.id, group, group)


def test_groups_of_and_counts(store: Any) -> None:
    contoso = store.resolve_tenant("contoso.onmicrosoft.com")
    (adele,) = _ids(store, "contoso", "AdeleV")
    names = {g.name for g in store.groups.groups_of(contoso.id, adele)}
    assert {"All Staff", "External Partners"} <= names
    (staff,) = _ids(store, "contoso", "All Staff")
    assert store.groups.count_members(contoso.id, staff) == 30


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.booleans(), st.integers(min_value=0, max_value=7)), max_size=30))
def test_random_add_remove_matches_a_set(store: Any, steps: list[tuple[bool, int]]) -> None:
    contoso = store.resolve_tenant("contoso.onmicrosoft.com")
    rows = list(store.iter_recipients(contoso.id, recipient_type_details=["UserMailbox"], limit=8))
    with store.transaction() as tx:
        group = tx.add_recipient(contoso.id, _scratch_group())
        model: set[int] = set()
        for add, index in steps:
            member = rows[index].id
            if add:
                assert tx.groups.add_member(contoso.id, group.id, member) == (member not in model)
                model.add(member)
            else:
                assert tx.groups.remove_member(contoso.id, group.id, member) == (member in model)
                model.discard(member)
        listed = [r.id for r in tx.groups.iter_members(contoso.id, group.id, batch_size=3)]
        assert listed == sorted(model)
        assert tx.groups.count_members(contoso.id, group.id) == len(model)
        tx.delete_recipient(contoso.id, group.id)


def _scratch_group() -> Any:
    from aobo.domain.models import NewRecipient

    return NewRecipient(
        name="Scratch", alias="Scratch", display_name="Scratch", recipient_type_details="MailUniversalDistributionGroup"
    )


def test_reduced_recipient_template_is_complete() -> None:
    names = groups.REDUCED_RECIPIENT.shape.property_names
    for expected in (
        "Alias",
        "DisplayName",
        "PrimarySmtpAddress",
        "RecipientType",
        "RecipientTypeDetails",
        "Identity",
        "Guid",
    ):
        assert expected in names
    assert len(names) == len(set(names))
