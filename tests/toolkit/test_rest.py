"""The REST session against an in-process service that follows InvokeCommand's contract: URLs,
headers, paging, errors, retries, token refresh on 401, and secrets kept out of sight."""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from aobo.toolkit.auth import DEFAULT_AUTHORITY, AccessToken, AppCredential, DeviceCode, TokenProvider
from aobo.toolkit.credential import Credential
from aobo.toolkit.errors import AuthError, CommandError, ConnectError, TransientError
from aobo.toolkit.grammar import parse
from aobo.toolkit.records import Record
from aobo.toolkit.rest import RestConnector, RestOpener, RestSession, is_read_only, retry_after
from aobo.toolkit.restwire import (
    DEFAULT_REST_URI,
    anchor_mailbox,
    invoke_url,
    module_file_url,
    request_body,
    rest_base,
)
from aobo.toolkit.session import _call, _LoopThread
from tests.toolkit.rest_fake import NOT_FOUND_ID, NOT_FOUND_TYPE, FakeExchange, FakeTokens

CONTOSO = "contoso.onmicrosoft.com"
FABRIKAM = "fabrikam.onmicrosoft.com"
PARTNER = "admin@northwindit.onmicrosoft.com"
SYSTEM_ANCHOR = "APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@"


class Sleeps(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


class BreakingTransport(httpx.AsyncBaseTransport):
    """Fails the first ``breaks`` requests with ``error`` (after they were sent), then serves."""

    def __init__(self, inner: httpx.AsyncBaseTransport, error: type[Exception], breaks: int) -> None:
        self.inner, self.error, self.breaks, self.calls = inner, error, breaks, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.calls <= self.breaks:
            raise self.error("connection broke", request=request)  # type: ignore[call-arg]
        return await self.inner.handle_async_request(request)


def make(
    fake: FakeExchange,
    tokens: Any = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    sleeps: Sleeps | None = None,
    **options: Any,
) -> RestConnector:
    return RestConnector(
        tokens or FakeTokens(),
        http_transport=transport or httpx.ASGITransport(app=fake.app()),
        sleep=sleeps if sleeps is not None else Sleeps(),
        **options,
    )


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def invoke(connector: RestConnector, org: str | None, command: Any, **params: Any) -> Any:
    session = await connector.open(org)
    try:
        return await session.invoke(command, **params)
    finally:
        await session.close()
        await connector.aclose()


# ------------------------------------------------------------------------------------------------ URLs


def test_endpoints_default_to_microsofts() -> None:
    assert rest_base(None) == DEFAULT_REST_URI == "https://outlook.office365.com"
    assert invoke_url(rest_base(None), CONTOSO) == (
        "https://outlook.office365.com/adminapi/beta/contoso.onmicrosoft.com/InvokeCommand"
    )
    provider = TokenProvider(Credential(PARTNER, "x"))
    try:
        assert provider.authority == DEFAULT_AUTHORITY
        assert provider.authority_for(CONTOSO) == "https://login.microsoftonline.com/contoso.onmicrosoft.com"
        assert provider.client_id == "fb78d390-0c51-40cd-8e17-fdbfab77341b"
        assert provider.scopes == ["https://outlook.office365.com/.default"]
    finally:
        provider.close()


def test_uri_and_authority_point_at_this_service() -> None:
    assert rest_base("https://localhost:8443") == "https://localhost:8443"
    # A profile written for remote PowerShell works for REST too.
    assert rest_base("https://localhost:8443/powershell-liveid") == "https://localhost:8443"
    assert rest_base("https://localhost:8443/PowerShell-LiveID/") == "https://localhost:8443"
    assert invoke_url("https://localhost:8443", CONTOSO, "v1.0") == (
        "https://localhost:8443/adminapi/v1.0/contoso.onmicrosoft.com/InvokeCommand"
    )
    assert module_file_url("https://localhost:8443", CONTOSO) == (
        "https://localhost:8443/adminapi/v1.0/contoso.onmicrosoft.com/EXOModuleFile?Version=3.7.0"
    )
    provider = TokenProvider(Credential(PARTNER, "x"), authority="https://localhost:8443/")
    try:
        assert provider.authority_for(FABRIKAM) == "https://localhost:8443/fabrikam.onmicrosoft.com"
    finally:
        provider.close()
    with pytest.raises(ConnectError, match="not an http"):
        rest_base("ftp://x")
    with pytest.raises(ConnectError, match="user name or password"):
        rest_base("https://u:p@host")


def test_anchor_mailbox_for_users_apps_and_partners() -> None:
    assert anchor_mailbox(CONTOSO, username="admin@contoso.onmicrosoft.com", home_tenant=CONTOSO) == (
        "UPN:admin@contoso.onmicrosoft.com"
    )
    assert anchor_mailbox(CONTOSO, username=PARTNER, home_tenant="northwindit.onmicrosoft.com") == (
        SYSTEM_ANCHOR + CONTOSO
    )
    assert anchor_mailbox(CONTOSO, username=None, home_tenant=None) == SYSTEM_ANCHOR + CONTOSO


def test_request_body_from_the_command_line_grammar() -> None:
    (command,) = parse(
        "Set-Mailbox jdoe -HiddenFromAddressListsEnabled $true -EmailAddresses @{Add='smtp:j@contoso.com'} -Force"
    )
    assert request_body(command.name, list(command.parameters)) == {
        "CmdletInput": {
            "CmdletName": "Set-Mailbox",
            "Parameters": {
                "Identity": "jdoe",
                "HiddenFromAddressListsEnabled": True,
                "EmailAddresses": {"Add": "smtp:j@contoso.com"},
                "Force": True,
            },
        }
    }


def test_retry_after_seconds_dates_and_cap() -> None:
    def response(value: str | None) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": value} if value else {})

    assert retry_after(response("7"), default=1, cap=60) == 7
    assert retry_after(response("3600"), default=1, cap=60) == 60
    assert retry_after(response(None), default=1.5, cap=60) == 1.5
    assert retry_after(response("Thu, 01 Jan 2026 00:00:30 GMT"), default=1, cap=60, now=lambda: 1767225600.0) == 30
    assert retry_after(response("soon"), default=2, cap=60) == 2
    assert is_read_only("Get-Mailbox") and is_read_only("test-MapiConnectivity")
    assert not is_read_only("Set-Mailbox") and not is_read_only("Remove-Mailbox")


# ------------------------------------------------------------------------------------------------ calls


def test_invoke_sends_the_documented_request() -> None:
    fake = FakeExchange()
    result = run(invoke(make(fake), CONTOSO, "Get-Mailbox", Identity="user0007"))
    assert [r.Name for r in result] == ["user0007"]
    (seen,) = fake.seen
    assert seen.method == "POST"
    assert seen.url == "https://outlook.office365.com/adminapi/beta/contoso.onmicrosoft.com/InvokeCommand"
    assert seen.body == {"CmdletInput": {"CmdletName": "Get-Mailbox", "Parameters": {"Identity": "user0007"}}}
    headers = seen.headers
    assert headers["authorization"] == "Bearer token-1"
    assert headers["x-anchormailbox"] == SYSTEM_ANCHOR + CONTOSO  # a partner has no mailbox in the customer
    assert headers["x-cmdletname"] == "Get-Mailbox"
    assert headers["x-clientapplication"] == "ExoManagementModule"
    assert headers["accept"] == "application/json"
    assert headers["prefer"] == "odata.maxpagesize=1000"
    assert headers["client-request-id"] and headers["connection-id"]


def test_own_tenant_is_anchored_on_the_user() -> None:
    fake = FakeExchange(tenants={"northwindit.onmicrosoft.com": 3})
    run(invoke(make(fake), None, "Get-Mailbox"))
    assert fake.seen[0].url.endswith("/adminapi/beta/northwindit.onmicrosoft.com/InvokeCommand")
    assert fake.seen[0].headers["x-anchormailbox"] == f"UPN:{PARTNER}"


def test_records_keep_wire_order_types_and_dates() -> None:
    result = run(invoke(make(FakeExchange()), CONTOSO, "Get-Mailbox", Identity="user0001"))
    (mailbox,) = result
    assert isinstance(mailbox, Record)
    assert list(mailbox) == [
        "Identity",
        "Name",
        "DisplayName",
        "PrimarySmtpAddress",
        "RecipientTypeDetails",
        "WhenCreated",
        "EmailAddresses",
    ]
    assert mailbox.type_name == "Exchange.Mailbox"
    assert mailbox["primarysmtpaddress"] == "user0001@contoso.onmicrosoft.com"
    assert mailbox.WhenCreated == datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    assert str(mailbox) == "user0001"


def test_paging_follows_next_link_with_the_same_body_exactly_once() -> None:
    fake = FakeExchange(tenants={FABRIKAM: 2500})
    connector = make(fake)

    async def pages() -> list[list[Any]]:
        session = await connector.open(FABRIKAM)
        stream = session.stream("Get-Mailbox -ResultSize Unlimited")
        out = []
        while (batch := await stream.next_batch()) is not None:
            out.append(batch)
        assert stream.state == "Completed"
        await connector.aclose()
        return out

    batches = run(pages())
    assert [len(b) for b in batches] == [1000, 1000, 500]
    names = [r.Name for b in batches for r in b]
    assert len(names) == len(set(names)) == 2500
    assert [s.method for s in fake.seen] == ["POST"] * 3
    assert all(s.body == fake.seen[0].body for s in fake.seen)
    assert "skiptoken=1000" in fake.seen[1].url


def test_warnings_are_collected_not_output() -> None:
    result = run(invoke(make(FakeExchange()), CONTOSO, "Get-Mailbox", ResultSize=5))
    assert len(result) == 5
    assert result.warnings == [
        "There are more results available than are currently displayed. To view them, increase the value for "
        "the ResultSize parameter."
    ]


def test_an_exchange_error_is_a_command_error_and_the_session_goes_on() -> None:
    connector = make(FakeExchange())

    async def scenario() -> tuple[CommandError, Any]:
        session = await connector.open(CONTOSO)
        with pytest.raises(CommandError) as caught:
            await session.invoke("Get-Mailbox", Identity="nobody@contoso.com")
        after = await session.invoke("Get-Mailbox", Identity="user0002")
        await connector.aclose()
        return caught.value, after

    error, after = run(scenario())
    assert error.message == (
        "The operation couldn't be performed because object 'nobody@contoso.com' couldn't be found on "
        "'EXHV-1242.EXHV-1242dom.extest.microsoft.com'."
    )
    assert error.fully_qualified_error_id == f"{NOT_FOUND_ID},{NOT_FOUND_TYPE}"
    assert error.exception_type == NOT_FOUND_TYPE
    assert error.reason == "ManagementObjectNotFoundException"
    assert error.activity == "Get-Mailbox" and error.terminating
    assert [r.Name for r in after] == ["user0002"]


def test_unknown_cmdlet_and_not_a_customer() -> None:
    fake = FakeExchange()
    with pytest.raises(CommandError, match="'Get-Nothing' is not recognized"):
        run(invoke(make(fake), CONTOSO, "Get-Nothing"))
    with pytest.raises(AuthError, match="isn't allowed in woodgrove"):
        run(invoke(make(fake), "woodgrove.onmicrosoft.com", "Get-Mailbox"))


def test_a_pipeline_is_refused_before_anything_is_sent() -> None:
    fake = FakeExchange()
    with pytest.raises(CommandError, match="one cmdlet per request") as caught:
        run(invoke(make(fake), CONTOSO, "Get-Mailbox | Set-Mailbox -HiddenFromAddressListsEnabled $true"))
    assert caught.value.fully_qualified_error_id == "PipelineNotSupportedOverRest"
    assert fake.seen == []


def test_a_next_link_to_another_host_is_not_followed() -> None:
    fake = FakeExchange(tenants={FABRIKAM: 1500}, next_link_host="evil.example.net")
    with pytest.raises(ConnectError, match="points elsewhere"):
        run(invoke(make(fake), FABRIKAM, "Get-Mailbox", ResultSize="Unlimited"))
    assert len(fake.seen) == 1  # the token never went to the other host


# ------------------------------------------------------------------------------------------------ retries


def test_429_and_503_are_retried_after_retry_after() -> None:
    fake = FakeExchange(failures=[(429, "2"), (503, "5"), (429, None)])
    sleeps = Sleeps()
    result = run(invoke(make(fake, sleeps=sleeps), CONTOSO, "Set-Mailbox", Identity="user0001"))
    assert result.output == []
    assert sleeps[:2] == [2.0, 5.0] and len(sleeps) == 3 and 0 <= sleeps[2] <= 60
    assert fake.modified == ["user0001"]  # throttled requests were not run: the write happened once


def test_retry_after_is_capped_and_attempts_are_bounded() -> None:
    fake = FakeExchange(failures=[(429, "86400")] * 5)
    sleeps = Sleeps()
    with pytest.raises(TransientError, match="HTTP 429"):
        run(invoke(make(fake, sleeps=sleeps, max_attempts=3, max_retry_after=30), CONTOSO, "Get-Mailbox"))
    assert sleeps == [30.0, 30.0]
    assert len(fake.seen) == 3


def test_a_read_is_sent_again_after_a_broken_connection_a_write_is_not() -> None:
    fake = FakeExchange()
    inner = httpx.ASGITransport(app=fake.app())
    reads = BreakingTransport(inner, httpx.ReadError, breaks=2)
    result = run(invoke(make(fake, transport=reads), CONTOSO, "Get-Mailbox", Identity="user0003"))
    assert [r.Name for r in result] == ["user0003"] and reads.calls == 3

    writes = BreakingTransport(inner, httpx.ReadError, breaks=1)
    with pytest.raises(ConnectError, match="may have been applied, so it is not sent again"):
        run(invoke(make(fake, transport=writes), CONTOSO, "Set-Mailbox", Identity="user0003"))
    assert writes.calls == 1

    # A connection that was never made is safe to retry for a write too.
    refused = BreakingTransport(inner, httpx.ConnectError, breaks=1)
    run(invoke(make(fake, transport=refused), CONTOSO, "Set-Mailbox", Identity="user0004"))
    assert refused.calls == 2 and fake.modified == ["user0004"]


class LosingTransport(httpx.AsyncBaseTransport):
    """Serves every request, but loses the answer to request number ``lose`` (the service did read it)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, lose: int, error: type[Exception] = httpx.ReadError) -> None:
        self.inner, self.lose, self.error, self.calls = inner, lose, error, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        response = await self.inner.handle_async_request(request)
        if self.calls == self.lose:
            await response.aclose()
            raise self.error("connection broke", request=request)  # type: ignore[call-arg]
        return response


@pytest.mark.parametrize("error", [httpx.ReadError, httpx.ReadTimeout, httpx.RemoteProtocolError])
def test_a_next_page_is_not_asked_for_again_after_a_broken_connection(error: type[Exception]) -> None:
    fake = FakeExchange(tenants={FABRIKAM: 2500})
    losing = LosingTransport(httpx.ASGITransport(app=fake.app()), lose=2, error=error)
    connector = make(fake, transport=losing)

    async def pages() -> tuple[list[list[Any]], Any]:
        session = await connector.open(FABRIKAM)
        stream = session.stream("Get-Mailbox -ResultSize Unlimited")
        out = []
        try:
            with pytest.raises(TransientError, match="interrupted") as caught:
                while (batch := await stream.next_batch()) is not None:
                    out.append(batch)
        finally:
            await connector.aclose()
        return out, caught.value

    batches, failure = run(pages())
    assert [len(b) for b in batches] == [1000]
    # The consumed $skiptoken was not sent a second time.
    assert losing.calls == 2 and len(fake.seen) == 2 and "skiptoken=1000" in fake.seen[1].url
    assert "Run the command again" in str(failure)

    # The first page of a read is still retried (no cursor to lose yet).
    first = LosingTransport(httpx.ASGITransport(app=fake.app()), lose=1, error=error)
    result = run(invoke(make(fake, transport=first), FABRIKAM, "Get-Mailbox", Identity="user0003"))
    assert [r.Name for r in result] == ["user0003"] and first.calls == 2


def test_401_refreshes_the_token_once_and_retries() -> None:
    fake = FakeExchange(accepted_tokens={"token-2"})
    tokens = FakeTokens()
    result = run(invoke(make(fake, tokens), CONTOSO, "Get-Mailbox", Identity="user0005"))
    assert [r.Name for r in result] == ["user0005"]
    assert tokens.forced == 1
    assert [s.headers["authorization"] for s in fake.seen] == ["Bearer token-1", "Bearer token-2"]


def test_a_second_401_is_access_denied() -> None:
    fake = FakeExchange(accepted_tokens=set())
    tokens = FakeTokens()
    with pytest.raises(AuthError, match=r"^Access is denied\.$"):
        run(invoke(make(fake, tokens), CONTOSO, "Get-Mailbox"))
    assert tokens.forced == 1 and len(fake.seen) == 2


# ------------------------------------------------------------------------------------------------ facades


@pytest.fixture
def sync_session() -> Iterator[tuple[RestSession, FakeExchange]]:
    fake = FakeExchange(tenants={FABRIKAM: 1500})
    connector = make(fake)
    loop = _LoopThread.loop()
    session = RestSession(_call(loop, connector.open(FABRIKAM), lambda: None), loop)  # type: ignore[arg-type]
    with session:
        yield session, fake
    _call(loop, connector.aclose(), lambda: None)


def test_sync_facade_invoke_stream_and_close(sync_session: tuple[RestSession, FakeExchange]) -> None:
    session, fake = sync_session
    assert session.transport == "rest" and session.org == FABRIKAM
    assert len(session.invoke("Get-Mailbox -ResultSize Unlimited")) == 1500
    with session.stream("Get-Mailbox", ResultSize="Unlimited") as stream:
        first = [next(stream) for _ in range(3)]
    assert [r.Name for r in first] == ["user0000", "user0001", "user0002"]
    assert len(fake.seen) == 3  # two pages for invoke; leaving the stream early fetched no second page
    ex = session.import_commands()
    assert ex.names == ["Get-Mailbox", "Get-MailboxStatistics", "Set-Mailbox"]
    assert [r.Name for r in ex.get_mailbox("user0009")] == ["user0009"]
    session.close()
    session.close()  # idempotent
    with pytest.raises(ConnectError, match="closed"):
        session.invoke("Get-Mailbox")


def test_fanout_over_rest_with_one_connector_per_account(tmp_path: Any) -> None:
    from aobo.toolkit.fanout import run_command_async

    fake = FakeExchange(tenants={CONTOSO: 40, FABRIKAM: 1500, "tailspintoys.onmicrosoft.com": 10})
    opener = RestOpener(http_transport=httpx.ASGITransport(app=fake.app()), sleep=Sleeps())
    tokens = FakeTokens()
    out = tmp_path / "mailboxes.csv"
    summary = run(
        run_command_async(
            [parse("Get-Mailbox -ResultSize Unlimited")],
            [CONTOSO, FABRIKAM, "tailspintoys.onmicrosoft.com", "woodgrove.onmicrosoft.com"],
            tokens,  # a provider is used as it is: one sign-in for every tenant
            uri=None,
            out=out,
            opener=opener,
            per_account_limit=16,
            fsync=False,
        )
    )
    assert {r.tenant: r.status for r in summary.results} == {
        CONTOSO: "ok",
        FABRIKAM: "ok",
        "tailspintoys.onmicrosoft.com": "ok",
        "woodgrove.onmicrosoft.com": "failed",
    }
    assert summary.rows == 1550
    assert out.read_text().count("\n") == 1551
    assert opener._connectors == {}  # closed at the end of the run


# ------------------------------------------------------------------------------------------------ secrets


def test_secrets_stay_out_of_reprs_errors_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    app = AppCredential("11111111-2222-3333-4444-555555555555", secret="s3cr3t-value")
    assert "s3cr3t" not in repr(app) and "s3cr3t" not in str(app)
    with pytest.raises(TypeError):
        __import__("pickle").dumps(app)
    token = AccessToken("eyJ.secret-token.sig", expires_at=10.0)
    assert "secret-token" not in repr(token)
    provider = TokenProvider(Credential(PARTNER, "P@ssw0rd-x"))
    assert "P@ssw0rd" not in repr(provider)
    provider.close()
    assert "DeviceCode" in repr(DeviceCode())

    fake = FakeExchange(accepted_tokens={"token-2"})
    caplog.set_level(logging.DEBUG)
    with pytest.raises(CommandError) as caught:
        run(invoke(make(fake, FakeTokens(first="token-1")), CONTOSO, "Get-Mailbox", Identity="nobody"))
    assert "token-" not in str(caught.value) and "token-" not in repr(caught.value)
    assert "Bearer" not in caplog.text and "token-1" not in caplog.text and "token-2" not in caplog.text
    # The request's locals hold the token only inside a masked auth object.
    from aobo.toolkit.rest import BearerAuth

    assert "token-9" not in repr(BearerAuth("token-9")) and "token-9" not in str(vars(BearerAuth("token-9")))


def test_app_credential_needs_exactly_one_secret() -> None:
    from aobo.toolkit.auth import AuthConfigError

    with pytest.raises(AuthConfigError, match="a client secret or a certificate"):
        AppCredential("app")
    with pytest.raises(AuthConfigError, match="AOBO_CLIENT_SECRET"):
        AppCredential.from_env("app", environ={})
    assert AppCredential.from_env("app", environ={"AOBO_CLIENT_SECRET": "x"}).kind == "secret"
