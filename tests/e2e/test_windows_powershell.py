"""The seed's commands as Windows PowerShell 5.1 sends them, with its default options:
``New-PSSession ... -ConnectionUri https://<host>/powershell-liveid?DelegatedOrg=<customer>
-Authentication Basic`` (``;PSVersion=`` appended, xpress compression), ``Import-PSSession``
(GET_COMMAND_METADATA with CommandType 399, ``Get-FormatData``), ``Get-Mailbox`` through the
implicit-remoting proxy and ``Invoke-Command``, piped input, ``Remove-PSSession``.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import re
import struct
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psrpcore
import pytest
from psrpcore.types import PSInvocationState

from aobo.frontends.wsman import namespaces as ns
from tests import xpress_support
from tests.e2e.helpers import PARTNER_ADMIN, Endpoint
from tests.e2e.windows_client import (
    FIXTURE,
    PS_VERSION,
    DotNetVersion,
    WindowsPowerShell,
)
from tests.e2e.wsman_raw import fault_of, q
from tests.psrp_events import final_state, outputs, warnings

pytestmark = [
    pytest.mark.skipif(
        not (xpress_support.wimlib_available() and xpress_support.pyfwnt_available()),
        reason="needs wimlib (Debian libwim15) and libfwnt-python for the xpress framing",
    ),
    pytest.mark.skipif(
        not FIXTURE.is_file(), reason=f"the captured Windows PowerShell 5.1 Create {FIXTURE} is not available"
    ),
]

CUSTOMER = "contoso.onmicrosoft.com"
SERVICE_LOG = "aobo.frontends.wsman.service"


def _client(rps: Endpoint, query: str = f"?DelegatedOrg={CUSTOMER}", **kwargs: Any) -> WindowsPowerShell:
    user = kwargs.pop("user", PARTNER_ADMIN)
    password = kwargs.pop("password", rps.password)
    url = f"{rps.server.base_url}/powershell-liveid{query}"
    return WindowsPowerShell(url, user, password, verify=rps.verify(), **kwargs)


@contextlib.contextmanager
def _session(rps: Endpoint, query: str = f"?DelegatedOrg={CUSTOMER}", **kwargs: Any) -> Iterator[WindowsPowerShell]:
    """New-PSSession ... Remove-PSSession."""
    shell = _client(rps, query, **kwargs)
    try:
        shell.open()
        yield shell
    finally:
        shell.delete()
        shell.close()


def test_the_seed_flow_with_windows_defaults(rps: Endpoint) -> None:
    shell = _client(rps)
    try:
        created = shell.open()
        # New-PSSession: the shell reports the compression it runs with, and an IdleTimeOut that
        # 5.1's ProcessShellData can parse (seconds with a dot and three digits).
        shell_el = created.find(f".//{q(ns.SHELL, 'Shell')}")
        assert shell_el is not None
        assert shell_el.findtext(q(ns.SHELL, "CompressionMode")) == "XpressCompression"
        assert re.fullmatch(r"PT\d+\.\d{3}S", shell_el.findtext(q(ns.SHELL, "IdleTimeOut")) or "")
        assert rps.open_sessions(PARTNER_ADMIN) == 1

        # Import-PSSession, step 1: every command, CommandType 399 (5.1's Workflow bit included).
        metadata = shell.get_command_metadata()
        assert final_state(metadata).state == PSInvocationState.Completed
        objects = outputs(metadata)
        assert int(objects[0]["Count"]) == len(objects) - 1
        names = {str(o["Name"]) for o in objects[1:]}
        assert {"Get-Mailbox", "Set-Mailbox", "Get-FormatData"} <= names

        # Steps 2 and 3: Get-FormatData -TypeName * -PowerShellVersion <Version>, counted, then read.
        version = DotNetVersion(PS_VERSION)
        counted = shell.invoke_pipeline(
            [("Get-FormatData", {"TypeName": "*", "PowerShellVersion": version}), ("Measure-Object", {})]
        )
        assert final_state(counted).state == PSInvocationState.Completed
        (measure,) = outputs(counted)
        formats = shell.invoke("Get-FormatData", {"TypeName": "*", "PowerShellVersion": version})
        assert final_state(formats).state == PSInvocationState.Completed
        assert int(measure["Count"]) == len(outputs(formats))

        # Get-Mailbox through the proxy, and Invoke-Command -ScriptBlock {Get-Mailbox}: NoInput.
        mailboxes = shell.invoke("Get-Mailbox")
        assert final_state(mailboxes).state == PSInvocationState.Completed
        addresses = [str(m["PrimarySmtpAddress"]) for m in outputs(mailboxes)]
        assert addresses and all(a.endswith("@contoso.com") for a in addresses)

        cut = shell.invoke("Get-Mailbox", {"ResultSize": 2})
        assert len(outputs(cut)) == 2
        assert warnings(cut)

        # Piped input (... | Get-Mailbox): the Send is real LZ77+Huffman from wimlib.
        wanted = addresses[:12]
        piped = shell.invoke("Get-Mailbox", input=wanted)
        assert final_state(piped).state == PSInvocationState.Completed
        assert [str(m["PrimarySmtpAddress"]) for m in outputs(piped)] == wanted
        assert shell.compressed_sends >= 1

        # Every ReceiveResponse stream was framed, in blocks the test's own reader took apart.
        assert shell.block_counts and all(n >= 1 for n in shell.block_counts)

        # Remove-PSSession: Delete, and the slot is free at once.
        assert shell.delete().status_code == 200
        assert rps.open_sessions(PARTNER_ADMIN) == 0
    finally:
        shell.close()

    # Nothing leaked: the account's three sessions all open again.
    again = [_client(rps) for _ in range(3)]
    try:
        for s in again:
            s.open()
        assert rps.open_sessions(PARTNER_ADMIN) == 3
    finally:
        for s in again:
            s.delete()
            s.close()
    assert rps.open_sessions(PARTNER_ADMIN) == 0


def _org_of(shell: WindowsPowerShell) -> str:
    (config,) = outputs(shell.invoke("Get-OrganizationConfig"))
    return str(config["Name"]).lower()


@pytest.mark.parametrize(
    ("query", "org"),
    [
        ("", "northwindit"),  # ?PSVersion=... alone: the caller's own organisation
        (f"?DelegatedOrg={CUSTOMER}", "contoso"),
        ("?delegatedorg=contoso%2Eonmicrosoft.com", "contoso"),
        ("?DelegatedOrg=fabrikam.onmicrosoft.com&Extra=1", "fabrikam"),
    ],
)
def test_the_session_url_windows_builds(rps: Endpoint, query: str, org: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger=SERVICE_LOG), _session(rps, query) as shell:
        assert _org_of(shell).startswith(org)
    # The server read PSVersion out of the same query as DelegatedOrg (for its log).
    assert f"(PSVersion {PS_VERSION}, xpress)" in caplog.text


@pytest.mark.parametrize("delegated", [False, True])
def test_basic_auth_to_oauth_conversion_with_psversion(
    rps: Endpoint, delegated: bool, caplog: pytest.LogCaptureFixture
) -> None:
    if rps.server.settings.insecure_http:
        pytest.skip("msal needs the HTTPS authority")
    tenant = CUSTOMER if delegated else "northwindit.onmicrosoft.com"
    token = rps.token(PARTNER_ADMIN, tenant)
    query = (
        f"?DelegatedOrg={CUSTOMER}&BasicAuthToOAuthConversion=true" if delegated else "?BasicAuthToOAuthConversion=true"
    )
    with (
        caplog.at_level(logging.INFO, logger=SERVICE_LOG),
        _session(rps, query, password=f"Bearer {token}", user="OAuthUser@" + tenant) as shell,
    ):
        assert _org_of(shell).startswith(tenant.split(".")[0])
    assert f"(PSVersion {PS_VERSION}, xpress)" in caplog.text


def test_no_compression_still_works(rps: Endpoint) -> None:
    with _session(rps, compress=False) as shell:
        assert shell.created is not None
        assert shell.created.findtext(f".//{q(ns.SHELL, 'CompressionMode')}") == "NoCompression"
        assert outputs(shell.invoke("Get-Mailbox", {"ResultSize": 1}))


def _raw_send(shell: WindowsPowerShell, command_id: str, data: bytes) -> Any:
    body = (
        f'<rsp:Send xmlns:rsp="{ns.SHELL}"><rsp:Stream Name="stdin" CommandId="{command_id}">'
        f"{base64.b64encode(data).decode()}</rsp:Stream></rsp:Send>"
    )
    return shell.post(shell.envelope(ns.ACTION_SEND, body))


def _bomb() -> bytes:
    """An envelope's worth of valid blocks, each 64 KiB of zeros in a few hundred bytes."""
    block = xpress_support.xpress_huffman_compress(bytes(65536))
    assert block is not None
    framed = struct.pack("<HH", 65535, len(block) - 1) + block
    return framed * (300_000 // len(framed))


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: b"\x10\x00", "cut short"),  # a truncated block header
        (lambda: struct.pack("<HH", 99, 99) + b"x" * 10, "remain"),  # claims more than it carries
        (lambda: struct.pack("<HH", 299, 199) + bytes(200), "block 0"),  # compressed, and garbage
        (_bomb, "limit"),
    ],
    ids=["truncated-header", "short-block", "garbage", "bomb"],
)
def test_malformed_compressed_data_is_a_fault_and_the_session_goes_on(
    rps: Endpoint, make: Callable[[], bytes], words: str
) -> None:
    with _session(rps) as shell:
        pid = uuid.uuid4()
        waiting = shell.start_with_input("Get-Mailbox", pid)
        response = _raw_send(shell, waiting, make())
        assert response.status_code == 500
        fault = fault_of(response.content)
        assert fault.subcode == "w:SchemaValidationError"
        assert "xpress" in fault.reason and words in fault.reason
        # The same session still serves: stop the half-fed pipeline and run another.
        shell.signal_terminate(waiting)
        assert outputs(shell.invoke("Get-Mailbox", {"ResultSize": 1}))


def test_disconnect_pssession_is_refused_and_the_session_goes_on(rps: Endpoint) -> None:
    with _session(rps) as shell:
        body = f'<rsp:Disconnect xmlns:rsp="{ns.SHELL}"><rsp:IdleTimeOut>PT7200.000S</rsp:IdleTimeOut></rsp:Disconnect>'
        response = shell.post(shell.envelope(f"{ns.SHELL}/Disconnect", body))
        assert response.status_code == 500
        fault = fault_of(response.content)
        assert fault.code == 2150858771 and fault.subcode == "a:ActionNotSupported"
        assert fault.reason == f"The action is not supported by the service: {ns.SHELL}/Disconnect"
        assert outputs(shell.invoke("Get-Mailbox", {"ResultSize": 1}))


def test_one_send_decodes_to_at_most_its_budget_over_all_its_streams(rps: Endpoint) -> None:
    # Each stream alone is within the per-Send budget (4 x 512,000 bytes); together they are not.
    block = xpress_support.xpress_huffman_compress(bytes(65536))
    assert block is not None
    stream = base64.b64encode((struct.pack("<HH", 65535, len(block) - 1) + block) * 24).decode()  # 1.5 MiB each
    with _session(rps) as shell:
        waiting = shell.start_with_input("Get-Mailbox", uuid.uuid4())
        streams = "".join(f'<rsp:Stream Name="stdin" CommandId="{waiting}">{stream}</rsp:Stream>' for _ in range(2))
        response = shell.post(shell.envelope(ns.ACTION_SEND, f'<rsp:Send xmlns:rsp="{ns.SHELL}">{streams}</rsp:Send>'))
        assert response.status_code == 500
        assert "over the limit" in fault_of(response.content).reason
        shell.signal_terminate(waiting)
        assert outputs(shell.invoke("Get-Mailbox", {"ResultSize": 1}))


def test_a_finished_commands_id_may_start_another(rps: Endpoint) -> None:
    with _session(rps) as shell:
        pid = uuid.uuid4()
        cid = str(pid).upper()  # Windows and pypsrp use the pipeline id as the CommandId

        def run_once() -> None:
            events = shell.invoke("Get-Mailbox", {"ResultSize": 1}, pid=pid, terminate=False)
            assert len(outputs(events)) == 1

        run_once()
        # Read to the end, never closed: a late Receive still says Done ...
        late = shell.receive(cid)
        state = late.find(f".//{q(ns.SHELL, 'CommandState')}")
        assert state is not None and state.get("State") == ns.COMMAND_STATE_DONE
        # ... and the id may start another pipeline at once, as pypsrp's next invoke() does,
        run_once()
        # or after its Signal terminate, as Windows releases it.
        shell.signal_terminate(cid)
        run_once()
        # A live command's id may not.
        waiting = shell.start_with_input("Get-Mailbox", uuid.uuid4())
        again = shell.post(
            shell.envelope(
                ns.ACTION_COMMAND,
                f'<rsp:CommandLine xmlns:rsp="{ns.SHELL}" CommandId="{waiting}"><rsp:Command>x</rsp:Command>'
                f"<rsp:Arguments>{base64.b64encode(b'x' * 70).decode()}</rsp:Arguments></rsp:CommandLine>",
            )
        )
        assert again.status_code == 500
        assert fault_of(again.content).reason == f"A command with CommandId {waiting} already exists."
        shell.signal_terminate(waiting)


def test_a_confirm_prompt_answered_through_a_compressed_pr_stream(rps: Endpoint) -> None:
    # The console host of 5.1 can prompt: -Confirm reaches it as a PIPELINE_HOST_CALL, and the
    # answer comes back as a PIPELINE_HOST_RESPONSE on the "pr" stream, xpress-framed like any Send.
    with _session(rps) as shell:
        (first,) = outputs(shell.invoke("Get-Mailbox", {"ResultSize": 1}))
        name, display = str(first["Name"]), str(first["DisplayName"])
        parameters = {"Identity": name, "DisplayName": "Never Set", "Confirm": True}
        events = shell.invoke("Set-Mailbox", parameters, answers=[2])  # No
        assert len([e for e in events if isinstance(e, psrpcore.PipelineHostCallEvent)]) == 1
        assert final_state(events).state == PSInvocationState.Completed
        (after,) = outputs(shell.invoke("Get-Mailbox", {"Identity": name}))
        assert str(after["DisplayName"]) == display
