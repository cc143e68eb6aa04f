"""A sans-IO WS-Management (WinRS, [MS-WSMV]) client: build request envelopes, parse responses.

No sockets here: :mod:`aobo.toolkit.transport` posts the bytes. The envelopes carry the headers
Windows' and pypsrp's clients send (see the recordings in the shared fixtures): Action, To,
MessageID, ReplyTo, ResourceURI, MaxEnvelopeSize, OperationTimeout, OptionSet and the ShellId
selector. Responses are parsed with defusedxml (no DTDs, no entities) and a fault becomes the
toolkit error a caller can act on (MaxConcurrency → :class:`SessionLimitError`).
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from xml.etree.ElementTree import Element, ParseError
from xml.sax.saxutils import escape, quoteattr

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from aobo.toolkit.errors import AuthError, BudgetError, ConnectError, SessionLimitError, ToolkitError, WSManFault

SOAP = "http://www.w3.org/2003/05/soap-envelope"
ADDRESSING = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
WSMAN = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
WSMV = "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"
SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
TRANSFER = "http://schemas.xmlsoap.org/ws/2004/09/transfer"
WSMANFAULT = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"
POWERSHELL = "http://schemas.microsoft.com/powershell"
ANONYMOUS = f"{ADDRESSING}/role/anonymous"

ACTION_CREATE = f"{TRANSFER}/Create"
ACTION_DELETE = f"{TRANSFER}/Delete"
ACTION_COMMAND = f"{SHELL}/Command"
ACTION_SEND = f"{SHELL}/Send"
ACTION_RECEIVE = f"{SHELL}/Receive"
ACTION_SIGNAL = f"{SHELL}/Signal"

EXCHANGE_RESOURCE_URI = "http://schemas.microsoft.com/powershell/Microsoft.Exchange"
SIGNAL_TERMINATE = f"{SHELL}/signal/terminate"
SIGNAL_CTRL_C = "powershell/signal/crtl_c"  # PowerShell's own spelling; servers accept "ctrl_c" too
COMMAND_STATE_DONE = f"{SHELL}/CommandState/Done"

#: Windows' default MaxEnvelopeSizekb (500 KiB); also what aobo and Exchange Online accept.
MAX_ENVELOPE_SIZE = 512_000
#: Bytes of envelope around base64 data in a request we build, with room to spare.
ENVELOPE_OVERHEAD = 4096

# Exchange's MaxConcurrency fault (ERROR_WSMAN_QUOTA_MAX_SHELLS) and its text.
QUOTA_MAX_SHELLS = 0x803381A5
ACCESS_DENIED = 5
_BUDGET_MARKERS = ("exceeded your budget", "budget to create runspace", "micro delay", "throttl")

_ENVELOPE_OPEN = (
    f'<s:Envelope xmlns:s="{SOAP}" xmlns:wsa="{ADDRESSING}" xmlns:wsman="{WSMAN}" '
    f'xmlns:wsmv="{WSMV}" xmlns:rsp="{SHELL}">'
)


def _q(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


_BODY = _q(SOAP, "Body")
_FAULT = _q(SOAP, "Fault")
_STREAM = _q(SHELL, "Stream")
_COMMAND_STATE = _q(SHELL, "CommandState")
_RECEIVE_RESPONSE = _q(SHELL, "ReceiveResponse")


@dataclass(frozen=True, slots=True)
class Request:
    """One envelope to POST, and its MessageID (the response's RelatesTo)."""

    action: str
    message_id: str
    body: bytes


def new_message_id() -> str:
    return f"uuid:{str(uuid.uuid4()).upper()}"


def format_timeout(seconds: float) -> str:
    """An xs:duration as Windows writes it (``PT20.000S``)."""
    return f"PT{max(seconds, 0.0):.3f}S"


def receive_budget(max_envelope_size: int = MAX_ENVELOPE_SIZE) -> int:
    """Raw bytes of PSRP data that fit one request envelope (base64 grows data by 4/3)."""
    return max(1024, (max_envelope_size - ENVELOPE_OVERHEAD) * 3 // 4)


def envelope(
    action: str,
    *,
    to: str,
    resource_uri: str = EXCHANGE_RESOURCE_URI,
    body: str = "",
    shell_id: str | None = None,
    options: dict[str, str] | None = None,
    operation_timeout: float | None = 20.0,
    max_envelope_size: int = MAX_ENVELOPE_SIZE,
    message_id: str | None = None,
) -> Request:
    """A SOAP 1.2 request envelope in the header order pypsrp and Windows use."""
    message_id = message_id or new_message_id()
    headers = [
        f'<wsa:Action s:mustUnderstand="true">{escape(action)}</wsa:Action>',
        '<wsmv:DataLocale s:mustUnderstand="false" xml:lang="en-US" />',
        '<wsman:Locale s:mustUnderstand="false" xml:lang="en-US" />',
        f'<wsman:MaxEnvelopeSize s:mustUnderstand="true">{int(max_envelope_size)}</wsman:MaxEnvelopeSize>',
        f"<wsa:MessageID>{message_id}</wsa:MessageID>",
    ]
    if operation_timeout is not None:
        headers.append(f"<wsman:OperationTimeout>{format_timeout(operation_timeout)}</wsman:OperationTimeout>")
    headers += [
        f'<wsa:ReplyTo><wsa:Address s:mustUnderstand="true">{ANONYMOUS}</wsa:Address></wsa:ReplyTo>',
        f'<wsman:ResourceURI s:mustUnderstand="true">{escape(resource_uri)}</wsman:ResourceURI>',
        f"<wsa:To>{escape(to)}</wsa:To>",
    ]
    if options:
        opts = "".join(
            f'<wsman:Option MustComply="true" Name={quoteattr(k)}>{escape(v)}</wsman:Option>'
            for k, v in options.items()
        )
        headers.append(f'<wsman:OptionSet s:mustUnderstand="true">{opts}</wsman:OptionSet>')
    if shell_id is not None:
        headers.append(
            f'<wsman:SelectorSet><wsman:Selector Name="ShellId">{escape(shell_id)}</wsman:Selector></wsman:SelectorSet>'
        )
    text = f"{_ENVELOPE_OPEN}<s:Header>{''.join(headers)}</s:Header><s:Body>{body}</s:Body></s:Envelope>"
    return Request(action, message_id, text.encode())


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def create(
    to: str,
    creation_xml: bytes,
    *,
    shell_id: str,
    resource_uri: str = EXCHANGE_RESOURCE_URI,
    operation_timeout: float = 20.0,
    max_envelope_size: int = MAX_ENVELOPE_SIZE,
    protocol_version: str = "2.3",
) -> Request:
    """Create the shell (runspace pool); ``creation_xml`` is the pool's first PSRP fragments."""
    body = (
        f"<rsp:Shell ShellId={quoteattr(shell_id)}><rsp:InputStreams>stdin pr</rsp:InputStreams>"
        f"<rsp:OutputStreams>stdout</rsp:OutputStreams>"
        f'<creationXml xmlns="{POWERSHELL}">{_b64(creation_xml)}</creationXml></rsp:Shell>'
    )
    return envelope(
        ACTION_CREATE,
        to=to,
        resource_uri=resource_uri,
        body=body,
        options={"protocolversion": protocol_version},
        operation_timeout=operation_timeout,
        max_envelope_size=max_envelope_size,
    )


def command(
    to: str,
    shell_id: str,
    command_id: str,
    arguments: bytes,
    *,
    resource_uri: str = EXCHANGE_RESOURCE_URI,
    operation_timeout: float = 20.0,
    max_envelope_size: int = MAX_ENVELOPE_SIZE,
) -> Request:
    """Start a pipeline: ``arguments`` holds the CREATE_PIPELINE fragments (or their first part)."""
    body = (
        f"<rsp:CommandLine CommandId={quoteattr(command_id)}><rsp:Command />"
        f"<rsp:Arguments>{_b64(arguments)}</rsp:Arguments></rsp:CommandLine>"
    )
    return envelope(
        ACTION_COMMAND,
        to=to,
        resource_uri=resource_uri,
        body=body,
        shell_id=shell_id,
        operation_timeout=operation_timeout,
        max_envelope_size=max_envelope_size,
    )


def send(
    to: str,
    shell_id: str,
    data: bytes,
    *,
    command_id: str | None = None,
    stream: str = "stdin",
    resource_uri: str = EXCHANGE_RESOURCE_URI,
    operation_timeout: float = 20.0,
    max_envelope_size: int = MAX_ENVELOPE_SIZE,
) -> Request:
    """More PSRP data for the pool (no ``command_id``) or a pipeline: the rest of a large message."""
    cid = f" CommandId={quoteattr(command_id)}" if command_id else ""
    body = f"<rsp:Send><rsp:Stream Name={quoteattr(stream)}{cid}>{_b64(data)}</rsp:Stream></rsp:Send>"
    return envelope(
        ACTION_SEND,
        to=to,
        resource_uri=resource_uri,
        body=body,
        shell_id=shell_id,
        operation_timeout=operation_timeout,
        max_envelope_size=max_envelope_size,
    )


def receive(
    to: str,
    shell_id: str,
    command_id: str | None = None,
    *,
    resource_uri: str = EXCHANGE_RESOURCE_URI,
    operation_timeout: float = 20.0,
    max_envelope_size: int = MAX_ENVELOPE_SIZE,
) -> Request:
    """A long-poll for output of the pool (no ``command_id``) or of one pipeline."""
    cid = f" CommandId={quoteattr(command_id)}" if command_id else ""
    body = f"<rsp:Receive><rsp:DesiredStream{cid}>stdout</rsp:DesiredStream></rsp:Receive>"
    return envelope(
        ACTION_RECEIVE,
        to=to,
        resource_uri=resource_uri,
        body=body,
        shell_id=shell_id,
        options={"WSMAN_CMDSHELL_OPTION_KEEPALIVE": "True"},
        operation_timeout=operation_timeout,
        max_envelope_size=max_envelope_size,
    )


def signal(
    to: str,
    shell_id: str,
    command_id: str,
    code: str = SIGNAL_TERMINATE,
    *,
    resource_uri: str = EXCHANGE_RESOURCE_URI,
    operation_timeout: float = 20.0,
) -> Request:
    """Stop (``SIGNAL_CTRL_C``) or release (``SIGNAL_TERMINATE``) a pipeline."""
    body = f"<rsp:Signal CommandId={quoteattr(command_id)}><rsp:Code>{escape(code)}</rsp:Code></rsp:Signal>"
    return envelope(
        ACTION_SIGNAL,
        to=to,
        resource_uri=resource_uri,
        body=body,
        shell_id=shell_id,
        operation_timeout=operation_timeout,
    )


def delete(
    to: str, shell_id: str, *, resource_uri: str = EXCHANGE_RESOURCE_URI, operation_timeout: float = 20.0
) -> Request:
    """Remove the shell (Remove-PSSession): frees one of the account's sessions."""
    return envelope(
        ACTION_DELETE, to=to, resource_uri=resource_uri, shell_id=shell_id, operation_timeout=operation_timeout
    )


# ------------------------------------------------------------------------------------------------ responses


def parse(data: bytes) -> Element:
    """The response envelope's root, parsed safely; malformed XML is a :class:`ConnectError`."""
    try:
        return fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise ConnectError(f"The WS-Management response is not valid XML: {exc}") from None


def body_of(root: Element) -> Element:
    body = root.find(_BODY)
    if body is None:
        raise ConnectError("The WS-Management response has no SOAP Body.")
    return body


def fault_of(root: Element) -> WSManFault | None:
    """The fault in a response envelope, as the toolkit error a caller can act on, or None."""
    body = root.find(_BODY)
    fault = body.find(_FAULT) if body is not None else None
    if fault is None:
        return None
    subcode = fault.findtext(f"{_q(SOAP, 'Code')}/{_q(SOAP, 'Subcode')}/{_q(SOAP, 'Value')}") or ""
    reason = fault.findtext(f"{_q(SOAP, 'Reason')}/{_q(SOAP, 'Text')}") or ""
    detail = fault.find(f"{_q(SOAP, 'Detail')}/{_q(WSMANFAULT, 'WSManFault')}")
    code, machine = 0, None
    if detail is not None:
        try:
            code = int(detail.get("Code", "0"))
        except ValueError:
            code = 0
        machine = detail.get("Machine")
        message = detail.findtext(_q(WSMANFAULT, "Message"))
        if message and message.strip():
            reason = message
        elif not reason:
            reason = "".join(detail.itertext())
    return classify_fault(code, reason.strip(), subcode=subcode, machine=machine)


def classify_fault(code: int, reason: str, *, subcode: str = "", machine: str | None = None) -> WSManFault:
    """The most specific fault class for Exchange's code and text."""
    lowered = reason.lower()
    if code == QUOTA_MAX_SHELLS or "maxconcurrency" in lowered:
        return SessionLimitError(code, reason, subcode=subcode, machine=machine)
    if any(marker in lowered for marker in _BUDGET_MARKERS):
        return BudgetError(code, reason, subcode=subcode, machine=machine)
    return WSManFault(code, reason, subcode=subcode, machine=machine)


def error_for_fault(fault: WSManFault) -> ToolkitError:
    """The error to raise for a fault: access denied is an :class:`AuthError`, the rest the fault."""
    if fault.code == ACCESS_DENIED or fault.subcode.endswith("AccessDenied"):
        return AuthError(fault.reason or "Access is denied.", fault=fault)
    return fault


def check(data: bytes) -> Element:
    """Parse a response; raise the mapped error if it is a fault."""
    root = parse(data)
    fault = fault_of(root)
    if fault is not None:
        raise error_for_fault(fault)
    return root


def shell_id_of(root: Element) -> str:
    """The ShellId a CreateResponse assigned (from ``rsp:Shell`` or the ResourceCreated selector)."""
    shell_id = root.findtext(f".//{_q(SHELL, 'Shell')}/{_q(SHELL, 'ShellId')}")
    if not shell_id:
        for selector in root.iter(_q(WSMAN, "Selector")):
            if selector.get("Name") == "ShellId" and selector.text:
                shell_id = selector.text
                break
    if not shell_id:
        raise ConnectError("The CreateResponse carries no ShellId.")
    return shell_id.strip()


def command_id_of(root: Element) -> str:
    command_id = root.findtext(f".//{_q(SHELL, 'CommandResponse')}/{_q(SHELL, 'CommandId')}")
    if not command_id:
        raise ConnectError("The CommandResponse carries no CommandId.")
    return command_id.strip()


@dataclass(frozen=True, slots=True)
class Stream:
    name: str
    command_id: str | None
    data: bytes


@dataclass(frozen=True, slots=True)
class Received:
    """One ReceiveResponse: the decoded stream data in order, and the CommandState if any."""

    streams: tuple[Stream, ...]
    state: str | None = None
    exit_code: int | None = None

    @property
    def done(self) -> bool:
        return self.state == COMMAND_STATE_DONE

    def data_for(self, command_id: str | None = None) -> bytes:
        """The stdout bytes for one pipeline (``None``: the pool), in the order they came."""
        wanted = command_id.upper() if command_id else None
        return b"".join(
            s.data for s in self.streams if s.name == "stdout" and (s.command_id or "").upper() == (wanted or "")
        )


def parse_receive(data: bytes) -> Received:
    """A ReceiveResponse (raises the mapped error for a fault, including ``timed_out`` ones).

    The stream data is nearly all of a 500 KB response; :func:`_parse_receive_fast` keeps it out of
    the XML parser. Whatever it does not vouch for is read again by :func:`parse_receive_safe`, so
    both give the same :class:`Received` or the same error.
    """
    try:
        return _parse_receive_fast(data)
    except _NotFast:
        return parse_receive_safe(data)


def parse_receive_safe(data: bytes) -> Received:
    """:func:`parse_receive` by the whole envelope's XML tree (every stream's text in the parser)."""
    return _received(check(data), _decode_text)


class _NotFast(Exception):
    """The fast Receive scan declines this response; the safe parse decides."""


# A Stream start tag (any prefix; namespaces are checked on the parsed skeleton) that is not empty.
_STREAM_TAG = re.compile(rb"<(?:[A-Za-z_][\w.\-]*:)?Stream(?:\s[^<>]*)?(?<!/)>")
_MARK = b"*"  # a cut stream's text in the skeleton is "*<index>"


def _parse_receive_fast(data: bytes) -> Received:
    """:func:`parse_receive` without the stream text in the XML parser.

    Each ``<...Stream ...>TEXT</`` has its text cut out by a byte scan and replaced by a marker
    ``*<n>``; the small skeleton left is parsed by the same safe parser (so DOCTYPE, entities,
    faults, namespaces and malformed markup are all judged as before), and a Stream whose text is
    marker ``n`` gets span ``n`` decoded by strict base64. Strict base64 text holds no markup nor
    references, so the skeleton is well-formed exactly when the response is, with the same tree.
    Raises :class:`_NotFast` whenever that reasoning might not hold.
    """
    spans: list[tuple[int, int]] = []
    pieces: list[bytes] = []
    pos = last = 0
    search, find = _STREAM_TAG.search, data.find
    while (m := search(data, pos)) is not None:
        start = m.end()
        end = find(b"<", start)
        if end < 0:
            break
        if end > start and data[end + 1 : end + 2] == b"/":
            pieces += (data[last:start], b"*%d" % len(spans))
            spans.append((start, end))
            last = end
        pos = end
    if not spans:
        raise _NotFast
    pieces.append(data[last:])
    skeleton = b"".join(pieces)
    # A marker must only ever come from the cut: no other "*" and no references that could make one.
    if b"&" in skeleton or skeleton.count(_MARK) != len(spans):
        raise _NotFast
    try:
        root = check(skeleton)
    except ToolkitError:
        raise _NotFast from None
    view = memoryview(data)
    used = 0

    def decode(el: Element) -> bytes:
        nonlocal used
        text = el.text
        if not text or text[0] != "*":
            return _decode_text(el)
        if text != f"*{used}":
            raise _NotFast
        start, end = spans[used]
        used += 1
        try:
            return binascii.a2b_base64(view[start:end], strict_mode=True)
        except (binascii.Error, ValueError):
            raise _NotFast from None

    try:
        received = _received(root, decode)
    except ConnectError:
        raise _NotFast from None
    if used != len(spans):  # a cut outside the ReceiveResponse's streams (comment, other namespace...)
        raise _NotFast
    return received


def _decode_text(el: Element) -> bytes:
    try:
        return base64.b64decode(el.text or "", validate=False)
    except (binascii.Error, ValueError):
        raise ConnectError("The ReceiveResponse stream data is not valid base64.") from None


def _received(root: Element, decode: Callable[[Element], bytes]) -> Received:
    response = body_of(root).find(_RECEIVE_RESPONSE)
    if response is None:
        raise ConnectError("The response to Receive is not a ReceiveResponse.")
    streams = [Stream(el.get("Name", "stdout"), el.get("CommandId"), decode(el)) for el in response.iter(_STREAM)]
    state_el = response.find(_COMMAND_STATE)
    state = exit_code = None
    if state_el is not None:
        state = state_el.get("State")
        code = state_el.findtext(_q(SHELL, "ExitCode"))
        exit_code = int(code) if code and code.strip().lstrip("-").isdigit() else None
    return Received(tuple(streams), state, exit_code)
