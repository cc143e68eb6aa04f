"""The document's flow, end to end: pypsrp against the real server over HTTP(S)."""

from __future__ import annotations

import threading
import time

import pytest
from pypsrp.exceptions import AuthenticationError, WSManFaultError
from pypsrp.powershell import PowerShell, PSInvocationState, RunspacePool

from tests.e2e.helpers import (
    PARTNER_ADMIN,
    PARTNER_HELPDESK,
    PARTNER_NORPS,
    WARNING_1000,
    Endpoint,
    objects_of,
    run,
)


def test_open_metadata_get_mailbox_close(rps: Endpoint) -> None:
    with rps.pool(PARTNER_ADMIN, "contoso.onmicrosoft.com") as pool:
        assert str(pool.application_private_data.data["PSVersionTable"]["PSVersion"]).startswith("5.1")
        assert pool.is_alive()  # WS-Man Get of the shell
        meta = pool.get_command_metadata(["*"])
        names = {m.name for m in meta}
        assert {"Get-Mailbox", "Set-Mailbox", "Select-Object", "Measure-Object"} <= names
        get_mailbox = next(m for m in meta if m.name == "Get-Mailbox")
        assert {"Identity", "ResultSize", "Verbose", "ErrorAction"} <= set(get_mailbox.parameters)

        ps = run(pool, "Get-Mailbox")
        assert not ps.had_errors, ps.streams.error
        mailboxes = objects_of(ps)
        assert len(mailboxes) == 40
        # pypsrp keeps the type names as sent; PowerShell and psrpcore prefix them with "Deserialized.".
        assert ps.output[0].types[0] == "Microsoft.Exchange.Data.Directory.Management.Mailbox"
        kinds = {m["RecipientTypeDetails"] for m in mailboxes}
        assert kinds == {"UserMailbox", "SharedMailbox", "RoomMailbox", "EquipmentMailbox"}
        assert all(m["PrimarySmtpAddress"].endswith("@contoso.com") for m in mailboxes)
    assert rps.open_sessions(PARTNER_ADMIN) == 0


def test_session_without_delegated_org_is_the_partners_own_tenant(rps: Endpoint) -> None:
    with rps.pool(PARTNER_ADMIN, None) as pool:
        ps = run(pool, "Get-Mailbox")
        assert not ps.had_errors
        assert all(m["PrimarySmtpAddress"].endswith("northwindit.onmicrosoft.com") for m in objects_of(ps))


def test_delegated_org_by_tenant_guid_and_other_domain_spellings(rps: Endpoint) -> None:
    contoso = rps.store.resolve_tenant("contoso.onmicrosoft.com")
    for org in (str(contoso.guid), "CONTOSO.com", "Contoso.OnMicrosoft.com"):
        with rps.pool(PARTNER_ADMIN, org) as pool:
            assert len(objects_of(run(pool, "Get-Mailbox", ("ResultSize", "Unlimited")))) == 40


def test_get_mailbox_identity_forms(rps: Endpoint) -> None:
    with rps.pool(PARTNER_ADMIN, "contoso.onmicrosoft.com") as pool:
        first = objects_of(run(pool, "Get-Mailbox", ("ResultSize", 6)))
        names = [m["DisplayName"] for m in first]
        sample = next(m for m in first[1:] if names.count(m["DisplayName"]) == 1)
        forms = [
            sample["Name"],
            sample["Alias"],
            sample["PrimarySmtpAddress"],
            sample["PrimarySmtpAddress"].upper(),
            sample["UserPrincipalName"],
            str(sample["Guid"]),
            sample["DistinguishedName"],
            sample["DisplayName"],
        ]
        forms += [a.split(":", 1)[1] for a in sample["EmailAddresses"]]
        for identity in forms:
            found = objects_of(run(pool, "Get-Mailbox", ("Identity", identity)))
            assert [m["Guid"] for m in found] == [sample["Guid"]], identity


def test_get_mailbox_not_found_and_ambiguous(rps: Endpoint) -> None:
    with rps.pool(PARTNER_ADMIN, "contoso.onmicrosoft.com") as pool:
        ps = run(pool, "Get-Mailbox", ("Identity", "nobody@contoso.com"))
        assert ps.output == []
        [err] = ps.streams.error
        assert str(err).startswith(
            "The operation couldn't be performed because object 'nobody@contoso.com' couldn't be found on '"
        )
        assert "ManagementObjectNotFoundException" in err.fq_error

        everyone = objects_of(run(pool, "Get-Mailbox", ("ResultSize", "Unlimited")))
        names = [m["DisplayName"] for m in everyone]
        duplicate = next(n for n in names if names.count(n) > 1)
        ps = run(pool, "Get-Mailbox", ("Identity", duplicate))
        assert ps.output == []
        assert "matches multiple entries" in str(ps.streams.error[0])


def names_of(pool: RunspacePool, *params: tuple[str, object]) -> PowerShell:
    """Get-Mailbox piped to Select-Object Name: pypsrp reads a full mailbox in milliseconds, a name in µs."""
    ps = PowerShell(pool)
    ps.add_cmdlet("Get-Mailbox")
    for name, value in params:
        ps.add_parameter(name, value)
    ps.add_cmdlet("Select-Object").add_parameter("Property", "Name")
    ps.invoke()
    return ps


def test_result_size_default_warns_with_exchanges_text(rps: Endpoint) -> None:
    with rps.pool(PARTNER_ADMIN, "fabrikam.onmicrosoft.com") as pool:
        ps = names_of(pool)
        assert len(ps.output) == 1000
        assert [w.message for w in ps.streams.warning] == [WARNING_1000]
        ps = names_of(pool, ("ResultSize", "Unlimited"))
        assert len(ps.output) == 1500 and ps.streams.warning == []
        ps = run(pool, "Get-Mailbox", ("ResultSize", 10))
        assert len(ps.output) == 10
        assert ps.streams.warning[0].message.startswith("There are more results available than are currently")


def test_recipient_type_details_filter(rps: Endpoint) -> None:
    with rps.pool(PARTNER_ADMIN, "contoso.onmicrosoft.com") as pool:
        rooms = objects_of(run(pool, "Get-Mailbox", ("RecipientTypeDetails", "RoomMailbox")))
        assert rooms and {m["RecipientTypeDetails"] for m in rooms} == {"RoomMailbox"}


def test_wrong_password_and_unknown_user_get_401(rps: Endpoint) -> None:
    for user, password in ((PARTNER_ADMIN, "wrong"), ("ghost@northwindit.onmicrosoft.com", rps.password)):
        with pytest.raises(AuthenticationError):
            rps.open_pool(user, "contoso.onmicrosoft.com", password=password)


@pytest.mark.parametrize("org", ["woodgrove.onmicrosoft.com", "doesnotexist.onmicrosoft.com"])
def test_non_customer_and_unknown_tenant_are_refused_alike(rps: Endpoint, org: str) -> None:
    with pytest.raises(WSManFaultError) as info:
        rps.open_pool(PARTNER_ADMIN, org)
    assert info.value.code == 5
    assert info.value.reason.startswith("Access is denied.")
    assert org in info.value.reason and "exist" not in info.value.reason.replace(org, "")
    assert rps.open_sessions(PARTNER_ADMIN) == 0


def test_remote_powershell_disabled_account_is_refused(rps: Endpoint) -> None:
    with pytest.raises(WSManFaultError) as info:
        rps.open_pool(PARTNER_NORPS, "contoso.onmicrosoft.com")
    assert "RemotePowerShellEnabled" in info.value.reason


def test_helpdesk_reads_but_cannot_write(rps: Endpoint) -> None:
    with rps.pool(PARTNER_HELPDESK, "contoso.onmicrosoft.com") as pool:
        assert len(objects_of(run(pool, "Get-Mailbox"))) == 40
        names = {m.name for m in pool.get_command_metadata(["*"])}
        assert "Get-Mailbox" in names and "Set-Mailbox" not in names
        ps = run(pool, "Set-Mailbox", ("Identity", "ConfRoomAdams"), ("CustomAttribute1", "x"))
        assert ps.state == PSInvocationState.FAILED
        assert "CmdletAccessDeniedException" in str(ps.streams.error[0]) or "management roles" in str(
            ps.streams.error[0]
        )
        # The session survives the refusal.
        assert len(objects_of(run(pool, "Get-Mailbox", ("ResultSize", 1)))) == 1


def test_fourth_session_gets_max_concurrency_error(rps: Endpoint) -> None:
    pools = [rps.open_pool(PARTNER_ADMIN, "tailspintoys.onmicrosoft.com") for _ in range(3)]
    try:
        with pytest.raises(WSManFaultError) as info:
            rps.open_pool(PARTNER_ADMIN, "contoso.onmicrosoft.com")
        assert (
            "Fail to create a runspace because you have exceeded the maximum number of connections allowed : 3 "
            "for the policy party : MaxConcurrency. Please close existing runspace and try again."
        ) in info.value.reason
        # Another account is not affected.
        with rps.pool(PARTNER_HELPDESK, "contoso.onmicrosoft.com"):
            pass
    finally:
        pools[0].close()
    # Closing one frees its slot at once.
    rps.open_pool(PARTNER_ADMIN, "contoso.onmicrosoft.com").close()
    for pool in pools[1:]:
        pool.close()


def test_concurrent_creates_never_exceed_the_cap(rps: Endpoint) -> None:
    opened: list[RunspacePool] = []
    refused: list[Exception] = []
    lock = threading.Lock()

    def attempt() -> None:
        try:
            pool = rps.open_pool(PARTNER_ADMIN, "tailspintoys.onmicrosoft.com")
            with lock:
                opened.append(pool)
        except WSManFaultError as exc:
            with lock:
                refused.append(exc)

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert len(opened) == 3 and len(refused) == 5
        assert all("MaxConcurrency" in e.reason for e in refused)
    finally:
        for pool in opened:
            pool.close()


def test_script_text_is_refused_with_no_language_error(rps: Endpoint) -> None:
    with rps.pool(PARTNER_ADMIN, "contoso.onmicrosoft.com") as pool:
        ps = PowerShell(pool)
        ps.add_script("Get-Mailbox | ForEach-Object { $_.Name }")
        ps.invoke()
        assert ps.state == PSInvocationState.FAILED
        err = ps.streams.error[0]
        assert str(err) == (
            "The syntax is not supported by this runspace. This can occur if the runspace is in no-language mode."
        )
        assert err.fq_error == "ScriptsNotAllowed"


def test_pipeline_input_binds_by_property(rps: Endpoint) -> None:
    with rps.pool(PARTNER_ADMIN, "contoso.onmicrosoft.com") as pool:
        ps = run(pool, "Get-Mailbox", input=["ConfRoomAdams", "Projector1"])
        assert not ps.had_errors, [str(e) for e in ps.streams.error]
        assert sorted(m["Alias"] for m in objects_of(ps)) == ["ConfRoomAdams", "Projector1"]


def test_select_and_measure_in_one_pipeline(rps: Endpoint) -> None:
    with rps.pool(PARTNER_ADMIN, "fabrikam.onmicrosoft.com") as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Get-Mailbox").add_parameter("ResultSize", "Unlimited")
        ps.add_cmdlet("Measure-Object")
        ps.invoke()
        assert objects_of(ps)[0]["Count"] == 1500


def test_large_output_spans_several_receives(rps: Endpoint) -> None:
    with rps.pool(PARTNER_ADMIN, "fabrikam.onmicrosoft.com", max_envelope_size=153600) as pool:
        ps = run(pool, "Get-Mailbox", ("ResultSize", "Unlimited"))
        assert len(ps.output) == 1500
        assert len({m["Guid"] for m in objects_of(ps)}) == 1500
    assert rps.receive_count() > 5


def test_stop_ends_a_running_pipeline(rps: Endpoint) -> None:
    with rps.pool(PARTNER_ADMIN, "fabrikam.onmicrosoft.com", max_envelope_size=153600) as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Get-Mailbox").add_parameter("ResultSize", "Unlimited")
        ps.begin_invoke()
        ps.stop()
        assert ps.state == PSInvocationState.STOPPED
        # The runspace goes on serving.
        assert len(objects_of(run(pool, "Get-Mailbox", ("ResultSize", 2)))) == 2


def test_audit_log_records_pipelines_with_secrets_redacted(rps: Endpoint) -> None:
    with rps.pool(PARTNER_ADMIN, "tailspintoys.onmicrosoft.com") as pool:
        run(pool, "Get-Mailbox", ("ResultSize", 3))
        run(pool, "Get-Mailbox", ("Identity", "x"), ("Password", "hunter2-secret"))
    tailspin = rps.store.resolve_tenant("tailspintoys.onmicrosoft.com")
    entries = rps.store.audit_entries(target_tenant_id=tailspin.id)
    by_params = {str(e.parameters): e for e in entries}
    ok = next(e for e in entries if e.parameters.get("ResultSize") == 3)
    assert ok.cmdlet == "Get-Mailbox" and ok.succeeded and ok.caller == PARTNER_ADMIN
    assert ok.caller_tenant_id != ok.target_tenant_id
    assert "hunter2-secret" not in "".join(by_params)
    failed = next(e for e in entries if "Password" in e.parameters)
    assert not failed.succeeded and failed.error


def test_idle_sessions_expire(rps_short_idle: Endpoint) -> None:
    pool = rps_short_idle.open_pool(PARTNER_ADMIN, "tailspintoys.onmicrosoft.com")
    assert rps_short_idle.open_sessions(PARTNER_ADMIN) == 1
    deadline = time.monotonic() + 10
    while rps_short_idle.open_sessions(PARTNER_ADMIN) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert rps_short_idle.open_sessions(PARTNER_ADMIN) == 0
    assert not pool.is_alive()


def test_import_pssession_side_pipelines(rps: Endpoint) -> None:
    """Import-PSSession also runs Get-FormatData (counted with Measure-Object) and may run Get-Command."""
    with rps.pool(PARTNER_ADMIN, "contoso.onmicrosoft.com") as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Get-FormatData").add_parameter("TypeName", "*").add_parameter("PowerShellVersion", "5.1")
        ps.add_cmdlet("Measure-Object")
        ps.invoke()
        assert not ps.had_errors, [str(e) for e in ps.streams.error]
        assert objects_of(ps)[0]["Count"] > 0  # the definitions: tests/e2e/test_format_data.py

        ps = run(pool, "Get-Command", ("Name", "Get-Mailbox*"))
        assert not ps.had_errors
        names = [c["Name"] for c in objects_of(ps)]
        assert names[0] == "Get-Mailbox" and all(n.lower().startswith("get-mailbox") for n in names)


def test_binding_errors_fail_the_pipeline_with_powershell_text(rps: Endpoint) -> None:
    with rps.pool(PARTNER_ADMIN, "contoso.onmicrosoft.com") as pool:
        ps = run(pool, "Get-Mailbox", ("NoSuchParameter", "x"))
        assert ps.state == PSInvocationState.FAILED
        assert str(ps.streams.error[0]) == "A parameter cannot be found that matches parameter name 'NoSuchParameter'."
        assert ps.streams.error[0].fq_error == "NamedParameterNotFound,Get-Mailbox"
        ps = run(pool, "Get-Nothing")
        assert ps.state == PSInvocationState.FAILED
        assert str(ps.streams.error[0]).startswith("The term 'Get-Nothing' is not recognized")


def test_removed_relationship_takes_effect_on_the_next_command(rps: Endpoint) -> None:
    store = rps.store
    partner = store.resolve_tenant("northwindit.onmicrosoft.com")
    customer = store.resolve_tenant("tailspintoys.onmicrosoft.com")
    with rps.pool(PARTNER_ADMIN, "tailspintoys.onmicrosoft.com") as pool:
        assert len(objects_of(run(pool, "Get-Mailbox", ("ResultSize", 1)))) == 1
        relationship = store.relationship(partner.id, customer.id)
        store.remove_relationship(relationship.id)
        try:
            with pytest.raises(WSManFaultError) as info:
                run(pool, "Get-Mailbox", ("ResultSize", 1))
            assert info.value.code == 5 and info.value.reason.startswith("Access is denied.")
        finally:
            store.create_relationship(partner.id, customer.id)
        assert len(objects_of(run(pool, "Get-Mailbox", ("ResultSize", 1)))) == 1
