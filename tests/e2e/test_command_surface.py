"""The engine features every cmdlet shares, end to end with pypsrp: pipelines binding by property
name, -Filter, Select-Object/Measure-Object on any output, multi-valued updates and identities."""

from __future__ import annotations

from pypsrp.powershell import PowerShell

from tests.e2e.helpers import PARTNER_ADMIN, Endpoint, errors_of, invoke, objects_of

CONTOSO = "contoso.onmicrosoft.com"


def test_a_pipeline_binds_each_object_to_the_next_command(rps_rw: Endpoint) -> None:
    with rps_rw.pool(PARTNER_ADMIN, CONTOSO) as pool:
        before = {m["Name"]: m for m in objects_of(invoke(pool, "Get-Mailbox", ResultSize="Unlimited"))}
        ps = PowerShell(pool)
        ps.add_cmdlet("Get-Mailbox").add_parameter("RecipientTypeDetails", "SharedMailbox")
        ps.add_cmdlet("Set-Mailbox").add_parameter("HiddenFromAddressListsEnabled", True)
        ps.invoke()
        assert not ps.had_errors, errors_of(ps)
        after = {m["Name"]: m for m in objects_of(invoke(pool, "Get-Mailbox", ResultSize="Unlimited"))}
        shared = {n for n, m in before.items() if m["RecipientTypeDetails"] == "SharedMailbox"}
        assert shared and all(after[n]["HiddenFromAddressListsEnabled"] is True for n in shared)
        others = set(before) - shared
        assert all(
            after[n]["HiddenFromAddressListsEnabled"] == before[n]["HiddenFromAddressListsEnabled"] for n in others
        )


def test_filter_select_and_measure_compose(rps: Endpoint) -> None:
    with rps.pool(PARTNER_ADMIN, CONTOSO) as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Get-Mailbox").add_parameter("Filter", "RecipientTypeDetails -eq 'RoomMailbox'")
        ps.add_cmdlet("Measure-Object")
        ps.invoke()
        rooms = objects_of(ps)[0]["Count"]
        ps = PowerShell(pool)
        ps.add_cmdlet("Get-Recipient").add_parameter("RecipientTypeDetails", "RoomMailbox")
        ps.add_cmdlet("Select-Object").add_parameter("ExpandProperty", "PrimarySmtpAddress")
        ps.invoke()
        addresses = [str(a) for a in ps.output]
        assert rooms == len(addresses) > 0 and all("@" in a for a in addresses)
        # Microsoft's own example of a filter on a multi-valued property, piped to Select-Object.
        ps = PowerShell(pool)
        ps.add_cmdlet("Get-Mailbox").add_parameter("Filter", "GrantSendOnBehalfTo -ne $null")
        ps.add_cmdlet("Select-Object").add_parameter("Property", ["Name", "GrantSendOnBehalfTo"])
        ps.invoke()
        assert not ps.had_errors, errors_of(ps)
        assert all(o["GrantSendOnBehalfTo"] for o in objects_of(ps))


def test_bad_filter_gets_exchanges_error_and_the_session_goes_on(surface: Endpoint) -> None:
    with surface.pool(PARTNER_ADMIN, CONTOSO) as pool:
        ps = invoke(pool, "Get-DistributionGroup", Filter="Nmae -eq 'x'")
        assert ps.had_errors
        (message,) = errors_of(ps)
        assert message.startswith("Cannot bind parameter 'Filter' to the target. Exception setting \"Filter\":")
        assert '"Nmae" is not a recognized filterable property.' in message
        assert objects_of(invoke(pool, "Get-DistributionGroup", ResultSize=1))


def test_multi_valued_add_and_remove_and_any_proxy_address_as_identity(surface_rw: Endpoint) -> None:
    with surface_rw.pool(PARTNER_ADMIN, CONTOSO) as pool:
        ps = invoke(pool, "Set-Mailbox", Identity="AlexW", EmailAddresses={"Add": ["smtp:alex.wilber@contoso.com"]})
        assert not ps.had_errors, errors_of(ps)
        (mailbox,) = objects_of(invoke(pool, "Get-Mailbox", Identity="alex.wilber@contoso.com"))
        assert mailbox["Alias"] == "AlexW"
        assert "smtp:alex.wilber@contoso.com" in mailbox["EmailAddresses"]
        # The address belongs to AlexW now: nobody else may take it.
        ps = invoke(pool, "Set-Mailbox", Identity="MeganB", EmailAddresses={"Add": ["alex.wilber@contoso.com"]})
        assert any("is already being used by the proxy addresses" in e for e in errors_of(ps))
        ps = invoke(pool, "Set-Mailbox", Identity="AlexW", EmailAddresses={"Remove": ["smtp:alex.wilber@contoso.com"]})
        assert not ps.had_errors, errors_of(ps)
        ps = invoke(pool, "Get-Mailbox", Identity="alex.wilber@contoso.com")
        assert errors_of(ps) and "couldn't be found" in errors_of(ps)[0]
