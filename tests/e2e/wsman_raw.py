"""Hand-built WS-Management requests, for tests that talk to aobo below pypsrp.

The envelopes look like pypsrp's (same headers, same order); psrpcore's client classes produce the
PSRP bytes inside them. Everything here is deliberately small and explicit so that a test can
break exactly one thing at a time: drop a header, garble a base64 text, cut a fragment short.
"""

from __future__ import annotations

import base64
import struct
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree
from xml.sax.saxutils import escape, quoteattr

import httpx
import psrpcore
from psrpcore.types import PSInvocationState, RunspacePoolState

from aobo.frontends.wsman import namespaces as ns

SHELL_RESOURCE = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
SIGNAL_CTRL_C = "powershell/signal/ctrl_c"
SIGNAL_TERMINATE = f"{ns.SHELL}/signal/Terminate"

_ENVELOPE_OPEN = (
    f'<s:Envelope xmlns:s="{ns.SOAP}" xmlns:wsa="{ns.ADDRESSING}" xmlns:wsman="{ns.WSMAN}" '
    f'xmlns:wsmv="{ns.WSMV}" xmlns:rsp="{ns.SHELL}">'
)
_FINAL_PIPELINE_STATES = (PSInvocationState.Completed, PSInvocationState.Failed, PSInvocationState.Stopped)


def q(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


def new_message_id() -> str:
    return f"uuid:{str(uuid.uuid4()).upper()}"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# --------------------------------------------------------------------------------------- envelopes


def envelope(
    action: str | None,
    body: str = "",
    *,
    message_id: str | None = None,
    resource_uri: str | None = ns.EXCHANGE_RESOURCE_URI,
    shell_id: str | None = None,
    options: dict[str, str] | None = None,
    max_envelope_size: int | None = 512_000,
    operation_timeout: str | None = "PT5S",
    extra_headers: str = "",
    omit_message_id: bool = False,
) -> bytes:
    """A SOAP 1.2 request envelope in pypsrp's header order. ``None`` leaves a header out."""
    headers = []
    if action is not None:
        headers.append(f'<wsa:Action s:mustUnderstand="true">{escape(action)}</wsa:Action>')
    if max_envelope_size is not None:
        headers.append(f'<wsman:MaxEnvelopeSize s:mustUnderstand="true">{max_envelope_size}</wsman:MaxEnvelopeSize>')
    if not omit_message_id:
        headers.append(f"<wsa:MessageID>{escape(message_id or new_message_id())}</wsa:MessageID>")
    if operation_timeout is not None:
        headers.append(f"<wsman:OperationTimeout>{operation_timeout}</wsman:OperationTimeout>")
    headers.append(f'<wsa:ReplyTo><wsa:Address s:mustUnderstand="true">{ns.ANONYMOUS}</wsa:Address></wsa:ReplyTo>')
    if resource_uri is not None:
        headers.append(f'<wsman:ResourceURI s:mustUnderstand="true">{escape(resource_uri)}</wsman:ResourceURI>')
    if options:
        opts = "".join(
            f'<wsman:Option MustComply="true" Name={quoteattr(k)}>{escape(v)}</wsman:Option>'
            for k, v in options.items()
        )
        headers.append(f'<wsman:OptionSet s:mustUnderstand="true">{opts}</wsman:OptionSet>')
    if shell_id is not None:
        headers.append(
            f'<wsman:SelectorSet><wsman:Selector Name="ShellId">{shell_id}</wsman:Selector></wsman:SelectorSet>'
        )
    headers.append(extra_headers)
    return f"{_ENVELOPE_OPEN}<s:Header>{''.join(headers)}</s:Header><s:Body>{body}</s:Body></s:Envelope>".encode()


def create_body(creation_text: str, shell_id: str | None = None) -> str:
    sid = f" ShellId={quoteattr(shell_id)}" if shell_id else ""
    return (
        f"<rsp:Shell{sid}><rsp:InputStreams>stdin pr</rsp:InputStreams><rsp:OutputStreams>stdout</rsp:OutputStreams>"
        f'<creationXml xmlns="{ns.POWERSHELL}">{creation_text}</creationXml></rsp:Shell>'
    )


def command_body(arguments_text: str, command_id: str | None) -> str:
    cid = f" CommandId={quoteattr(command_id)}" if command_id else ""
    return f"<rsp:CommandLine{cid}><rsp:Command /><rsp:Arguments>{arguments_text}</rsp:Arguments></rsp:CommandLine>"


def send_body(data_text: str, command_id: str | None = None, stream: str = "stdin") -> str:
    cid = f" CommandId={quoteattr(command_id)}" if command_id else ""
    return f"<rsp:Send><rsp:Stream Name={quoteattr(stream)}{cid}>{data_text}</rsp:Stream></rsp:Send>"


def receive_body(command_id: str | None = None) -> str:
    cid = f" CommandId={quoteattr(command_id)}" if command_id else ""
    return f"<rsp:Receive><rsp:DesiredStream{cid}>stdout</rsp:DesiredStream></rsp:Receive>"


def signal_body(command_id: str, code: str) -> str:
    return f"<rsp:Signal CommandId={quoteattr(command_id)}><rsp:Code>{escape(code)}</rsp:Code></rsp:Signal>"


def create_envelope(creation: bytes | str, *, shell_id: str | None = None, **kwargs: Any) -> bytes:
    """A Create for the Exchange configuration with ``protocolversion`` 2.3, as pypsrp sends it."""
    text = creation if isinstance(creation, str) else b64(creation)
    kwargs.setdefault("options", {"protocolversion": "2.3"})
    return envelope(ns.ACTION_CREATE, create_body(text, shell_id), **kwargs)


# --------------------------------------------------------------------------------------- responses


def parse(data: bytes) -> ElementTree.Element:
    return ElementTree.fromstring(data)


def header_text(root: ElementTree.Element, namespace: str, name: str) -> str | None:
    el = root.find(f"{q(ns.SOAP, 'Header')}/{q(namespace, name)}")
    return None if el is None else (el.text or "")


@dataclass(frozen=True)
class Fault:
    action: str | None
    code: int
    value: str
    subcode: str
    reason: str
    relates_to: str | None
    detail: str | None


def fault_of(data: bytes) -> Fault:
    root = parse(data)
    fault = root.find(f"{q(ns.SOAP, 'Body')}/{q(ns.SOAP, 'Fault')}")
    assert fault is not None, data[:500]
    wsman_fault = fault.find(f"{q(ns.SOAP, 'Detail')}/{q(ns.WSMANFAULT, 'WSManFault')}")
    assert wsman_fault is not None, data[:500]
    return Fault(
        action=header_text(root, ns.ADDRESSING, "Action"),
        code=int(wsman_fault.get("Code", "0")),
        value=fault.findtext(f"{q(ns.SOAP, 'Code')}/{q(ns.SOAP, 'Value')}") or "",
        subcode=fault.findtext(f"{q(ns.SOAP, 'Code')}/{q(ns.SOAP, 'Subcode')}/{q(ns.SOAP, 'Value')}") or "",
        reason=fault.findtext(f"{q(ns.SOAP, 'Reason')}/{q(ns.SOAP, 'Text')}") or "",
        relates_to=header_text(root, ns.ADDRESSING, "RelatesTo"),
        detail=fault.findtext(f"{q(ns.SOAP, 'Detail')}/{q(ns.WSMAN, 'FaultDetail')}"),
    )


@dataclass
class Received:
    """One ReceiveResponse: the decoded stream data and the CommandState, if any."""

    streams: list[tuple[str | None, bytes]]
    state: str | None

    @property
    def data(self) -> bytes:
        return b"".join(d for _, d in self.streams)

    @property
    def done(self) -> bool:
        return self.state == ns.COMMAND_STATE_DONE


def received(data: bytes) -> Received:
    body = parse(data).find(f"{q(ns.SOAP, 'Body')}/{q(ns.SHELL, 'ReceiveResponse')}")
    assert body is not None, data[:500]
    streams = [(s.get("CommandId"), base64.b64decode(s.text or "")) for s in body.findall(q(ns.SHELL, "Stream"))]
    state = body.find(q(ns.SHELL, "CommandState"))
    return Received(streams, None if state is None else state.get("State"))


# --------------------------------------------------------------------------------------- PSRP framing


@dataclass(frozen=True)
class Fragment:
    object_id: int
    fragment_id: int
    start: bool
    end: bool
    blob: bytes


def fragments(data: bytes) -> list[Fragment]:
    """Split PSRP stream data into fragments; fails on a truncated one."""
    out = []
    offset = 0
    while offset < len(data):
        assert len(data) - offset >= 21, f"truncated fragment header at {offset}"
        object_id, fragment_id, flags, length = struct.unpack(">QQBI", data[offset : offset + 21])
        blob = data[offset + 21 : offset + 21 + length]
        assert len(blob) == length, f"fragment {object_id}/{fragment_id} is cut short"
        out.append(Fragment(object_id, fragment_id, bool(flags & 1), bool(flags & 2), blob))
        offset += 21 + length
    return out


@dataclass(frozen=True)
class Message:
    object_id: int
    destination: int
    message_type: int
    rpid: uuid.UUID
    pid: uuid.UUID
    data: bytes


def reassemble(frags: Iterable[Fragment], pending: dict[int, list[Fragment]] | None = None) -> list[Message]:
    """Whole messages out of fragments (in arrival order); unfinished ones stay in ``pending``."""
    pending = {} if pending is None else pending
    out = []
    for frag in frags:
        parts = pending.setdefault(frag.object_id, [])
        parts.append(frag)
        if frag.end:
            blob = b"".join(p.blob for p in pending.pop(frag.object_id))
            destination, message_type = struct.unpack("<II", blob[:8])
            out.append(
                Message(
                    frag.object_id,
                    destination,
                    message_type,
                    uuid.UUID(bytes_le=blob[8:24]),
                    uuid.UUID(bytes_le=blob[24:40]),
                    blob[40:],
                )
            )
    return out


# --------------------------------------------------------------------------------------- PSRP client


@dataclass
class PsrpClient:
    """psrpcore's client pool, fed by hand."""

    pool: psrpcore.ClientRunspacePool = field(default_factory=psrpcore.ClientRunspacePool)
    events: list[psrpcore.PSRPEvent] = field(default_factory=list)

    @property
    def rpid(self) -> uuid.UUID:
        return self.pool.runspace_pool_id

    def creation_xml(self) -> bytes:
        self.pool.open()
        return self.outgoing()

    def outgoing(self) -> bytes:
        data = b""
        while (payload := self.pool.data_to_send()) is not None:
            data += payload.data
        return data

    def feed(self, data: bytes, pid: uuid.UUID | None = None) -> list[psrpcore.PSRPEvent]:
        self.pool.receive_data(psrpcore.PSRPPayload(data, psrpcore.StreamType.default, pid))
        new = []
        while (event := self.pool.next_event()) is not None:
            new.append(event)
        self.events += new
        return new

    def powershell(self, command: str, *, no_input: bool = True, **parameters: Any) -> tuple[Any, bytes]:
        """A started pipeline and its CREATE_PIPELINE bytes (one fragment, small enough)."""
        ps = psrpcore.ClientPowerShell(self.pool, no_input=no_input)
        ps.add_command(command)
        for name, value in parameters.items():
            ps.add_parameter(name, value)
        ps.start()
        return ps, self.outgoing()


# --------------------------------------------------------------------------------------- transport


class RawClient:
    """POSTs envelopes to one aobo endpoint as one account; helpers for a whole happy-path session."""

    def __init__(self, url: str, user: str, password: str, *, verify: Any = True, timeout: float = 15.0) -> None:
        self.url = url
        self.auth = (user, password)
        self.http = httpx.Client(verify=verify, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def post(self, body: bytes, *, auth: Any = "default", **kwargs: Any) -> httpx.Response:
        headers = {"Content-Type": "application/soap+xml;charset=UTF-8", **kwargs.pop("headers", {})}
        return self.http.post(
            self.url, content=body, headers=headers, auth=self.auth if auth == "default" else auth, **kwargs
        )

    def ok(self, body: bytes) -> ElementTree.Element:
        response = self.post(body)
        assert response.status_code == 200, (response.status_code, response.text[:1000])
        return parse(response.content)

    # --- a session driven by hand

    def open_shell(self, client: PsrpClient | None = None) -> tuple[str, PsrpClient]:
        """Create + pool Receives until psrpcore's client pool is Opened."""
        client = client or PsrpClient()
        root = self.ok(create_envelope(client.creation_xml()))
        shell_id = root.findtext(f".//{q(ns.SHELL, 'Shell')}/{q(ns.SHELL, 'ShellId')}")
        assert shell_id
        while client.pool.state != RunspacePoolState.Opened:
            response = self.post(envelope(ns.ACTION_RECEIVE, receive_body(), shell_id=shell_id))
            assert response.status_code == 200, response.text[:1000]
            client.feed(received(response.content).data)
        return shell_id, client

    def command(self, shell_id: str, arguments: bytes, command_id: str | None = None) -> str:
        command_id = command_id or str(uuid.uuid4()).upper()
        root = self.ok(envelope(ns.ACTION_COMMAND, command_body(b64(arguments), command_id), shell_id=shell_id))
        returned = root.findtext(f".//{q(ns.SHELL, 'CommandId')}")
        assert returned == command_id
        return command_id

    def run(self, shell_id: str, client: PsrpClient, command: str, **parameters: Any) -> list[psrpcore.PSRPEvent]:
        """Command + pipeline Receives until a final PIPELINE_STATE; the events psrpcore saw."""
        ps, arguments = client.powershell(command, **parameters)
        command_id = self.command(shell_id, arguments)
        events: list[psrpcore.PSRPEvent] = []
        while ps.state not in _FINAL_PIPELINE_STATES:
            response = self.post(envelope(ns.ACTION_RECEIVE, receive_body(command_id), shell_id=shell_id))
            assert response.status_code == 200, response.text[:1000]
            events += client.feed(received(response.content).data, ps.pipeline_id)
        self.ok(envelope(ns.ACTION_SIGNAL, signal_body(command_id, SIGNAL_TERMINATE), shell_id=shell_id))
        ps.close()
        return events

    def delete(self, shell_id: str) -> httpx.Response:
        return self.post(envelope(ns.ACTION_DELETE, shell_id=shell_id, resource_uri=ns.EXCHANGE_RESOURCE_URI))
