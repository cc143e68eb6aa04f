"""The group cmdlets over the real endpoint with pypsrp: main paths, Exchange's error texts,
the Help Desk role check and pipeline binding."""

from __future__ import annotations

from typing import Any

from pypsrp.powershell import PowerShell, PSInvocationState, RunspacePool

from tests.e2e.helpers import PARTNER_ADMIN, PARTNER_HELPDESK, Endpoint, errors_of, invoke, is_type, objects_of

CONTOSO = "contoso.onmicrosoft.com"


def pipeline(pool: RunspacePool, *commands: tuple[str, dict[str, Any]]) -> PowerShell:
    ps = PowerShell(pool)
    for name, params in commands:
        ps.add_cmdlet(name)
        for key, value in params.items():
            if value is None:
                ps.add_parameter(key)
            else:
                ps.add_parameter(key, value)
    ps.invoke()
    return ps


def names(ps: PowerShell) -> list[str]:
    return [o["Name"] for o in objects_of(ps)]


def test_get_distribution_group_and_members(rps: Endpoint) -> None:
    with rps.pool(PARTNER_ADMIN, CONTOSO) as pool:
        ps = invoke(pool, "Get-DistributionGroup", Identity="IT Admins")
        (group,) = objects_of(ps)
        assert is_type(ps, "Microsoft.Exchange.Data.Directory.Management.DistributionGroup")
        assert group["GroupType"] == "Universal, SecurityEnabled"
        assert group["RecipientTypeDetails"] == "MailUniversalSecurityGroup"
        assert group["ManagedBy"] == ["AdeleV"]
        members = pipeline(
            pool, ("Get-DistributionGroup", {"Identity": "All Staff"}), ("Get-DistributionGroupMember", {})
        )
        assert len(names(members)) == 30
        assert is_type(members, "Microsoft.Exchange.Data.Directory.Management.ReducedRecipient")
        missing = invoke(pool, "Get-DistributionGroupMember", Identity="No Such Group")
        assert "couldn't be found on" in errors_of(missing)[0]


def test_get_unified_group(surface: Endpoint) -> None:
    with surface.pool(PARTNER_ADMIN, CONTOSO) as pool:
        groups = {o["Name"]: o for o in objects_of(invoke(pool, "Get-UnifiedGroup"))}
        assert set(groups) == {"Project Phoenix", "Marketing Hub", "Social Club"}
        assert groups["Project Phoenix"]["AccessType"] == "Private"
        assert groups["Marketing Hub"]["GroupMemberCount"] == 6


def test_group_lifecycle(surface_rw: Endpoint) -> None:
    with surface_rw.pool(PARTNER_ADMIN, CONTOSO) as pool:
        created = objects_of(invoke(pool, "New-DistributionGroup", Name="Launch Team", Members=["AdeleV", "AlexW"]))
        assert created[0]["PrimarySmtpAddress"] == "LaunchTeam@contoso.com"
        assert created[0]["RequireSenderAuthenticationEnabled"] is True
        duplicate = invoke(pool, "New-DistributionGroup", Name="Launch Team")
        assert errors_of(duplicate) == ['The name "Launch Team" is already being used. Please try another name.']

        refused = invoke(pool, "Add-DistributionGroupMember", Identity="Launch Team", Member="MeganB")
        assert errors_of(refused) == [
            "You don't have sufficient permissions. This operation can only be performed by a manager of the group."
        ]
        add = {"Identity": "Launch Team", "Member": "MeganB", "BypassSecurityGroupManagerCheck": None}
        assert errors_of(invoke(pool, "Add-DistributionGroupMember", **add)) == []
        again = invoke(pool, "Add-DistributionGroupMember", **add)
        assert errors_of(again) == ['The recipient "MeganB" is already a member of the group "Launch Team".']
        assert sorted(names(invoke(pool, "Get-DistributionGroupMember", Identity="Launch Team"))) == [
            "AdeleV",
            "AlexW",
            "MeganB",
        ]

        remove = {**add, "Confirm": False}
        assert errors_of(invoke(pool, "Remove-DistributionGroupMember", **remove)) == []
        gone = invoke(pool, "Remove-DistributionGroupMember", **remove)
        assert errors_of(gone) == ['The recipient "MeganB" isn\'t a member of the group "Launch Team".']

        invoke(
            pool,
            "Set-DistributionGroup",
            Identity="Launch Team",
            DisplayName="Launch!",
            ManagedBy="MeganB",
            HiddenFromAddressListsEnabled=True,
            BypassSecurityGroupManagerCheck=None,
        )
        (changed,) = objects_of(invoke(pool, "Get-DistributionGroup", Identity="Launch Team"))
        assert changed["DisplayName"] == "Launch!" and changed["ManagedBy"] == ["MeganB"]
        assert changed["HiddenFromAddressListsEnabled"] is True

        removed = invoke(
            pool,
            "Remove-DistributionGroup",
            Identity="Launch Team",
            BypassSecurityGroupManagerCheck=None,
            Confirm=False,
        )
        assert errors_of(removed) == []
        assert "couldn't be found on" in errors_of(invoke(pool, "Get-DistributionGroup", Identity="Launch Team"))[0]


def test_piped_rooms_join_a_room_list(rps_rw: Endpoint) -> None:
    with rps_rw.pool(PARTNER_ADMIN, CONTOSO) as pool:
        invoke(pool, "New-DistributionGroup", Name="Building 7", RoomList=None)
        ps = pipeline(
            pool,
            ("Get-Mailbox", {"RecipientTypeDetails": "RoomMailbox"}),
            ("Add-DistributionGroupMember", {"Identity": "Building 7", "BypassSecurityGroupManagerCheck": None}),
        )
        assert errors_of(ps) == []
        members = invoke(pool, "Get-DistributionGroupMember", Identity="Building 7")
        assert sorted(names(members)) == ["Conf Room Adams", "Conf Room Baker", "Conf Room Crystal"]
        user = invoke(
            pool,
            "Add-DistributionGroupMember",
            Identity="Building 7",
            Member="AdeleV",
            BypassSecurityGroupManagerCheck=None,
        )
        assert "Only room mailboxes and room lists can be members of a room list." in errors_of(user)[0]


def test_help_desk_reads_groups_but_cannot_change_them(surface: Endpoint) -> None:
    with surface.pool(PARTNER_HELPDESK, CONTOSO) as pool:
        assert "All Staff" in names(invoke(pool, "Get-DistributionGroup"))
        assert len(names(invoke(pool, "Get-DistributionGroupMember", Identity="IT Admins"))) > 0
        for cmdlet, params in (
            ("Add-DistributionGroupMember", {"Identity": "All Staff", "Member": "AdeleV"}),
            ("New-DistributionGroup", {"Name": "Helpdesk Group"}),
            ("Remove-DistributionGroup", {"Identity": "All Staff", "Confirm": False}),
        ):
            ps = invoke(pool, cmdlet, **params)
            assert ps.state == PSInvocationState.FAILED
            assert "isn't assigned to any management roles" in str(ps.streams.error[0])
