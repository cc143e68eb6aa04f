"""The toolkit's sessions against a real aobo server: connect, invoke, stream, errors, TLS, limits, no leaks."""

from __future__ import annotations

import _thread
import asyncio
import os
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from pathlib import Path

import pytest

from aobo.toolkit import session as session_module
from aobo.toolkit import transport as transport_module
from aobo.toolkit.errors import AuthError, CommandError, ConnectError, SessionLimitError
from aobo.toolkit.session import AsyncSession, connect, open_session
from tests.toolkit.conftest import CONTOSO, FABRIKAM, PARTNER_ADMIN, TAILSPIN, LiveServer

WARNING_1000 = (
    "By default, only the first 1000 items are returned. Use the ResultSize parameter to specify the number of "
    'items returned. To return all items, specify "-ResultSize Unlimited".'
)
REPO = Path(__file__).resolve().parents[2]


def _connect(live: LiveServer, org: str | None = CONTOSO, **kwargs: object) -> session_module.Session:
    kwargs.setdefault("ca_file", live.ca_file)
    return connect(org, live.credential(), live.url, **kwargs)  # type: ignore[arg-type]


async def _open(live: LiveServer, org: str | None = CONTOSO, **kwargs: object) -> AsyncSession:
    kwargs.setdefault("ca_file", live.ca_file)
    return await open_session(live.url, live.credential(), org, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _no_session_left(live: LiveServer) -> None:
    yield
    assert live.open_sessions() == 0, "a test left a session open on the server"
    assert not session_module.open_sessions()


def _wait_for_no_sessions(live: LiveServer, timeout: float = 5.0) -> int:
    deadline = time.monotonic() + timeout
    while live.open_sessions() and time.monotonic() < deadline:
        time.sleep(0.05)
    return live.open_sessions()


# ------------------------------------------------------------------------------------------------ basics


def test_connect_invoke_with_parameters_and_close(live: LiveServer) -> None:
    with _connect(live) as s:
        assert live.open_sessions() == 1
        assert s.org == CONTOSO and "DelegatedOrg=contoso.onmicrosoft.com" in s.url
        assert "PSVersionTable" in s.application_private_data
        result = s.invoke("Get-Mailbox", Identity="AdeleV")
        assert len(result) == 1 and not result.errors and not result.warnings
        adele = result[0]
        assert adele["Alias"] == "AdeleV"
        assert str(adele["PrimarySmtpAddress"]).lower().startswith("adelev@")
        assert "Mailbox" in adele.type_names[0]
    assert s.closed and live.open_sessions() == 0
    s.close()  # idempotent


def test_async_session_invoke_and_stream(live: LiveServer) -> None:
    async def main() -> None:
        async with await _open(live, FABRIKAM) as s:
            result = await s.invoke("Get-Mailbox", ResultSize="Unlimited")
            assert len(result) == 1500 and not result.warnings
            assert len({r["Guid"] for r in result}) == 1500
            # A stream left early releases its pipeline; the session goes on serving.
            stream = s.stream("Get-Mailbox", ResultSize="Unlimited")
            seen = 0
            async for _ in stream:
                seen += 1
                if seen == 10:
                    break
            await stream.aclose()
            assert len(await s.invoke("Get-Mailbox", ResultSize=3)) == 3

    asyncio.run(main())


def test_sync_stream_yields_records_as_they_arrive(live: LiveServer) -> None:
    with _connect(live, FABRIKAM, max_envelope_size=153600) as s:
        aliases = [r["Alias"] for r in s.stream("Get-Mailbox", ResultSize="Unlimited")]
        assert len(aliases) == 1500
        with s.stream("Get-Mailbox", ResultSize="Unlimited") as stream:
            first = next(stream)
            assert first["Alias"] == aliases[0]
        assert len(s.invoke("Get-Mailbox", ResultSize=2)) == 2


def test_pipeline_of_commands_and_command_lines(live: LiveServer) -> None:
    from aobo.toolkit.grammar import Command

    with _connect(live, FABRIKAM) as s:
        pipeline = [Command("Get-Mailbox", (("ResultSize", "Unlimited"),)), Command("Measure-Object", ())]
        assert s.invoke(pipeline)[0]["Count"] == 1500
        assert s.invoke("Get-Mailbox -ResultSize Unlimited | Measure-Object")[0]["Count"] == 1500
        # Keyword parameters bind to the last command of the pipeline.
        assert s.invoke([Command("Get-Mailbox", ())], ResultSize=7).output.__len__() == 7


def test_switch_parameters(live: LiveServer) -> None:
    from aobo.toolkit.grammar import SWITCH, Command

    with _connect(live) as s:
        plain = s.invoke("Get-Command", Name="Get-Mailbox")
        syntax = s.invoke([Command("Get-Command", (("Name", "Get-Mailbox"), ("Syntax", SWITCH)))])
        keyword = s.invoke("Get-Command", Name="Get-Mailbox", Syntax=True)
        assert plain[0]["Name"] == "Get-Mailbox"
        assert isinstance(syntax[0], str) and "Get-Mailbox" in syntax[0]
        assert list(keyword) == list(syntax)


def test_result_size_warning_is_collected(live: LiveServer) -> None:
    with _connect(live, FABRIKAM) as s:
        result = s.invoke("Get-Mailbox")
        assert len(result) == 1000
        assert len(result.warnings) == 1 and result.warnings[0].startswith(WARNING_1000)


def test_not_found_is_a_non_terminating_error(live: LiveServer) -> None:
    with _connect(live) as s:
        result = s.invoke("Get-Mailbox", Identity="nobody@contoso.com")
        assert len(result) == 0 and result.had_errors
        [err] = result.errors
        assert err.message.startswith(
            "The operation couldn't be performed because object 'nobody@contoso.com' couldn't be found on '"
        )
        assert "ManagementObjectNotFoundException" in err.fully_qualified_error_id
        assert err.fully_qualified_error_id.endswith("Microsoft.Exchange.Management.RecipientTasks.GetMailbox")
        assert err.exception_type.endswith("ManagementObjectNotFoundException")
        assert not err.terminating
        with pytest.raises(CommandError):
            result.raise_for_errors()


def test_failing_command_raises_command_error(live: LiveServer) -> None:
    with _connect(live) as s:
        with pytest.raises(CommandError) as info:
            s.invoke("Get-Mailbox", NoSuchParameter="x")
        err = info.value
        assert str(err) == "A parameter cannot be found that matches parameter name 'NoSuchParameter'."
        assert err.fully_qualified_error_id == "NamedParameterNotFound,Get-Mailbox"
        assert err.category == "InvalidArgument" and err.terminating
        assert err.exception_type == "System.Management.Automation.ParameterBindingException"
        with pytest.raises(CommandError) as info:
            s.invoke("Get-Nothing")
        assert str(info.value).startswith("The term 'Get-Nothing' is not recognized")
        # The session survives a failed pipeline.
        assert len(s.invoke("Get-Mailbox", ResultSize=1)) == 1


# ------------------------------------------------------------------------------------------------ refusals


def test_wrong_password_is_access_denied(live: LiveServer) -> None:
    with pytest.raises(AuthError) as info:
        connect(CONTOSO, live.credential(password="wrong-password"), live.url, ca_file=live.ca_file)
    assert str(info.value) == "Access is denied."
    assert "wrong-password" not in repr(info.value)


def test_non_customer_is_access_denied(live: LiveServer) -> None:
    with pytest.raises(AuthError) as info:
        _connect(live, "woodgrove.onmicrosoft.com")
    assert str(info.value).startswith("Access is denied")


def test_tls_verified_with_the_ca_file_refused_without_it_allowed_insecure(live: LiveServer) -> None:
    with _connect(live, CONTOSO) as s:  # the server's CA file
        assert s.url.startswith("https://")
    with pytest.raises(ConnectError) as info:
        _connect(live, CONTOSO, ca_file=None)
    assert "could not be verified" in str(info.value) and not info.value.retryable
    assert live.open_sessions() == 0
    transport_module._warned_insecure.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with _connect(live, CONTOSO, ca_file=None, insecure=True) as s:
            assert len(s.invoke("Get-Mailbox", ResultSize=1)) == 1
        with _connect(live, CONTOSO, ca_file=None, insecure=True):
            pass
    insecure = [w for w in caught if issubclass(w.category, transport_module.InsecureConnectionWarning)]
    assert len(insecure) == 1  # once per process


def test_fourth_session_raises_session_limit_error(live: LiveServer) -> None:
    async def main() -> None:
        sessions = [await _open(live, TAILSPIN) for _ in range(3)]
        try:
            assert live.open_sessions() == 3
            with pytest.raises(SessionLimitError) as info:
                await _open(live, CONTOSO)
            assert (
                "Fail to create a runspace because you have exceeded the maximum number of connections allowed : 3 "
                "for the policy party : MaxConcurrency. Please close existing runspace and try again."
            ) in str(info.value)
            assert info.value.retryable
        finally:
            await asyncio.gather(*(s.close() for s in sessions))
        assert live.open_sessions() == 0

    asyncio.run(main())


# ------------------------------------------------------------------------------------------------ leak-proofing


def test_exception_in_the_with_block_closes_the_session(live: LiveServer) -> None:
    with pytest.raises(RuntimeError, match="boom"), _connect(live) as s:
        s.invoke("Get-Mailbox", ResultSize=1)
        raise RuntimeError("boom")
    assert live.open_sessions() == 0

    async def main() -> None:
        async with await _open(live) as s:
            await s.invoke("Get-Mailbox", ResultSize=1)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        asyncio.run(main())
    assert live.open_sessions() == 0


def test_ctrl_c_during_a_receive_stops_the_pipeline_and_closes_the_session(live: LiveServer) -> None:
    # Small envelopes make the 1,500 mailboxes take hundreds of Receives, so the interrupt lands in one.
    s = _connect(live, FABRIKAM, max_envelope_size=8192)
    receives = live.server.app.state.wsman.receives_answered  # type: ignore[union-attr]
    timer = threading.Timer(0.5, _thread.interrupt_main)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            s.invoke("Get-Mailbox", ResultSize="Unlimited")
    finally:
        timer.cancel()
    assert live.server.app.state.wsman.receives_answered > receives + 5  # type: ignore[union-attr]
    assert s.closed
    assert _wait_for_no_sessions(live) == 0


def _run_script(live: LiveServer, body: str) -> subprocess.CompletedProcess[str]:
    script = textwrap.dedent(
        f"""
        import asyncio, os, sys
        from aobo.toolkit.session import connect, open_session

        class Cred:
            username = {PARTNER_ADMIN!r}
            def password(self):
                return os.environ["TOOLKIT_TEST_PASSWORD"]

        URL, CA = {live.url!r}, {live.ca_file!r}
        """
    ) + textwrap.dedent(body)
    env = {**os.environ, "TOOLKIT_TEST_PASSWORD": live.password, "PYTHONPATH": str(REPO / "src")}
    return subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60, cwd=REPO, check=False
    )


def test_sessions_left_open_are_closed_at_interpreter_exit(live: LiveServer) -> None:
    done = _run_script(
        live,
        """
        s = connect("contoso.onmicrosoft.com", Cred(), URL, ca_file=CA)
        s.invoke("Get-Mailbox", ResultSize=1)
        t = connect("fabrikam.onmicrosoft.com", Cred(), URL, ca_file=CA)
        print("open", flush=True)
        """,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "open"
    assert live.open_sessions() == 0


def test_async_sessions_left_open_after_asyncio_run_are_closed_at_exit(live: LiveServer) -> None:
    done = _run_script(
        live,
        """
        async def main():
            s = await open_session(URL, Cred(), "contoso.onmicrosoft.com", ca_file=CA)
            await s.invoke("Get-Mailbox", ResultSize=1)
            print("open", flush=True)

        asyncio.run(main())
        """,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "open"
    assert live.open_sessions() == 0


def test_closed_session_refuses_to_invoke(live: LiveServer) -> None:
    s = _connect(live)
    s.close()
    with pytest.raises(ConnectError):
        s.invoke("Get-Mailbox")


def test_an_endpoint_with_credentials_in_it_is_refused() -> None:
    from aobo.toolkit.errors import ConnectError
    from aobo.toolkit.session import endpoint_url

    with pytest.raises(ConnectError, match="must not carry a user name or password"):
        endpoint_url("https://admin:secret@host:8443/powershell-liveid", "contoso.onmicrosoft.com")


def test_run_sync_works_from_inside_a_running_event_loop() -> None:
    import asyncio

    from aobo.toolkit.session import run_sync

    async def notebook_cell() -> int:
        return run_sync(asyncio.sleep(0, result=7))  # asyncio.run would refuse here

    assert run_sync(asyncio.sleep(0, result=3)) == 3
    assert asyncio.run(notebook_cell()) == 7
