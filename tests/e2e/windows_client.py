"""Windows PowerShell 5.1 on the wire, for tests: what the seed's commands send, byte for byte
where a capture exists and as PowerShell's client source writes it elsewhere.

- The Create is the real one 5.1.17763.771 sent to Exchange
  (``../shared/fixtures/windows-ps51/create-exchange2019.xml``) with fresh ids: the xpress
  ``CompressionType`` header, ``p:SessionId`` / ``p:OperationID`` / ``p:SequenceId``, and the 5.1
  creationXml (console HostInfo, PSVersionTable), never compressed.
- Every request goes to the session URL Windows builds: the connection URI with
  ``;PSVersion=<version>`` appended.
- Receives carry ``WSMAN_CMDSHELL_OPTION_KEEPALIVE`` and ``SequenceId``; Commands carry the
  history text in ``rsp:Command`` and the pipeline id as CommandId.
- Send data is framed as WinRM does (stored blocks under 300 bytes, LZ77+Huffman from wimlib
  otherwise); ReceiveResponse data is unframed by a test-side reader, independent of aobo's.
- The PSRP messages are 5.1's CLIXML, written out here (GET_COMMAND_METADATA with CommandType 399,
  Invoke-Command's CREATE_PIPELINE with the console HostInfo and RemoteStreamOptions
  AddInvocationInfo); psrpcore's client pool only reads the answers.
"""

from __future__ import annotations

import base64
import re
import struct
import uuid
from pathlib import Path
from typing import Any
from xml.etree import ElementTree
from xml.sax.saxutils import escape, quoteattr

import httpx
import psrpcore
from psrpcore.types import PSInvocationState, PSRPMessageType, RunspacePoolState

from aobo.frontends.wsman import namespaces as ns
from tests import xpress_support
from tests.e2e.wsman_raw import q

#: Read in place beside the repository (``../shared``), as the other recorded exchanges are.
FIXTURE = (
    Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "windows-ps51" / "create-exchange2019.xml"
)
PS_VERSION = "5.1.19041.4522"
CAPTURED_SHELL_ID = "C0BF05B3-CA8F-40E2-BDF3-B393E52CC7C6"
USER_AGENT = "Microsoft WinRM Client"

CREATE_PIPELINE = PSRPMessageType.CreatePipeline.value
PIPELINE_INPUT = PSRPMessageType.PipelineInput.value
END_OF_PIPELINE_INPUT = PSRPMessageType.EndOfPipelineInput.value
GET_COMMAND_METADATA = PSRPMessageType.GetCommandMetadata.value
_FINAL = (PSInvocationState.Completed, PSInvocationState.Failed, PSInvocationState.Stopped)


def session_url(connection_uri: str) -> str:
    """The URL WinRM posts to: ``PSVersion`` appended with ``;`` after an existing query."""
    if "?" in connection_uri:
        return f"{connection_uri};PSVersion={PS_VERSION}"
    return f"{connection_uri.rstrip('/')}?PSVersion={PS_VERSION}"


# --------------------------------------------------------------------------------------- PSRP


def fragment(object_id: int, message: bytes) -> bytes:
    """One PSRP message as a single fragment (start and end)."""
    return struct.pack(">QQBI", object_id, 0, 3, len(message)) + message


def message(message_type: int, rpid: uuid.UUID, pid: uuid.UUID | None, clixml: str) -> bytes:
    # Destination 2 is the server; the data starts with a UTF-8 byte order mark, as .NET writes it.
    pid_bytes = (pid or uuid.UUID(int=0)).bytes_le
    data = b"\xef\xbb\xbf" + clixml.encode() if clixml else b""  # END_OF_PIPELINE_INPUT has none
    return struct.pack("<II", 2, message_type) + rpid.bytes_le + pid_bytes + data


def _enum(name: str, ref: int, type_name: str, text: str, value: int) -> str:
    return (
        f'<Obj N="{name}" RefId="{ref}"><TN RefId="{ref}"><T>{type_name}</T><T>System.Enum</T>'
        f"<T>System.ValueType</T><T>System.Object</T></TN><ToString>{text}</ToString><I32>{value}</I32></Obj>"
    )


def get_command_metadata_xml() -> str:
    """Import-PSSession's GET_COMMAND_METADATA: Name ``*``, CommandType 399 (All but Application,
    Script and ExternalScript, with 5.1's Workflow bit)."""
    return (
        '<Obj RefId="0"><MS>'
        '<Obj N="Name" RefId="1"><TN RefId="0"><T>System.String[]</T><T>System.Array</T><T>System.Object</T></TN>'
        "<LST><S>*</S></LST></Obj>"
        + _enum(
            "CommandType",
            2,
            "System.Management.Automation.CommandTypes",
            "Alias, Function, Filter, Cmdlet, Workflow, Configuration",
            399,
        )
        + '<Nil N="Namespace" /><Nil N="ArgumentList" /></MS></Obj>'
    )


class DotNetVersion(str):
    """A ``System.Version`` value (``-PowerShellVersion``)."""


def _value(name: str, value: Any) -> str:
    if isinstance(value, DotNetVersion):
        return f'<Version N="{name}">{value}</Version>'
    if value is None:
        return f'<Nil N="{name}" />'
    if isinstance(value, bool):
        return f'<B N="{name}">{str(value).lower()}</B>'
    if isinstance(value, int):
        return f'<I32 N="{name}">{value}</I32>'
    return f'<S N="{name}">{escape(str(value))}</S>'


_MERGES = (
    "MergeMyResult",
    "MergeToResult",
    "MergePreviousResults",
    "MergeError",
    "MergeWarning",
    "MergeVerbose",
    "MergeDebug",
    "MergeInformation",
)
_LIST_OF_PSOBJECT = (
    "<T>System.Collections.Generic.List`1[[System.Management.Automation.PSObject, System.Management.Automation, "
    "Version=3.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35]]</T><T>System.Object</T>"
)

Commands = list[tuple[str, dict[str, Any]]]


def _command_xml(index: int, command: str, parameters: dict[str, Any]) -> str:
    ref = 1000 + 100 * index  # RefIds unique across the message (the HostInfo uses 6-24)
    args = "".join(
        f'<Obj RefId="{ref + 50 + i}"><MS>{_value("N", name)}{_value("V", value)}</MS></Obj>'
        for i, (name, value) in enumerate(parameters.items())
    )
    merges = "".join(
        _enum(name, ref + 10 + i, "System.Management.Automation.Runspaces.PipelineResultTypes", "None", 0)
        for i, name in enumerate(_MERGES)
    )
    return (
        f'<Obj RefId="{ref}"><MS><S N="Cmd">{escape(command)}</S><B N="IsScript">false</B><Nil N="UseLocalScope" />'
        f'{merges}<Obj N="Args" RefId="{ref + 1}"><TN RefId="{ref + 1}">{_LIST_OF_PSOBJECT}</TN>'
        f"<LST>{args}</LST></Obj></MS></Obj>"
    )


def create_pipeline_xml(commands: Commands, *, no_input: bool, host_info: str) -> str:
    """Invoke-Command's CREATE_PIPELINE (``ScriptBlock.GetPowerShell`` of ``{Get-Mailbox}`` or of the
    implicit-remoting proxy's ``& $name @boundParams``): commands, not a script, the console host's
    HostInfo, RemoteStreamOptions AddInvocationInfo, merge settings all None."""
    cmds = "".join(_command_xml(i, name, parameters) for i, (name, parameters) in enumerate(commands))
    return (
        '<Obj RefId="0"><MS>'
        '<Obj N="PowerShell" RefId="100"><MS>'
        f'<Obj N="Cmds" RefId="101"><TN RefId="101">{_LIST_OF_PSOBJECT}</TN><LST>{cmds}</LST></Obj>'
        '<B N="IsNested">false</B><Nil N="History" /><B N="RedirectShellErrorOutputPipe">true</B>'
        "</MS></Obj>"
        f'<B N="NoInput">{str(no_input).lower()}</B>'
        + _enum("ApartmentState", 120, "System.Threading.ApartmentState", "Unknown", 2)
        + _enum("RemoteStreamOptions", 121, "System.Management.Automation.RemoteStreamOptions", "AddInvocationInfo", 15)
        + '<B N="AddToHistory">true</B>'
        + host_info
        + '<B N="IsNested">false</B></MS></Obj>'
    )


# --------------------------------------------------------------------------------------- the client


class WindowsPowerShell:
    """One 5.1 session: New-PSSession, pipelines as Import-PSSession and Invoke-Command run them,
    Remove-PSSession. ``compress`` False plays ``New-PSSessionOption -NoCompression``."""

    def __init__(
        self,
        connection_uri: str,
        user: str,
        password: str,
        *,
        verify: Any = True,
        compress: bool = True,
        timeout: float = 30.0,
    ) -> None:
        self.url = session_url(connection_uri)
        self.http = httpx.Client(verify=verify, timeout=timeout, auth=(user, password))
        self.compress = compress
        self.shell_id = str(uuid.uuid4()).upper()
        self.rpid = uuid.UUID(self.shell_id)
        self.session_id = f"uuid:{str(uuid.uuid4()).upper()}"
        self.sequence = 1
        self.object_id = 5  # the creationXml used 3 and 4
        self.pool = psrpcore.ClientRunspacePool(runspace_pool_id=self.rpid)
        self.pool.open()
        while self.pool.data_to_send() is not None:  # its own opening messages: 5.1's are sent instead
            pass
        self.created: ElementTree.Element | None = None  # the CreateResponse
        self.block_counts: list[int] = []  # blocks per received rsp:Stream
        self.compressed_sends = 0
        self.host_info = ""

    def close(self) -> None:
        self.http.close()

    # --- envelopes

    def envelope(self, action: str, body: str = "", *, options: str = "", selector: bool = True) -> bytes:
        self.sequence += 1
        selectors = (
            f'<w:SelectorSet><w:Selector Name="ShellId">{self.shell_id}</w:Selector></w:SelectorSet>'
            if selector
            else ""
        )
        return (
            f'<s:Envelope xmlns:s="{ns.SOAP}" xmlns:a="{ns.ADDRESSING}" xmlns:w="{ns.WSMAN}" xmlns:p="{ns.WSMV}">'
            f"<s:Header><a:To>{escape(self.url)}</a:To>"
            f'<w:ResourceURI s:mustUnderstand="true">{ns.EXCHANGE_RESOURCE_URI}</w:ResourceURI>'
            f'<a:ReplyTo><a:Address s:mustUnderstand="true">{ns.ANONYMOUS}</a:Address></a:ReplyTo>'
            f'<a:Action s:mustUnderstand="true">{action}</a:Action>'
            '<w:MaxEnvelopeSize s:mustUnderstand="true">512000</w:MaxEnvelopeSize>'
            f"<a:MessageID>uuid:{str(uuid.uuid4()).upper()}</a:MessageID>"
            '<w:Locale xml:lang="en-US" s:mustUnderstand="false" />'
            '<p:DataLocale xml:lang="en-US" s:mustUnderstand="false" />'
            f'<p:SessionId s:mustUnderstand="false">{self.session_id}</p:SessionId>'
            f'<p:OperationID s:mustUnderstand="false">uuid:{str(uuid.uuid4()).upper()}</p:OperationID>'
            f'<p:SequenceId s:mustUnderstand="false">{self.sequence}</p:SequenceId>'
            f"{selectors}{options}<w:OperationTimeout>PT180.000S</w:OperationTimeout></s:Header>"
            f"<s:Body>{body}</s:Body></s:Envelope>"
        ).encode()

    def post(self, body: bytes) -> httpx.Response:
        return self.http.post(
            self.url,
            content=body,
            headers={"Content-Type": "application/soap+xml;charset=UTF-8", "User-Agent": USER_AGENT},
        )

    def ok(self, body: bytes) -> ElementTree.Element:
        response = self.post(body)
        assert response.status_code == 200, (response.status_code, response.text[:2000])
        return ElementTree.fromstring(response.content)

    # --- New-PSSession

    def create_request(self) -> bytes:
        """The captured Create with this session's ids, URL and a fresh RunspacePool id."""
        text = FIXTURE.read_text(encoding="utf-8")
        creation_b64 = re.search(r"<creationXml[^>]*>([^<]+)</creationXml>", text)
        assert creation_b64 is not None
        creation = base64.b64decode(creation_b64.group(1))
        old_rpid = uuid.UUID(CAPTURED_SHELL_ID).bytes_le
        assert creation.count(old_rpid) == 2
        creation = creation.replace(old_rpid, self.rpid.bytes_le)
        host = re.search(
            rb'<Obj N="HostInfo" RefId="6">.*?<B N="_useRunspaceHost">false</B></MS></Obj>', creation, re.S
        )
        assert host is not None
        self.host_info = host.group(0).decode()
        text = text.replace(creation_b64.group(1), base64.b64encode(creation).decode())
        text = text.replace(CAPTURED_SHELL_ID, self.shell_id)
        text = re.sub(r"<a:To>[^<]*</a:To>", f"<a:To>{escape(self.url)}</a:To>", text)
        for header in ("a:MessageID", "p:SessionId", "p:OperationID"):
            text = re.sub(
                rf"(<{header}[^>]*>)uuid:[0-9A-F-]+(</{header}>)", rf"\1uuid:{str(uuid.uuid4()).upper()}\2", text
            )
        text = text.replace(f"uuid:{self.session_id[5:]}", self.session_id)
        if not self.compress:
            text = re.sub(r"<rsp:CompressionType[^>]*>xpress</rsp:CompressionType>", "", text)
        return text.encode()

    def open(self) -> ElementTree.Element:
        """Create, then the pool Receive Windows keeps parked until the pool is Opened."""
        self.created = self.ok(self.create_request())
        while self.pool.state != RunspacePoolState.Opened:
            self.feed(self.receive(None), None)
        return self.created

    # --- pipelines

    def receive(self, command_id: str | None) -> ElementTree.Element:
        cid = f" CommandId={quoteattr(command_id)}" if command_id else ""
        body = (
            f'<rsp:Receive xmlns:rsp="{ns.SHELL}" SequenceId="0">'
            f"<rsp:DesiredStream{cid}>stdout</rsp:DesiredStream></rsp:Receive>"
        )
        keep_alive = '<w:OptionSet><w:Option Name="WSMAN_CMDSHELL_OPTION_KEEPALIVE">TRUE</w:Option></w:OptionSet>'
        return self.ok(self.envelope(ns.ACTION_RECEIVE, body, options=keep_alive))

    def feed(self, response: ElementTree.Element, pid: uuid.UUID | None) -> list[psrpcore.PSRPEvent]:
        events = []
        for stream in response.iter(q(ns.SHELL, "Stream")):
            data = base64.b64decode(stream.text or "")
            if self.compress:
                self.block_counts.append(len(list(xpress_support.blocks(data))))
                data = xpress_support.unframe(data)
            self.pool.receive_data(psrpcore.PSRPPayload(data, psrpcore.StreamType.default, pid))
            while (event := self.pool.next_event()) is not None:
                events.append(event)
        return events

    def command(self, pid: uuid.UUID, arguments: bytes, history: str) -> str:
        command_id = str(pid).upper()
        body = (
            f'<rsp:CommandLine xmlns:rsp="{ns.SHELL}" CommandId="{command_id}">'
            f"<rsp:Command>{escape(history[:255] or ' ')}</rsp:Command>"
            f"<rsp:Arguments>{base64.b64encode(arguments).decode()}</rsp:Arguments></rsp:CommandLine>"
        )
        root = self.ok(self.envelope(ns.ACTION_COMMAND, body))
        assert root.findtext(f".//{q(ns.SHELL, 'CommandId')}") == command_id
        return command_id

    def send(self, command_id: str, data: bytes, stream: str = "stdin") -> None:
        if self.compress:
            framed = xpress_support.frame_like_windows(data)
            if any(n != len(block) for n, block in xpress_support.blocks(framed)):
                self.compressed_sends += 1
            data = framed
        body = (
            f'<rsp:Send xmlns:rsp="{ns.SHELL}"><rsp:Stream Name="{stream}" CommandId="{command_id}">'
            f"{base64.b64encode(data).decode()}</rsp:Stream></rsp:Send>"
        )
        self.ok(self.envelope(ns.ACTION_SEND, body))

    def signal_terminate(self, command_id: str) -> ElementTree.Element:
        body = (
            f'<rsp:Signal xmlns:rsp="{ns.SHELL}" CommandId="{command_id}"><rsp:Code>{ns.SIGNAL_TERMINATE}</rsp:Code>'
            "</rsp:Signal>"
        )
        return self.ok(self.envelope(ns.ACTION_SIGNAL, body))

    def next_object_id(self) -> int:
        self.object_id += 1
        return self.object_id - 1

    def start(self, kind: int, clixml: str, history: str, pid: uuid.UUID) -> str:
        """The Command that creates a pipeline; its CommandId."""
        return self.command(pid, fragment(self.next_object_id(), message(kind, self.rpid, pid, clixml)), history)

    def start_with_input(self, command: str, pid: uuid.UUID) -> str:
        """A pipeline that waits for piped input (nothing sent yet)."""
        clixml = create_pipeline_xml([(command, {})], no_input=False, host_info=self.host_info)
        return self.start(CREATE_PIPELINE, clixml, command, pid)

    def run(
        self,
        kind: int,
        clixml: str,
        history: str,
        *,
        input: list[str] | None = None,
        pid: uuid.UUID | None = None,
        answers: list[int] | None = None,
        terminate: bool = True,
    ) -> list[psrpcore.PSRPEvent]:
        """Command (then Sends of piped input), Receives until a final state, then Signal terminate
        unless ``terminate`` is false. Each host call (a -Confirm prompt) is answered with the next of
        ``answers``, as a PIPELINE_HOST_RESPONSE on the ``pr`` stream."""
        pid = pid or uuid.uuid4()
        ps = psrpcore.ClientPowerShell(self.pool, pipeline_id=pid)  # only reads the answers
        ps.state = PSInvocationState.Running
        command_id = self.start(kind, clixml, history, pid)
        if input is not None:
            # WinRM sends what the client queued: every input object in one Send, then the end marker.
            objects = b"".join(
                fragment(self.next_object_id(), message(PIPELINE_INPUT, self.rpid, pid, f"<S>{escape(value)}</S>"))
                for value in input
            )
            self.send(command_id, objects)
            self.send(command_id, fragment(self.next_object_id(), message(END_OF_PIPELINE_INPUT, self.rpid, pid, "")))
        pending = list(answers or [])
        events: list[psrpcore.PSRPEvent] = []
        while ps.state not in _FINAL:
            for event in self.feed(self.receive(command_id), pid):
                events.append(event)
                if isinstance(event, psrpcore.PipelineHostCallEvent):
                    ps.host_response(event.ci, pending.pop(0))
                    payload = self.pool.data_to_send()
                    assert payload is not None
                    self.send(command_id, payload.data, stream="pr")
        if terminate:
            self.signal_terminate(command_id)
        return events

    def get_command_metadata(self) -> list[psrpcore.PSRPEvent]:
        return self.run(GET_COMMAND_METADATA, get_command_metadata_xml(), "")

    def invoke(
        self, command: str, parameters: dict[str, Any] | None = None, *, input: list[str] | None = None, **run: Any
    ) -> list[psrpcore.PSRPEvent]:
        return self.invoke_pipeline([(command, parameters or {})], input=input, **run)

    def invoke_pipeline(
        self, commands: Commands, *, input: list[str] | None = None, **run: Any
    ) -> list[psrpcore.PSRPEvent]:
        """Invoke-Command's pipeline of ``commands``; ``run`` takes :meth:`run`'s keywords."""
        clixml = create_pipeline_xml(commands, no_input=input is None, host_info=self.host_info)
        return self.run(CREATE_PIPELINE, clixml, " | ".join(name for name, _ in commands), input=input, **run)

    # --- Remove-PSSession

    def delete(self) -> httpx.Response:
        return self.post(self.envelope(ns.ACTION_DELETE))
