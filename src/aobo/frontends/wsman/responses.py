"""Build WS-Management response envelopes (sans-IO).

Shapes follow what Windows' WinRM service answers (see the recorded exchanges in pypsrp's test
suite): ``a:RelatesTo`` echoes the request's MessageID verbatim, Create returns both
``x:ResourceCreated`` (whose SelectorSet clients copy into every later request) and ``rsp:Shell``.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from aobo.frontends.wsman import namespaces as ns
from aobo.frontends.wsman import xpress
from aobo.frontends.wsman.envelope import WSManRequest, format_duration

_ENVELOPE_OPEN = (
    f'<s:Envelope xml:lang="en-US" xmlns:s="{ns.SOAP}" xmlns:a="{ns.ADDRESSING}" '
    f'xmlns:x="{ns.TRANSFER}" xmlns:w="{ns.WSMAN}" xmlns:rsp="{ns.SHELL}" xmlns:p="{ns.WSMV}">'
)

#: Bytes of envelope around the stream data of a ReceiveResponse, with room to spare.
RECEIVE_OVERHEAD = 4096


def _envelope(request: WSManRequest, body: str, action: str | None = None) -> bytes:
    return (
        f"{_ENVELOPE_OPEN}<s:Header><a:Action>{action or request.action + 'Response'}</a:Action>"
        f"<a:MessageID>uuid:{str(uuid.uuid4()).upper()}</a:MessageID>"
        f"<a:To>{ns.ANONYMOUS}</a:To><a:RelatesTo>{escape(request.message_id)}</a:RelatesTo>"
        f"</s:Header><s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


@dataclass(frozen=True, slots=True)
class ShellInfo:
    shell_id: str
    resource_uri: str
    owner: str
    client_ip: str
    idle_timeout: float
    state: str = "Connected"
    run_time: float = 0.0
    inactivity: float = 0.0
    compressed: bool = False


def _shell_xml(info: ShellInfo) -> str:
    return (
        f"<rsp:Shell><rsp:ShellId>{info.shell_id}</rsp:ShellId>"
        f"<rsp:ResourceUri>{escape(info.resource_uri)}</rsp:ResourceUri>"
        f"<rsp:Owner>{escape(info.owner)}</rsp:Owner><rsp:ClientIP>{escape(info.client_ip)}</rsp:ClientIP>"
        f"<rsp:IdleTimeOut>{format_duration(info.idle_timeout)}</rsp:IdleTimeOut>"
        "<rsp:InputStreams>stdin pr</rsp:InputStreams><rsp:OutputStreams>stdout</rsp:OutputStreams>"
        f"<rsp:MaxIdleTimeOut>{format_duration(info.idle_timeout)}</rsp:MaxIdleTimeOut>"
        "<rsp:Locale>en-US</rsp:Locale><rsp:DataLocale>en-US</rsp:DataLocale>"
        f"<rsp:CompressionMode>{'XpressCompression' if info.compressed else 'NoCompression'}</rsp:CompressionMode>"
        "<rsp:ProfileLoaded>Yes</rsp:ProfileLoaded>"
        "<rsp:Encoding>UTF8</rsp:Encoding><rsp:BufferMode>Block</rsp:BufferMode>"
        f"<rsp:State>{info.state}</rsp:State>"
        f"<rsp:ShellRunTime>{_day_duration(info.run_time)}</rsp:ShellRunTime>"
        f"<rsp:ShellInactivity>{_day_duration(info.inactivity)}</rsp:ShellInactivity></rsp:Shell>"
    )


def _day_duration(seconds: float) -> str:
    s = int(seconds)
    return f"P{s // 86400}DT{s % 86400 // 3600}H{s % 3600 // 60}M{s % 60}S"


def create_response(request: WSManRequest, address: str, info: ShellInfo) -> bytes:
    body = (
        f"<x:ResourceCreated><a:Address>{escape(address)}</a:Address><a:ReferenceParameters>"
        f"<w:ResourceURI>{escape(info.resource_uri)}</w:ResourceURI><w:SelectorSet>"
        f'<w:Selector Name="ShellId">{info.shell_id}</w:Selector></w:SelectorSet>'
        f"</a:ReferenceParameters></x:ResourceCreated>{_shell_xml(info)}"
    )
    return _envelope(request, body)


def get_shell_response(request: WSManRequest, info: ShellInfo) -> bytes:
    return _envelope(request, _shell_xml(info))


def command_response(request: WSManRequest, command_id: str) -> bytes:
    return _envelope(request, f"<rsp:CommandResponse><rsp:CommandId>{command_id}</rsp:CommandId></rsp:CommandResponse>")


def send_response(request: WSManRequest) -> bytes:
    return _envelope(request, "<rsp:SendResponse/>")


def signal_response(request: WSManRequest) -> bytes:
    return _envelope(request, "<rsp:SignalResponse/>")


def delete_response(request: WSManRequest) -> bytes:
    return _envelope(request, "")


def receive_response(
    request: WSManRequest,
    chunks: Sequence[bytes],
    command_id: str | None,
    done: bool,
    *,
    compressed: bool = False,
) -> bytes:
    """All chunks in one ``rsp:Stream`` (so the envelope's overhead does not grow with their
    number); ``CommandState`` only for pipeline receives, as Windows does. A shell created with
    xpress compression gets its data framed as stored blocks, which every xpress decoder reads as
    they are (MS-WSMV <134>).

    Built as bytes: the stream data is most of a 500 KB response, and going through str would copy
    it three more times.
    """
    parts = [b"<rsp:ReceiveResponse>"]
    if chunks:
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        cid = f" CommandId={quoteattr(command_id)}" if command_id else ""
        stream = base64.b64encode(xpress.encode_stored(data) if compressed else data)
        parts += (f'<rsp:Stream Name="stdout"{cid}>'.encode(), stream, b"</rsp:Stream>")
    if command_id:
        if done:
            state = (
                f'<rsp:CommandState CommandId={quoteattr(command_id)} State="{ns.COMMAND_STATE_DONE}">'
                "<rsp:ExitCode>0</rsp:ExitCode></rsp:CommandState>"
            )
        else:
            state = f'<rsp:CommandState CommandId={quoteattr(command_id)} State="{ns.COMMAND_STATE_RUNNING}"/>'
        parts.append(state.encode())
    parts.append(b"</rsp:ReceiveResponse>")
    head, tail = _envelope(request, "\0").split(b"\0")
    return b"".join([head, *parts, tail])


def receive_budget(max_envelope_size: int, *, compressed: bool = False) -> int:
    """Raw bytes of PSRP data that fit one ReceiveResponse (base64 grows data by 4/3; xpress
    framing adds a block header per started 64 KiB)."""
    budget = max(1024, (max_envelope_size - RECEIVE_OVERHEAD) * 3 // 4)
    if compressed:
        budget -= xpress.framed_size(budget) - budget
    return budget


# ----------------------------------------------------------------- Enumerate / Pull (WS-Enumeration)


def shell_item(info: ShellInfo) -> str:
    """One ``rsp:Shell`` of an enumeration: the same element a Get answers."""
    return _shell_xml(info)


def command_item(command_id: str, state: str = "Running") -> str:
    """One ``rsp:Command`` of an enumeration of a shell's commands, as Windows lists them."""
    return (
        f"<rsp:Command><rsp:CommandId>{escape(command_id)}</rsp:CommandId><rsp:CommandLine></rsp:CommandLine>"
        f"<rsp:CommandState>{escape(state)}</rsp:CommandState></rsp:Command>"
    )


def enumerate_response(request: WSManRequest, items: list[str] | None, context: str | None) -> bytes:
    """An EnumerateResponse. ``items`` None: not optimized, the client Pulls them with ``context``.

    Optimized (``w:OptimizeEnumeration``) answers carry the items in ``w:Items``; like Windows,
    a finished sequence has an empty ``n:EnumerationContext`` and ``w:EndOfSequence``.
    """
    ctx = f"<n:EnumerationContext>{escape(context or '')}</n:EnumerationContext>"
    if items is None:
        body = ctx
    else:
        end = "<w:EndOfSequence/>" if context is None else ""
        body = f"{ctx}<w:Items>{''.join(items)}</w:Items>{end}"
    return _enumeration_envelope(request, f"<n:EnumerateResponse>{body}</n:EnumerateResponse>")


def pull_response(request: WSManRequest, items: list[str], context: str | None) -> bytes:
    """A PullResponse; ``context`` None ends the sequence (``n:EndOfSequence``, no context)."""
    ctx = "" if context is None else f"<n:EnumerationContext>{escape(context)}</n:EnumerationContext>"
    end = "<n:EndOfSequence/>" if context is None else ""
    body = f"<n:PullResponse>{ctx}<n:Items>{''.join(items)}</n:Items>{end}</n:PullResponse>"
    return _enumeration_envelope(request, body)


def release_response(request: WSManRequest) -> bytes:
    return _enumeration_envelope(request, "")


def _enumeration_envelope(request: WSManRequest, body: str) -> bytes:
    # The shared envelope does not declare the WS-Enumeration prefix.
    head = _ENVELOPE_OPEN.replace("<s:Envelope ", f'<s:Envelope xmlns:n="{ns.ENUMERATION}" ', 1)
    envelope = _envelope(request, body).decode()
    return (head + envelope[len(_ENVELOPE_OPEN) :]).encode()
