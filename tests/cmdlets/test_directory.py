"""Get-Recipient, Get/Set-User, the MailContact cmdlets and Get-MailUser on a real store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from aobo.cmdlets.context import CmdletContext
from aobo.cmdlets.pipeline import CommandInvocation, run_pipeline
from aobo.cmdlets.registry import Registry
from aobo.cmdlets.results import CmdletError, ErrorRecord, ExchangeObject, WarningRecord

Run = Callable[..., list[Any]]


@pytest.fixture
def run(store: Any, partner_ctx: Callable[..., CmdletContext], registry: Registry) -> Run:
    ctx = partner_ctx(store, "admin", "contoso")

    def go(cmdlet: str, **params: Any) -> list[Any]:
        return list(run_pipeline(ctx, registry, [CommandInvocation(cmdlet, list(params.items()))]))

    return go


def objects(out: list[Any]) -> list[ExchangeObject]:
    return [o for o in out if isinstance(o, ExchangeObject)]


def errors(out: list[Any]) -> list[str]:
    return [o.message for o in out if isinstance(o, ErrorRecord)]


def details(obj: ExchangeObject) -> str:
    return str(obj["RecipientTypeDetails"])


def test_get_recipient_lists_every_kind(run: Run) -> None:
    everyone = objects(run("Get-Recipient", ResultSize="Unlimited"))
    kinds = {details(o) for o in everyone}
    assert {"UserMailbox", "SharedMailbox", "RoomMailbox", "MailContact", "MailUser"} <= kinds
    assert everyone[0].type_names[0] == "Microsoft.Exchange.Data.Directory.Management.ReducedRecipient"
    contacts = objects(run("Get-Recipient", RecipientTypeDetails="MailContact"))
    assert len(contacts) == 3 and all(o["ExternalEmailAddress"].startswith("SMTP:") for o in contacts)
    assert {details(o) for o in objects(run("Get-Recipient", RecipientType="MailUser"))} == {"MailUser"}


def test_get_recipient_by_identity_and_wildcard(run: Run) -> None:
    (adele,) = objects(run("Get-Recipient", Identity="AdeleV"))
    assert adele["PrimarySmtpAddress"] == "AdeleV@contoso.com" and adele["Department"] == "Retail"
    assert [o["Name"] for o in objects(run("Get-Recipient", Identity="Conf Room*"))] == [
        "Conf Room Adams",
        "Conf Room Baker",
        "Conf Room Crystal",
    ]
    assert errors(run("Get-Recipient", Identity="nobody-here")) == [
        "The operation couldn't be performed because object 'nobody-here' couldn't be found on "
        "'NAMPR01A001DC01.NAMPR01A001.PROD.OUTLOOK.COM'."
    ]


def test_get_user_shows_mailboxes_mail_users_and_sign_in_accounts(run: Run) -> None:
    users = objects(run("Get-User", ResultSize="Unlimited"))
    assert {details(o) for o in users} <= {
        "UserMailbox",
        "SharedMailbox",
        "RoomMailbox",
        "EquipmentMailbox",
        "MailUser",
    }
    assert "MailUser" in {details(o) for o in users}
    (admin,) = objects(run("Get-User", Identity="admin@contoso.onmicrosoft.com"))
    assert (details(admin), admin["RemotePowerShellEnabled"], admin["DisplayName"]) == ("User", True, "Contoso Admin")


def test_set_user_remote_powershell_writes_the_sign_in_account(run: Run, store: Any) -> None:
    run("Set-User", Identity="admin@contoso.onmicrosoft.com", RemotePowerShellEnabled=False)
    assert store.find_user("admin@contoso.onmicrosoft.com").remote_powershell_enabled is False
    (admin,) = objects(run("Get-User", Identity="admin@contoso.onmicrosoft.com"))
    assert admin["RemotePowerShellEnabled"] is False
    same = run("Set-User", Identity="admin@contoso.onmicrosoft.com", RemotePowerShellEnabled=False)
    assert [o.message for o in same if isinstance(o, WarningRecord)] == [
        "The command completed successfully but no settings of 'admin@contoso.onmicrosoft.com' have been modified."
    ]
    # A user without a sign-in account keeps the flag in its own properties.
    run("Set-User", Identity="AdeleV", RemotePowerShellEnabled=False, Department="Sales", Title="Lead")
    (adele,) = objects(run("Get-User", Identity="AdeleV"))
    assert (adele["RemotePowerShellEnabled"], adele["Department"], adele["Title"]) == (False, "Sales", "Lead")


def test_sign_in_account_of_another_tenant_is_not_a_user_here(run: Run) -> None:
    assert errors(run("Get-User", Identity="admin@fabrikam.onmicrosoft.com"))
    assert errors(run("Set-User", Identity="admin@fabrikam.onmicrosoft.com", RemotePowerShellEnabled=False))


def test_mail_contact_lifecycle(run: Run) -> None:
    (created,) = objects(run("New-MailContact", Name="Dana Supplier", ExternalEmailAddress="dana@supplier.example"))
    assert created.type_names[0] == "Microsoft.Exchange.Data.Directory.Management.MailContact"
    assert (created["ExternalEmailAddress"], created["Alias"], created["DisplayName"]) == (
        "SMTP:dana@supplier.example",
        "DanaSupplier",
        "Dana Supplier",
    )
    dup = run("New-MailContact", Name="Dana Supplier", ExternalEmailAddress="other@supplier.example")
    assert errors(dup) and "already exists" in errors(dup)[0]
    run(
        "Set-MailContact",
        Identity="Dana Supplier",
        ExternalEmailAddress="dana@new-supplier.example",
        CustomAttribute3="vendor",
        HiddenFromAddressListsEnabled=True,
    )
    (changed,) = objects(run("Get-MailContact", Identity="Dana Supplier"))
    assert changed["ExternalEmailAddress"] == "SMTP:dana@new-supplier.example"
    assert (changed["CustomAttribute3"], changed["HiddenFromAddressListsEnabled"]) == ("vendor", True)
    run("Remove-MailContact", Identity="Dana Supplier", Confirm=False)
    assert errors(run("Get-MailContact", Identity="Dana Supplier"))


def test_get_mail_user_shows_external_address(run: Run) -> None:
    users = objects(run("Get-MailUser"))
    assert len(users) == 2
    assert all(u["ExternalEmailAddress"].startswith("SMTP:") and u["UserPrincipalName"] for u in users)


def test_help_desk_may_set_user_but_not_create_contacts(
    store: Any, partner_ctx: Callable[..., CmdletContext], registry: Registry
) -> None:
    ctx = partner_ctx(store, "helpdesk", "contoso")
    list(run_pipeline(ctx, registry, [CommandInvocation("Set-User", [("Identity", "AdeleV"), ("Title", "Dr")])]))
    with pytest.raises(CmdletError, match="'RemotePowerShellEnabled'"):
        gate = [("Identity", "admin@contoso.onmicrosoft.com"), ("RemotePowerShellEnabled", False)]
        list(run_pipeline(ctx, registry, [CommandInvocation("Set-User", gate)]))
    assert store.find_user("admin@contoso.onmicrosoft.com").remote_powershell_enabled is True
    with pytest.raises(CmdletError, match="isn't assigned to any management roles"):
        list(
            run_pipeline(
                ctx,
                registry,
                [CommandInvocation("New-MailContact", [("Name", "X"), ("ExternalEmailAddress", "x@example.com")])],
            )
        )
