"""Malformed, hostile and unsupported requests against the real server, below pypsrp.

Every bad request must get the exact answer a WinRM client expects (HTTP 500 with a SOAP fault
whose ``WSManFault/@Code`` and ``s:Subcode`` say what was wrong, ``a:RelatesTo`` echoing the
request's MessageID when one could be read; 401 for authentication; 404/405 for HTTP misuse) and
must leave the server serving: a session opened before the bad request still runs
``Get-Mailbox -ResultSize 1`` after it, and a new pypsrp session opens and runs it too.

Envelopes are built by hand (``tests/e2e/wsman_raw.py``) with psrpcore producing the PSRP bytes.
The accounts are the demo customers' own admins, so the partner accounts that the other e2e tests
count sessions of are never touched.
"""

from __future__ import annotations

import base64
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from pypsrp.powershell import PowerShell, RunspacePool

from aobo.domain.seed import ORG_MANAGEMENT
from aobo.frontends.wsman import namespaces as ns
from aobo.frontends.wsman.faults import FaultCode
from tests.e2e import wsman_raw as raw
from tests.e2e.helpers import Endpoint
from tests.e2e.wsman_raw import q

ACCOUNT = "admin@fabrikam.onmicrosoft.com"  # sends the bad requests and owns the hand-driven shells
BYSTANDER = "admin@tailspintoys.onmicrosoft.com"  # has a pypsrp session open across each bad request
NEWCOMER = "admin@contoso.onmicrosoft.com"  # opens a fresh pypsrp session after each bad request
TOKEN_USER = "oauthuser@woodgrove.onmicrosoft.com"  # created here, with an 8 KB "Bearer ..." password
TOKEN_PASSWORD = "Bearer " + "".join(chr(0x61 + i * 7 % 26) for i in range(8192 - 7))

UNEXPECTED_SELECTORS = "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/UnexpectedSelectors"
CONFIG_RESOURCE = "http://schemas.microsoft.com/wbem/wsman/1/config"
CMD_RESOURCE = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"
LZNT1 = '<rsp:CompressionType s:mustUnderstand="true">lznt1</rsp:CompressionType>'

BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE s:Envelope [<!ENTITY a "lollollollollollollollollollol">'
    + b"".join(f'<!ENTITY {chr(0x62 + i)} "{("&" + chr(0x61 + i) + ";") * 10}">'.encode() for i in range(9))
    + b']><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header>'
    + b'<a:MessageID xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing">uuid:&j;</a:MessageID>'
    + b"</s:Header><s:Body>&j;</s:Body></s:Envelope>"
)
XXE = (
    b'<?xml version="1.0"?><!DOCTYPE s:Envelope [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header>'
    b'<a:Action xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing">&xxe;</a:Action>'
    b'<a:MessageID xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing">uuid:1</a:MessageID>'
    b"</s:Header><s:Body>&xxe;</s:Body></s:Envelope>"
)
SOAP_11 = (
    b'<?xml version="1.0"?><e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Header>'
    b'<a:MessageID xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing">uuid:1</a:MessageID>'
    b"</e:Header><e:Body/></e:Envelope>"
)


def verify_for(endpoint: Endpoint) -> Any:
    ca_file = endpoint.server.ca_file
    return ssl.create_default_context(cafile=str(ca_file)) if ca_file else True


def run_get_mailbox(pool: RunspacePool) -> None:
    ps = PowerShell(pool)
    ps.add_cmdlet("Get-Mailbox").add_parameter("ResultSize", 1)
    ps.invoke()
    assert not ps.had_errors, [str(e) for e in ps.streams.error]
    assert len(ps.output) == 1


class Guard:
    """A session opened before the bad request; :meth:`check` proves the server still serves."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.pool = endpoint.open_pool(BYSTANDER, None)

    def check(self) -> None:
        run_get_mailbox(self.pool)
        with self.endpoint.pool(NEWCOMER, None) as pool:
            run_get_mailbox(pool)


@pytest.fixture
def guard(rps: Endpoint) -> Iterator[Guard]:
    g = Guard(rps)
    try:
        yield g
    finally:
        g.pool.close()


@pytest.fixture
def client(rps: Endpoint) -> Iterator[raw.RawClient]:
    with raw.RawClient(rps.server.url, ACCOUNT, rps.password, verify=verify_for(rps)) as c:
        yield c
    assert rps.open_sessions(ACCOUNT) == 0, "a test left a shell open"


# --------------------------------------------------------------------------------------- cases


@dataclass
class Ctx:
    """What a case builds its request from: a fresh MessageID and, if it asked, a live shell."""

    message_id: str
    shell_id: str
    psrp: raw.PsrpClient

    def pipeline_arguments(self, *, no_input: bool = True) -> bytes:
        _, arguments = self.psrp.powershell("Get-Mailbox", no_input=no_input, ResultSize=1)
        return arguments

    def on_shell(self, action: str, body: str = "", **kwargs: Any) -> bytes:
        return raw.envelope(action, body, message_id=self.message_id, shell_id=self.shell_id, **kwargs)

    def create(self, creation: bytes | str | None = None, **kwargs: Any) -> bytes:
        if creation is None:
            creation = raw.PsrpClient().creation_xml()
        return raw.create_envelope(creation, message_id=self.message_id, **kwargs)


@dataclass(frozen=True)
class Case:
    build: Callable[[Ctx], bytes]
    code: FaultCode
    subcode: str
    relates: bool = True  # a:RelatesTo must echo the MessageID (False: there is none to echo)
    sender: bool = True
    detail: str | None = None
    shell: bool = False  # the request goes to a live shell of ACCOUNT, which must still work afterwards


UNKNOWN = str(uuid.UUID(int=0x5EED)).upper()


def unknown_shell(action: str, body: str) -> Case:
    return Case(
        lambda c: raw.envelope(action, body, message_id=c.message_id, shell_id=UNKNOWN),
        FaultCode.UNEXPECTED_SELECTORS,
        "w:InvalidSelectors",
        detail=UNEXPECTED_SELECTORS,
    )


def unknown_command(action: str, body: str) -> Case:
    return Case(
        lambda c: c.on_shell(action, body),
        FaultCode.UNEXPECTED_SELECTORS,
        "w:InvalidSelectors",
        detail=UNEXPECTED_SELECTORS,
        shell=True,
    )


CASES: dict[str, Case] = {
    # --- not a WS-Man request at all
    "not-xml": Case(lambda c: b"this is not XML", FaultCode.INVALID_XML, "w:SchemaValidationError", relates=False),
    "empty-body": Case(lambda c: b"", FaultCode.INVALID_XML, "w:SchemaValidationError", relates=False),
    "xml-not-soap-1.2": Case(lambda c: SOAP_11, FaultCode.INVALID_SOAP_BODY, "w:SchemaValidationError", relates=False),
    "no-action": Case(
        lambda c: raw.envelope(None, raw.receive_body(), message_id=c.message_id, shell_id=UNKNOWN),
        FaultCode.INVALID_HEADER,
        "w:InvalidHeader",
    ),
    "no-message-id": Case(
        lambda c: raw.envelope(ns.ACTION_RECEIVE, raw.receive_body(), shell_id=UNKNOWN, omit_message_id=True),
        FaultCode.INVALID_HEADER,
        "w:InvalidHeader",
        relates=False,
    ),
    "billion-laughs": Case(lambda c: BILLION_LAUGHS, FaultCode.INVALID_XML, "w:SchemaValidationError", relates=False),
    "external-entity": Case(lambda c: XXE, FaultCode.INVALID_XML, "w:SchemaValidationError", relates=False),
    # --- bad headers
    "max-envelope-size-8191": Case(
        lambda c: c.create(max_envelope_size=8191), FaultCode.ENCODING_LIMIT, "w:EncodingLimit"
    ),
    "operation-timeout-garbage": Case(
        lambda c: c.create(operation_timeout="soon"), FaultCode.INVALID_SOAP_BODY, "w:SchemaValidationError"
    ),
    "unknown-action": Case(
        lambda c: c.on_shell("http://schemas.example.com/Frobnicate"),
        FaultCode.ACTION_NOT_SUPPORTED,
        "a:ActionNotSupported",
        shell=True,
    ),
    "unknown-action-no-shell": Case(
        lambda c: raw.envelope("http://schemas.example.com/Frobnicate", message_id=c.message_id),
        FaultCode.ACTION_NOT_SUPPORTED,
        "a:ActionNotSupported",
    ),
    "put": Case(
        lambda c: c.on_shell(ns.ACTION_PUT, resource_uri=raw.SHELL_RESOURCE),
        FaultCode.ACTION_NOT_SUPPORTED,
        "a:ActionNotSupported",
        shell=True,
    ),
    "get-wsman-config": Case(
        lambda c: raw.envelope(ns.ACTION_GET, message_id=c.message_id, resource_uri=CONFIG_RESOURCE),
        FaultCode.ACTION_NOT_SUPPORTED,
        "a:ActionNotSupported",
    ),
    # --- Create
    "create-bad-base64": Case(
        lambda c: c.create("!!not*base64!!"), FaultCode.INVALID_SOAP_BODY, "w:SchemaValidationError"
    ),
    "create-truncated-fragment": Case(
        lambda c: c.create(raw.PsrpClient().creation_xml()[:-40]),
        FaultCode.INVALID_SOAP_BODY,
        "w:SchemaValidationError",
    ),
    "create-truncated-fragment-header": Case(
        lambda c: c.create(raw.PsrpClient().creation_xml()[:12]),
        FaultCode.INVALID_SOAP_BODY,
        "w:SchemaValidationError",
    ),
    "create-without-creation-xml": Case(
        lambda c: raw.envelope(
            ns.ACTION_CREATE,
            "<rsp:Shell><rsp:InputStreams>stdin pr</rsp:InputStreams></rsp:Shell>",
            message_id=c.message_id,
            options={"protocolversion": "2.3"},
        ),
        FaultCode.INVALID_SOAP_BODY,
        "w:SchemaValidationError",
    ),
    "create-shell-id-not-a-guid": Case(
        lambda c: c.create(shell_id="not-a-guid"), FaultCode.INVALID_SOAP_BODY, "w:SchemaValidationError"
    ),
    "create-microsoft-powershell": Case(
        lambda c: c.create(resource_uri="http://schemas.microsoft.com/powershell/Microsoft.PowerShell"),
        FaultCode.INVALID_RESOURCE_URI,
        "w:InvalidResourceURI",
    ),
    "create-cmd-shell": Case(
        lambda c: c.create(resource_uri=CMD_RESOURCE), FaultCode.INVALID_RESOURCE_URI, "w:DestinationUnreachable"
    ),
    "create-without-protocolversion": Case(
        lambda c: c.create(options={}), FaultCode.INVALID_OPTIONS, "w:InvalidOptions"
    ),
    "create-protocolversion-3.0": Case(
        lambda c: c.create(options={"protocolversion": "3.0"}), FaultCode.INVALID_OPTIONS, "w:InvalidOptions"
    ),
    "create-unknown-compression": Case(
        lambda c: c.create(extra_headers=LZNT1), FaultCode.INVALID_OPTIONS, "w:InvalidOptions"
    ),
    # --- Command / Send on a live shell
    "command-bad-base64": Case(
        lambda c: c.on_shell(ns.ACTION_COMMAND, raw.command_body("@@@", UNKNOWN)),
        FaultCode.INVALID_SOAP_BODY,
        "w:SchemaValidationError",
        shell=True,
    ),
    "command-arguments-under-61-bytes": Case(
        lambda c: c.on_shell(ns.ACTION_COMMAND, raw.command_body(raw.b64(c.pipeline_arguments()[:60]), UNKNOWN)),
        FaultCode.INVALID_SOAP_BODY,
        "w:SchemaValidationError",
        shell=True,
    ),
    "command-truncated-fragment": Case(
        lambda c: c.on_shell(ns.ACTION_COMMAND, raw.command_body(raw.b64(c.pipeline_arguments()[:-40]), UNKNOWN)),
        FaultCode.INVALID_SOAP_BODY,
        "w:SchemaValidationError",
        shell=True,
    ),
    "send-bad-base64": Case(
        lambda c: c.on_shell(ns.ACTION_SEND, raw.send_body("%%%")),
        FaultCode.INVALID_SOAP_BODY,
        "w:SchemaValidationError",
        shell=True,
    ),
    "send-truncated-fragment": Case(
        lambda c: c.on_shell(ns.ACTION_SEND, raw.send_body(raw.b64(c.pipeline_arguments()[:-40]))),
        FaultCode.INVALID_SOAP_BODY,
        "w:SchemaValidationError",
        shell=True,
    ),
    "send-partial-fragment-header": Case(
        lambda c: c.on_shell(ns.ACTION_SEND, raw.send_body(raw.b64(b"0123456789"))),
        FaultCode.INVALID_SOAP_BODY,
        "w:SchemaValidationError",
        shell=True,
    ),
    # --- selectors that match nothing
    "receive-unknown-shell": unknown_shell(ns.ACTION_RECEIVE, raw.receive_body()),
    "send-unknown-shell": unknown_shell(ns.ACTION_SEND, raw.send_body(raw.b64(b"x"))),
    "signal-unknown-shell": unknown_shell(ns.ACTION_SIGNAL, raw.signal_body(UNKNOWN, raw.SIGNAL_TERMINATE)),
    "delete-unknown-shell": unknown_shell(ns.ACTION_DELETE, ""),
    "command-unknown-shell": unknown_shell(ns.ACTION_COMMAND, raw.command_body(raw.b64(b"x" * 80), UNKNOWN)),
    "get-unknown-shell": unknown_shell(ns.ACTION_GET, ""),
    "receive-unknown-command": unknown_command(ns.ACTION_RECEIVE, raw.receive_body(UNKNOWN)),
    "send-unknown-command": unknown_command(ns.ACTION_SEND, raw.send_body(raw.b64(b"x"), UNKNOWN)),
    "signal-terminate-unknown-command": unknown_command(
        ns.ACTION_SIGNAL, raw.signal_body(UNKNOWN, raw.SIGNAL_TERMINATE)
    ),
    "signal-ctrl-c-unknown-command": unknown_command(ns.ACTION_SIGNAL, raw.signal_body(UNKNOWN, raw.SIGNAL_CTRL_C)),
}


def case_params() -> list[Any]:
    return [pytest.param(name, id=name) for name in CASES]


def post_case(
    client: raw.RawClient, case: Case, shell: tuple[str, raw.PsrpClient] | None
) -> tuple[Ctx, httpx.Response]:
    shell_id, psrp = shell if shell else (UNKNOWN, raw.PsrpClient())
    ctx = Ctx(raw.new_message_id(), shell_id, psrp)
    return ctx, client.post(case.build(ctx))


# --------------------------------------------------------------------------------------- tests


@pytest.mark.parametrize("name", case_params())
def test_bad_request_gets_its_fault_and_the_server_keeps_serving(
    name: str, rps: Endpoint, client: raw.RawClient, guard: Guard
) -> None:
    case = CASES[name]
    shell = client.open_shell() if case.shell else None
    try:
        started = time.monotonic()
        ctx, response = post_case(client, case, shell)
        assert time.monotonic() - started < 3.0
        assert response.status_code == 500, response.text[:1000]
        assert response.headers["content-type"].startswith("application/soap+xml")
        assert b"root:" not in response.content  # nothing of /etc/passwd, whatever happened
        fault = raw.fault_of(response.content)
        assert fault.action == ns.ACTION_FAULT
        assert (hex(fault.code), fault.subcode) == (hex(case.code), case.subcode), fault.reason
        assert fault.value == ("s:Sender" if case.sender else "s:Receiver")
        assert fault.relates_to == (ctx.message_id if case.relates else None)
        if case.detail:
            assert fault.detail == case.detail
        guard.check()
        if shell:  # the shell the bad request went to works on as well
            events = client.run(shell[0], shell[1], "Get-Mailbox", ResultSize=1)
            assert [type(e).__name__ for e in events].count("PipelineOutputEvent") == 1
    finally:
        if shell:
            client.delete(shell[0])


def test_the_server_survives_every_bad_request_in_a_row(rps: Endpoint, client: raw.RawClient, guard: Guard) -> None:
    shell = client.open_shell()
    try:
        statuses = {name: post_case(client, case, shell)[1].status_code for name, case in CASES.items()}
    finally:
        client.delete(shell[0])
    assert set(statuses.values()) == {500}, statuses
    guard.check()
    # No failed Create kept a session slot: the account opens its three sessions and no more.
    shells = [client.open_shell() for _ in range(3)]
    try:
        response = client.post(raw.create_envelope(raw.PsrpClient().creation_xml()))
        assert response.status_code == 500
        assert raw.fault_of(response.content).subcode == "w:QuotaLimit"
        events = client.run(shells[0][0], shells[0][1], "Get-Mailbox", ResultSize=1)
        assert [type(e).__name__ for e in events].count("PipelineOutputEvent") == 1
    finally:
        for shell_id, _ in shells:
            client.delete(shell_id)


def test_billion_laughs_is_refused_before_expansion(client: raw.RawClient) -> None:
    started = time.monotonic()
    response = client.post(BILLION_LAUGHS)
    assert time.monotonic() - started < 1.0
    assert len(response.content) < 4096
    assert "DTD" in raw.fault_of(response.content).reason


@pytest.mark.parametrize("resource_uri", [raw.SHELL_RESOURCE, ns.EXCHANGE_RESOURCE_URI])
def test_get_of_a_shell_describes_it(client: raw.RawClient, resource_uri: str) -> None:
    shell_id, _ = client.open_shell()
    try:
        message_id = raw.new_message_id()
        root = client.ok(
            raw.envelope(ns.ACTION_GET, message_id=message_id, shell_id=shell_id, resource_uri=resource_uri)
        )
        assert raw.header_text(root, ns.ADDRESSING, "Action") == ns.ACTION_GET + "Response"
        assert raw.header_text(root, ns.ADDRESSING, "RelatesTo") == message_id
        shell = root.find(f"{q(ns.SOAP, 'Body')}/{q(ns.SHELL, 'Shell')}")
        assert shell is not None
        assert shell.findtext(q(ns.SHELL, "ShellId")) == shell_id
        assert shell.findtext(q(ns.SHELL, "State")) == "Connected"
        assert shell.findtext(q(ns.SHELL, "Owner")) == ACCOUNT
        assert shell.findtext(q(ns.SHELL, "ResourceUri")) == ns.EXCHANGE_RESOURCE_URI
    finally:
        client.delete(shell_id)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "HEAD"])
@pytest.mark.parametrize("authenticated", [True, False], ids=["auth", "no-auth"])
def test_methods_other_than_post_get_405(
    rps: Endpoint, client: raw.RawClient, guard: Guard, method: str, authenticated: bool
) -> None:
    response = client.http.request(
        method,
        rps.server.url,
        content=b"" if method in ("GET", "HEAD") else b"<x/>",
        auth=client.auth if authenticated else None,
    )
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    guard.check()


@pytest.mark.parametrize("path", ["/wsman", "/powershell-liveid/extra", "/", "/powershell-liveidx"])
def test_other_paths_get_404(rps: Endpoint, client: raw.RawClient, guard: Guard, path: str) -> None:
    response = client.http.post(
        rps.server.base_url + path, content=raw.envelope(ns.ACTION_DELETE, shell_id=UNKNOWN), auth=client.auth
    )
    assert response.status_code == 404
    guard.check()


def _basic(text: str) -> str:
    return "Basic " + base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Negotiate TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAKAGFKAAAADw==",
        "Bearer eyJ0eXAiOiJKV1QifQ.e30.sig",
        "Basic !!not-base64!!",
        "Basic " + base64.b64encode(b"\xff\xfe\xfd:\xff").decode(),  # not UTF-8
        _basic(f"{ACCOUNT}"),  # no colon
        _basic(":password"),  # no user name
        "Basic",
    ],
    ids=["none", "negotiate", "bearer-scheme", "bad-base64", "not-utf8", "no-colon", "no-user", "empty"],
)
def test_unusable_authorization_gets_401_basic(
    rps: Endpoint, client: raw.RawClient, guard: Guard, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = client.post(raw.create_envelope(raw.PsrpClient().creation_xml()), auth=None, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Basic")
    assert response.content == b""
    guard.check()


def test_an_8kb_basic_password_is_accepted_and_checked(rps: Endpoint, guard: Guard) -> None:
    # OAuth tokens arrive as Basic passwords of several kilobytes ("Bearer <token>").
    if rps.store.find_user(TOKEN_USER) is None:
        woodgrove = rps.store.resolve_tenant("woodgrove.onmicrosoft.com")
        rps.store.create_user(woodgrove.id, TOKEN_USER, "OAuth User", TOKEN_PASSWORD, role_groups=(ORG_MANAGEMENT,))
    assert len(_basic(f"{TOKEN_USER}:{TOKEN_PASSWORD}")) > 8192
    wrong = TOKEN_PASSWORD[:-1] + "!"
    with raw.RawClient(rps.server.url, TOKEN_USER, wrong, verify=verify_for(rps)) as c:
        response = c.post(raw.create_envelope(raw.PsrpClient().creation_xml()))
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Basic")
        # Far beyond any token: refused without looking the account up.
        response = c.post(raw.create_envelope(raw.PsrpClient().creation_xml()), auth=(TOKEN_USER, "x" * 20_000))
        assert response.status_code == 401
    with raw.RawClient(rps.server.url, TOKEN_USER, TOKEN_PASSWORD, verify=verify_for(rps)) as c:
        shell_id, _ = c.open_shell()
        assert c.delete(shell_id).status_code == 200
    guard.check()


def _raw_http(endpoint: Endpoint, head: bytes, body: bytes) -> tuple[int, dict[str, str], bytes, bool]:
    """Send bytes on a fresh connection; (status, headers, body, closed by the server afterwards)."""
    settings = endpoint.server.settings
    sock: socket.socket = socket.create_connection((settings.host, settings.port), timeout=10)
    if not settings.insecure_http:
        sock = ssl.create_default_context(cafile=str(endpoint.server.ca_file)).wrap_socket(
            sock, server_hostname=settings.host
        )
    with sock:
        sock.sendall(head + body)
        data = b""
        while b"\r\n\r\n" not in data:
            piece = sock.recv(65536)
            assert piece, "the server closed the connection without answering"
            data += piece
        header_block, _, rest = data.partition(b"\r\n\r\n")
        status_line, *lines = header_block.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            piece = sock.recv(65536)
            assert piece
            rest += piece
        sock.settimeout(3)
        try:
            closed = sock.recv(1) == b""
        except (ConnectionResetError, ssl.SSLError):
            closed = True
        except TimeoutError:
            closed = False
    return int(status_line.split()[1]), headers, rest[:length], closed


def _request_head(endpoint: Endpoint, extra: str) -> bytes:
    settings = endpoint.server.settings
    auth = base64.b64encode(f"{ACCOUNT}:{endpoint.password}".encode()).decode()
    return (
        f"POST /powershell-liveid HTTP/1.1\r\nHost: {settings.host}:{settings.port}\r\n"
        f"Authorization: Basic {auth}\r\nContent-Type: application/soap+xml;charset=UTF-8\r\n{extra}\r\n"
    ).encode()


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_request_over_max_request_size_is_refused_and_the_connection_closed(
    rps: Endpoint, guard: Guard, framing: str
) -> None:
    limit = rps.server.settings.max_request_size
    if framing == "content-length":
        # Only the headers go out: the size alone must be enough to refuse.
        head, body = _request_head(rps, f"Content-Length: {limit + 1}\r\n"), b""
    else:
        chunk = b"A" * 65536
        count = limit // len(chunk) + 1
        head = _request_head(rps, "Transfer-Encoding: chunked\r\n")
        body = (b"%x\r\n" % len(chunk) + chunk + b"\r\n") * count + b"0\r\n\r\n"
    status, headers, content, closed = _raw_http(rps, head, body)
    assert status == 500
    assert headers["connection"] == "close"
    fault = raw.fault_of(content)
    assert (fault.code, fault.subcode, fault.relates_to) == (FaultCode.ENVELOPE_TOO_LARGE, "w:EncodingLimit", None)
    assert closed
    guard.check()


def test_envelope_over_max_envelope_size_is_refused_but_the_connection_kept(
    rps: Endpoint, client: raw.RawClient, guard: Guard
) -> None:
    settings = rps.server.settings
    padding = "A" * (settings.max_envelope_size + 100 - 1000)
    body = raw.envelope(ns.ACTION_SEND, raw.send_body(padding), shell_id=UNKNOWN)
    assert settings.max_envelope_size < len(body) < settings.max_request_size
    response = client.post(body)
    assert response.status_code == 500
    assert response.headers.get("connection", "keep-alive") != "close"
    fault = raw.fault_of(response.content)
    # The envelope is refused unread, so there is no MessageID to relate to.
    assert (fault.code, fault.subcode, fault.relates_to) == (FaultCode.ENCODING_LIMIT, "w:EncodingLimit", None)
    # The same connection serves the next request.
    assert client.post(raw.envelope(ns.ACTION_DELETE, shell_id=UNKNOWN)).status_code == 500
    guard.check()


def test_a_shell_is_invisible_to_another_account(rps: Endpoint, client: raw.RawClient, guard: Guard) -> None:
    shell_id, psrp = client.open_shell()
    command_id = client.command(shell_id, psrp.powershell("Get-Mailbox", ResultSize=1)[1])
    try:
        with raw.RawClient(rps.server.url, NEWCOMER, rps.password, verify=verify_for(rps)) as other:
            requests = {
                "receive": (ns.ACTION_RECEIVE, raw.receive_body()),
                "receive-command": (ns.ACTION_RECEIVE, raw.receive_body(command_id)),
                "send": (ns.ACTION_SEND, raw.send_body(raw.b64(b"x"), command_id)),
                "signal": (ns.ACTION_SIGNAL, raw.signal_body(command_id, raw.SIGNAL_CTRL_C)),
                "command": (ns.ACTION_COMMAND, raw.command_body(raw.b64(b"x" * 80), None)),
                "get": (ns.ACTION_GET, ""),
                "delete": (ns.ACTION_DELETE, ""),
            }
            for what, (action, body) in requests.items():
                theirs = raw.fault_of(other.post(raw.envelope(action, body, shell_id=shell_id)).content)
                missing = raw.fault_of(other.post(raw.envelope(action, body, shell_id=UNKNOWN)).content)
                assert (theirs.code, theirs.subcode, theirs.detail, theirs.value) == (
                    missing.code,
                    missing.subcode,
                    missing.detail,
                    missing.value,
                ), what
                assert theirs.code == FaultCode.UNEXPECTED_SELECTORS
                assert theirs.reason.replace(shell_id, "<id>") == missing.reason.replace(UNKNOWN, "<id>"), what
        # The owner's shell and command are untouched (the other account's Delete and Signal did nothing).
        events = []
        while not any(type(e).__name__ == "PipelineStateEvent" and e.state.name == "Completed" for e in events):
            response = client.post(raw.envelope(ns.ACTION_RECEIVE, raw.receive_body(command_id), shell_id=shell_id))
            assert response.status_code == 200, response.text[:500]
            events += psrp.feed(raw.received(response.content).data, None)
        assert [type(e).__name__ for e in events].count("PipelineOutputEvent") == 1
    finally:
        client.delete(shell_id)
    guard.check()


@pytest.mark.parametrize("timeout", ["PT0S", "PT-1S"])
def test_receive_with_a_zero_operation_timeout_answers_at_once(
    rps: Endpoint, client: raw.RawClient, timeout: str
) -> None:
    once_over_https(rps)
    shell_id, _ = client.open_shell()
    try:
        started = time.monotonic()
        try:
            response = client.post(
                raw.envelope(ns.ACTION_RECEIVE, raw.receive_body(), shell_id=shell_id, operation_timeout=timeout),
                timeout=1.5,
            )
        except httpx.ReadTimeout:
            pytest.fail(f"a Receive with OperationTimeout {timeout} was still waiting after 1.5 s")
        assert time.monotonic() - started < 1.0
        assert raw.fault_of(response.content).subcode == "w:TimedOut"
    finally:
        client.delete(shell_id)


def once_over_https(rps: Endpoint) -> None:
    """For the slow tests whose subject does not depend on the transport: run them once."""
    if rps.server.settings.insecure_http:
        pytest.skip("transport-independent and slow (it waits out a timeout); runs once, over HTTPS")


def _pending_receive(rps: Endpoint, body: bytes) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}

    def wait() -> None:
        with raw.RawClient(rps.server.url, ACCOUNT, rps.password, verify=verify_for(rps)) as c:
            started = time.monotonic()
            outcome["response"] = c.post(body)
            outcome["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    return thread, outcome


@pytest.mark.parametrize("target", ["pool", "pipeline-waiting-for-input"])
def test_delete_wakes_a_pending_receive(rps: Endpoint, client: raw.RawClient, target: str) -> None:
    # (A Receive on a pipeline that is *running* is not woken: see test_close_wakes_a_waiting_pipeline_receive
    # in tests/frontends/psrp/test_runspace_in_memory.py; no Exchange cmdlet here runs long enough to show it.)
    shell_id, psrp = client.open_shell()
    command_id = None
    if target != "pool":  # a pipeline waiting for input that never comes: its Receive waits
        ps, arguments = psrp.powershell("Get-Mailbox", no_input=False)
        command_id = client.command(shell_id, arguments)
    body = raw.envelope(ns.ACTION_RECEIVE, raw.receive_body(command_id), shell_id=shell_id, operation_timeout="PT5S")
    thread, outcome = _pending_receive(rps, body)
    time.sleep(0.3)
    assert "response" not in outcome
    assert client.delete(shell_id).status_code == 200
    thread.join(10)
    assert outcome["seconds"] < 0.3 + 1.5  # well before the 5 s OperationTimeout
    response = outcome["response"]
    if target == "pool":
        assert raw.fault_of(response.content).code == FaultCode.UNEXPECTED_SELECTORS
    else:  # the pipeline was stopped on its way out, and the Receive carries that news
        assert response.status_code == 200
        result = raw.received(response.content)
        assert result.done
        events = psrp.feed(result.data, ps.pipeline_id)
        assert events[-1].state.name == "Stopped"
