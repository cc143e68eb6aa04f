"""Replay requests recorded against real Windows hosts and compare the *shape* of aobo's answers.

The recordings are pypsrp's (``shared/fixtures/pypsrp-recordings``): each message holds the SOAP
request pypsrp sent and the SOAP response Windows gave. We send the recorded requests to aobo in
order, with the ResourceURI rewritten to the Exchange configuration, fresh MessageIDs and the
ShellId/CommandIds aobo hands back, and keep the recorded PSRP bytes (creationXml, Arguments,
Send data) exactly as a real client produced them. The commands inside are Windows PowerShell
ones that aobo may not have; PSRP *content* is therefore not compared, only:

* the SOAP Action of every response;
* the set of SOAP header elements (namespace-qualified);
* the Body's element tree: qualified tag names and attribute names, recursively, ignoring text;
* the PSRP framing of every stream aobo sends (object ids, fragment ids, flags, destination,
  RPID and PID), checked against the same rules the Windows responses obey.

Known, deliberate differences are listed in :data:`ALLOWED_DIFFERENCES` and applied as
normalisations, so anything else that differs fails the test.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import httpx
import pytest
import yaml
from psrpcore.types import PSRPMessageType

from aobo.domain.seed import seed_demo
from aobo.domain.store import Store
from aobo.frontends.wsman import namespaces as ns
from aobo.server import BackgroundServer
from aobo.settings import Settings
from tests.e2e import wsman_raw as raw
from tests.e2e.wsman_raw import q

REPO = Path(__file__).resolve().parents[2]
RECORDINGS = REPO.parent / "shared" / "fixtures" / "pypsrp-recordings"

PASSWORD = "Conformance-Password-1!"
ACCOUNT = "admin@contoso.onmicrosoft.com"

#: The recordings replayed, each a Windows PowerShell 5.1 host answering pypsrp 0.x.
REPLAYED = [
    # Create, then the pool Receives that deliver SESSION_CAPABILITY, private data and the Opened state.
    "test_psrp_open_runspace.yml",
    # Command, Send with pipeline input (PIPELINE_INPUT x3 + END_OF_PIPELINE_INPUT), Receive, Delete.
    "test_psrp_run_protocol_version_2.3.yml",
    # Three GET_COMMAND_METADATA pipelines.
    "test_psrp_get_command_metadata.yml",
    # Two invocations of one pipeline id, each closed with Signal .../signal/Terminate.
    "test_psrp_multiple_invocations.yml",
]

ZERO = uuid.UUID(int=0)
SHELL_SHELL = q(ns.SHELL, "Shell")
ACTIVITY_ID = q(ns.WSMV, "ActivityId")

#: Differences between Windows and aobo that are known and deliberate. Each is applied as a
#: normalisation of the element trees before they are compared.
ALLOWED_DIFFERENCES = {
    "activity-id": "p:ActivityId is a Windows diagnostic (ETW) header; aobo has no event tracing to correlate with.",
    "process-id": "rsp:Shell/rsp:ProcessId is the id of the Windows wsmprovhost process; aobo runs no process "
    "per shell.",
    "stream-count": "Windows sends one rsp:Stream per PSRP message, aobo one per queued chunk of fragments; "
    "both are valid and clients concatenate the streams, so runs of identical siblings compare as one.",
    "running-state": "aobo answers a pipeline Receive as soon as data is ready, before the pipeline ends; such a "
    "response carries CommandState .../Running without rsp:ExitCode (the recordings only hold final ones).",
    "no-stream-when-done": "when all of a pipeline's data went out in earlier Receives, the final one carries "
    "only rsp:CommandState Done, with no rsp:Stream.",
}
#: A pool Receive whose recorded PSRP messages aobo already delivered is not sent (it would block
#: until OperationTimeout): Windows split the open replies over two Receives, aobo sends all three
#: in the first. OperationTimeout is also lowered to PT5S so that a mistake fails fast.
SKIP_REASON = "aobo delivered these messages in an earlier Receive"


def recording(name: str) -> list[dict[str, str]]:
    path = RECORDINGS / name
    if not path.exists():
        pytest.skip(f"pypsrp recording {path} is not available (expected beside the repository in ../shared)")
    return yaml.safe_load(path.read_text())["messages"]


# --------------------------------------------------------------------------------------- structure


Shape = tuple[str, tuple[str, ...], tuple[Any, ...]]


def shape(el: ElementTree.Element) -> Shape:
    """Qualified tag, sorted attribute names, children shapes (runs of equal siblings collapsed)."""
    children: list[Shape] = []
    for child in el:
        s = shape(child)
        if not children or children[-1] != s:  # ALLOWED_DIFFERENCES["stream-count"]
            children.append(s)
    return el.tag, tuple(sorted(el.attrib)), tuple(children)


def render(s: Shape, depth: int = 0) -> list[str]:
    tag, attrs, children = s
    line = "  " * depth + tag + (f" @{','.join(attrs)}" if attrs else "")
    return [line] + [row for child in children for row in render(child, depth + 1)]


def header_names(root: ElementTree.Element) -> set[str]:
    header = root.find(q(ns.SOAP, "Header"))
    assert header is not None
    return {child.tag for child in header} - {ACTIVITY_ID}  # ALLOWED_DIFFERENCES["activity-id"]


def normalised_bodies(recorded: ElementTree.Element, got: ElementTree.Element) -> tuple[Shape, Shape]:
    recorded_body = copy.deepcopy(recorded.find(q(ns.SOAP, "Body")))
    got_body = copy.deepcopy(got.find(q(ns.SOAP, "Body")))
    assert recorded_body is not None and got_body is not None
    for shell in recorded_body.iter(SHELL_SHELL):  # ALLOWED_DIFFERENCES["process-id"]
        for pid in shell.findall(q(ns.SHELL, "ProcessId")):
            shell.remove(pid)
    got_receive = got_body.find(q(ns.SHELL, "ReceiveResponse"))
    recorded_receive = recorded_body.find(q(ns.SHELL, "ReceiveResponse"))
    if got_receive is not None and recorded_receive is not None:
        state = got_receive.find(q(ns.SHELL, "CommandState"))
        recorded_state = recorded_receive.find(q(ns.SHELL, "CommandState"))
        if state is not None and recorded_state is not None and state.get("State") == ns.COMMAND_STATE_RUNNING:
            for code in recorded_state.findall(q(ns.SHELL, "ExitCode")):  # ALLOWED_DIFFERENCES["running-state"]
                recorded_state.remove(code)
        if (
            state is not None
            and state.get("State") == ns.COMMAND_STATE_DONE
            and got_receive.find(q(ns.SHELL, "Stream")) is None
        ):
            for stream in recorded_receive.findall(q(ns.SHELL, "Stream")):  # ALLOWED_DIFFERENCES["no-stream-when-done"]
                recorded_receive.remove(stream)
    return shape(recorded_body), shape(got_body)


# --------------------------------------------------------------------------------------- PSRP framing


@dataclasses.dataclass(frozen=True)
class StreamData:
    """One rsp:Stream as received: its PSRP target (None: the pool) and its bytes."""

    target: uuid.UUID | None
    data: bytes


def framing_problems(streams: list[StreamData], rpid: uuid.UUID) -> list[str]:
    """Everything wrong with the server-to-client PSRP framing of a whole session, in arrival order.

    Object ids are unique per direction; a message's fragments have ids 0, 1, 2... with the start
    flag exactly on the first and the end flag exactly on the last, all on one target; every
    message is for the client (destination 1), carries the pool's RPID (SESSION_CAPABILITY may
    carry an all-zero one: Windows sends that) and the PID of its pipeline (all-zero on the pool).
    """
    problems: list[str] = []
    owner: dict[int, uuid.UUID | None] = {}
    pending: dict[int, list[raw.Fragment]] = {}
    for stream in streams:
        try:
            frags = raw.fragments(stream.data)
        except AssertionError as exc:
            problems.append(f"undecodable stream for {stream.target}: {exc}")
            continue
        for frag in frags:
            oid = frag.object_id
            if frag.fragment_id == 0:
                if oid in owner:
                    problems.append(f"object id {oid} used twice")
                owner[oid] = stream.target
                pending[oid] = []
            elif oid not in pending:
                problems.append(f"fragment {frag.fragment_id} of object {oid} without a first fragment")
                continue
            elif owner[oid] != stream.target:
                problems.append(f"object {oid} split across targets {owner[oid]} and {stream.target}")
            parts = pending[oid]
            if frag.fragment_id != len(parts):
                problems.append(f"object {oid}: fragment id {frag.fragment_id}, expected {len(parts)}")
            if frag.start != (frag.fragment_id == 0):
                problems.append(f"object {oid} fragment {frag.fragment_id}: start flag {frag.start}")
            parts.append(frag)
            if not frag.end:
                continue
            (message,) = raw.reassemble(parts)
            del pending[oid]
            kind = PSRPMessageType(message.message_type).name
            if message.destination != 1:
                problems.append(f"{kind} (object {oid}) has destination {message.destination}")
            if message.rpid != rpid and not (
                message.message_type == PSRPMessageType.SessionCapability and message.rpid == ZERO
            ):
                problems.append(f"{kind} (object {oid}) has RPID {message.rpid}, expected {rpid}")
            expected_pid = stream.target or ZERO
            if message.pid != expected_pid:
                problems.append(f"{kind} (object {oid}) has PID {message.pid}, expected {expected_pid}")
    problems += [f"object {oid} never got its end fragment" for oid in pending]
    return problems


def message_types(streams: list[StreamData], target: uuid.UUID | None) -> list[str]:
    frags = [f for s in streams if s.target == target for f in raw.fragments(s.data)]
    return [PSRPMessageType(m.message_type).name for m in raw.reassemble(frags)]


def psrp_ids(arguments_text: str) -> tuple[uuid.UUID, uuid.UUID]:
    """(RPID, PID) of the first message in base64 PSRP data sent by a client."""
    data = base64.b64decode(arguments_text)
    return uuid.UUID(bytes_le=data[29:45]), uuid.UUID(bytes_le=data[45:61])


def windows_streams(messages: list[dict[str, str]]) -> tuple[list[StreamData], uuid.UUID]:
    """The server-to-client streams of a recording, as :func:`framing_problems` wants them."""
    pids: dict[str, uuid.UUID] = {}
    streams: list[StreamData] = []
    rpid = ZERO
    for message in messages:
        request = ElementTree.fromstring(message["request"])
        creation = request.find(f".//{q(ns.POWERSHELL, 'creationXml')}")
        if creation is not None:
            rpid, _ = psrp_ids(creation.text or "")
        line = request.find(f".//{q(ns.SHELL, 'CommandLine')}")
        if line is not None:
            pids[(line.get("CommandId") or "").upper()] = psrp_ids(line.findtext(q(ns.SHELL, "Arguments")) or "")[1]
        response = ElementTree.fromstring(message["response"])
        for stream in response.iter(q(ns.SHELL, "Stream")):
            cid = stream.get("CommandId")
            streams.append(StreamData(pids[cid.upper()] if cid else None, base64.b64decode(stream.text or "")))
    return streams, rpid


# --------------------------------------------------------------------------------------- replay


@dataclasses.dataclass
class Exchange:
    index: int  # position of the message in the recording
    action: str
    message_id: str
    max_envelope_size: int
    recorded: ElementTree.Element
    response: httpx.Response

    @property
    def got(self) -> ElementTree.Element:
        return ElementTree.fromstring(self.response.content)


@dataclasses.dataclass
class Replay:
    name: str
    exchanges: list[Exchange] = dataclasses.field(default_factory=list)
    skipped: list[int] = dataclasses.field(default_factory=list)
    streams: list[StreamData] = dataclasses.field(default_factory=list)
    rpid: uuid.UUID = ZERO
    pids: dict[str, uuid.UUID] = dataclasses.field(default_factory=dict)  # aobo CommandId -> PSRP PID


class Replayer:
    def __init__(self, client: raw.RawClient, name: str) -> None:
        self.client = client
        self.replay = Replay(name)
        self.shell_ids: dict[str, str] = {}  # recorded ShellId -> aobo's
        self.command_ids: dict[str, str] = {}  # recorded CommandId -> aobo's
        self.pool_messages: list[str] = []  # PSRP message types aobo sent to the pool so far

    def run(self) -> Replay:
        try:
            for index, message in enumerate(recording(self.replay.name)):
                self.step(index, message)
        finally:
            for shell_id in self.shell_ids.values():  # a failed replay must not leave its shell behind
                self.client.delete(shell_id)
        return self.replay

    def step(self, index: int, message: dict[str, str]) -> None:
        request = ElementTree.fromstring(message["request"])
        recorded = ElementTree.fromstring(message["response"])
        header = request.find(q(ns.SOAP, "Header"))
        assert header is not None
        action = header.findtext(q(ns.ADDRESSING, "Action")) or ""
        self.rewrite(request)
        if action == ns.ACTION_RECEIVE:
            self.receive(index, request, recorded)
            return
        exchange = self.send(index, action, request, recorded)
        if exchange.response.status_code != 200:
            return
        got = exchange.got
        if action == ns.ACTION_CREATE:
            shell = request.find(f".//{SHELL_SHELL}")
            assert shell is not None
            new_id = got.findtext(f".//{SHELL_SHELL}/{q(ns.SHELL, 'ShellId')}") or ""
            self.shell_ids[(shell.get("ShellId") or "").upper()] = new_id
            self.replay.rpid, _ = psrp_ids(request.findtext(f".//{q(ns.POWERSHELL, 'creationXml')}") or "")
        elif action == ns.ACTION_COMMAND:
            line = request.find(f".//{q(ns.SHELL, 'CommandLine')}")
            assert line is not None
            new_id = got.findtext(f".//{q(ns.SHELL, 'CommandId')}") or ""
            self.command_ids[(line.get("CommandId") or "").upper()] = new_id
            self.replay.pids[new_id.upper()] = psrp_ids(line.findtext(q(ns.SHELL, "Arguments")) or "")[1]
        elif action == ns.ACTION_DELETE:
            for recorded_id, shell_id in list(self.shell_ids.items()):
                if shell_id.upper() == (request.findtext(f".//{q(ns.WSMAN, 'Selector')}") or "").upper():
                    del self.shell_ids[recorded_id]

    def rewrite(self, request: ElementTree.Element) -> None:
        header = request.find(q(ns.SOAP, "Header"))
        assert header is not None
        for el in header.iter():
            if el.tag == q(ns.WSMAN, "ResourceURI"):
                el.text = ns.EXCHANGE_RESOURCE_URI
            elif el.tag == q(ns.WSMAN, "OperationTimeout"):
                el.text = "PT5S"
            elif el.tag == q(ns.ADDRESSING, "To"):
                el.text = self.client.url
            elif el.tag == q(ns.WSMAN, "Selector") and el.get("Name") == "ShellId":
                el.text = self.shell_ids.get((el.text or "").upper(), el.text)
        body = request.find(q(ns.SOAP, "Body"))
        assert body is not None
        for el in body.iter():
            cid = el.get("CommandId")
            if cid and el.tag != q(ns.SHELL, "CommandLine"):
                el.set("CommandId", self.command_ids.get(cid.upper(), cid))

    def send(self, index: int, action: str, request: ElementTree.Element, recorded: ElementTree.Element) -> Exchange:
        header = request.find(q(ns.SOAP, "Header"))
        assert header is not None
        message_id = header.find(q(ns.ADDRESSING, "MessageID"))
        assert message_id is not None
        message_id.text = raw.new_message_id()
        response = self.client.post(ElementTree.tostring(request))
        exchange = Exchange(
            index,
            action,
            message_id.text,
            int(header.findtext(q(ns.WSMAN, "MaxEnvelopeSize")) or 0),
            recorded,
            response,
        )
        self.replay.exchanges.append(exchange)
        return exchange

    def receive(self, index: int, request: ElementTree.Element, recorded: ElementTree.Element) -> None:
        desired = request.find(f".//{q(ns.SHELL, 'DesiredStream')}")
        command_id = desired.get("CommandId") if desired is not None else None
        if command_id is None:
            expected = [
                PSRPMessageType(m.message_type).name
                for s in recorded.iter(q(ns.SHELL, "Stream"))
                for m in raw.reassemble(raw.fragments(base64.b64decode(s.text or "")))
            ]
            if all(kind in self.pool_messages for kind in expected):
                self.replay.skipped.append(index)  # SKIP_REASON
                return
        target = self.replay.pids[command_id.upper()] if command_id else None
        for _ in range(50):  # a pipeline Receive is repeated until CommandState Done
            exchange = self.send(index, ns.ACTION_RECEIVE, request, recorded)
            if exchange.response.status_code != 200:
                return
            result = raw.received(exchange.response.content)
            for _, data in result.streams:
                self.replay.streams.append(StreamData(target, data))
            if command_id is None:
                self.pool_messages[:] = message_types(self.replay.streams, None)
                return
            if result.done:
                return
        raise AssertionError(f"{command_id} never reached CommandState Done")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundServer]:
    # One plain-HTTP server: the transport does not change envelopes (tests/e2e covers both).
    data = tmp_path_factory.mktemp("aobo-conformance")
    store = Store.open(f"sqlite:///{data / 'aobo.db'}")
    store.migrate()
    seed_demo(store, PASSWORD)
    try:
        with BackgroundServer(Settings(data_dir=data, insecure_http=True), store) as background:
            yield background
    finally:
        store.close()


@pytest.fixture(scope="module")
def client(server: BackgroundServer) -> Iterator[raw.RawClient]:
    with raw.RawClient(server.url, ACCOUNT, PASSWORD) as c:
        yield c


@pytest.fixture(scope="module", params=REPLAYED)
def replay(request: pytest.FixtureRequest, client: raw.RawClient, server: BackgroundServer) -> Replay:
    result = Replayer(client, request.param).run()
    assert server.app.state.wsman.shells.count() == 0, "the replay left a shell open"
    return result


# --------------------------------------------------------------------------------------- tests


def test_every_replayed_request_succeeds_and_relates_to_its_message_id(replay: Replay) -> None:
    assert replay.exchanges
    for ex in replay.exchanges:
        assert ex.response.status_code == 200, (ex.index, ex.action, ex.response.text[:1500])
        assert raw.header_text(ex.got, ns.ADDRESSING, "RelatesTo") == ex.message_id
        assert raw.header_text(ex.got, ns.ADDRESSING, "To") == ns.ANONYMOUS


def test_response_actions_and_headers_match_windows(replay: Replay) -> None:
    for ex in replay.exchanges:
        assert raw.header_text(ex.got, ns.ADDRESSING, "Action") == raw.header_text(
            ex.recorded, ns.ADDRESSING, "Action"
        ), ex.index
        assert header_names(ex.got) == header_names(ex.recorded), ex.index


def test_response_bodies_have_the_windows_shape(replay: Replay) -> None:
    for ex in replay.exchanges:
        recorded, got = normalised_bodies(ex.recorded, ex.got)
        assert render(got) == render(recorded), f"{replay.name} message {ex.index} ({ex.action})"


def test_responses_fit_the_requested_envelope_size(replay: Replay) -> None:
    for ex in replay.exchanges:
        assert len(ex.response.content) <= ex.max_envelope_size, (ex.index, ex.action)


def test_only_pool_receives_whose_data_came_earlier_were_skipped(replay: Replay) -> None:
    # The skip exists for one reason only (SKIP_REASON): the second Receive of the pool's opening.
    messages = recording(replay.name)
    for index in replay.skipped:
        assert ns.ACTION_RECEIVE in messages[index]["request"]
        assert "CommandId=" not in messages[index]["request"].split("<s:Body>", 1)[1]
    assert len(replay.skipped) <= 1


def test_psrp_framing_of_everything_aobo_sent(replay: Replay) -> None:
    assert replay.streams
    assert framing_problems(replay.streams, replay.rpid) == []
    # Every pipeline the replay created answered on its own target, with its own PID.
    assert {s.target for s in replay.streams} == {None, *replay.pids.values()}


def test_pool_opens_with_the_same_psrp_messages_as_windows(replay: Replay) -> None:
    windows, _ = windows_streams(recording(replay.name))
    assert (
        message_types(replay.streams, None)
        == message_types(windows, None)
        == [
            "SessionCapability",
            "ApplicationPrivateData",
            "RunspacePoolState",
        ]
    )


def test_every_pipeline_ends_with_a_pipeline_state_message(replay: Replay) -> None:
    for pid in replay.pids.values():
        kinds = message_types(replay.streams, pid)
        assert kinds and kinds[-1] == "PipelineState", (pid, kinds)


@pytest.mark.parametrize("name", [*REPLAYED, "test_psrp_small_msg_size.yml"])
def test_framing_checker_accepts_what_windows_sent(name: str) -> None:
    # The invariants above are Windows' own: the checker finds nothing wrong in the recordings.
    streams, rpid = windows_streams(recording(name))
    assert streams and rpid != ZERO
    assert framing_problems(streams, rpid) == []


def test_structure_comparison_allows_only_the_listed_differences() -> None:
    windows = ElementTree.fromstring(recording("test_psrp_open_runspace.yml")[0]["response"])

    def without(tag: str) -> ElementTree.Element:
        tree = copy.deepcopy(windows)
        for parent in tree.iter():
            for child in parent.findall(q(ns.SHELL, tag)):
                parent.remove(child)
        return tree

    recorded, got = normalised_bodies(windows, without("ProcessId"))  # ALLOWED_DIFFERENCES["process-id"]
    assert recorded == got
    recorded, got = normalised_bodies(windows, without("Owner"))
    assert recorded != got
    renamed = copy.deepcopy(windows)
    selector = renamed.find(f".//{q(ns.WSMAN, 'Selector')}")
    assert selector is not None
    selector.set("Id", selector.attrib.pop("Name"))
    assert normalised_bodies(windows, renamed)[0] != normalised_bodies(windows, renamed)[1]
    assert header_names(windows) == {
        q(ns.ADDRESSING, "Action"),
        q(ns.ADDRESSING, "MessageID"),
        q(ns.ADDRESSING, "To"),
        q(ns.ADDRESSING, "RelatesTo"),
    }


def test_framing_checker_catches_broken_framing() -> None:
    rpid, pid = uuid.uuid4(), uuid.uuid4()

    def fragment(oid: int, fid: int, flags: int, message_type: int, blob_pid: uuid.UUID = ZERO) -> bytes:
        blob = (1).to_bytes(4, "little") + message_type.to_bytes(4, "little") + rpid.bytes_le + blob_pid.bytes_le
        return oid.to_bytes(8, "big") + fid.to_bytes(8, "big") + bytes([flags]) + len(blob).to_bytes(4, "big") + blob

    state = PSRPMessageType.RunspacePoolState.value
    output = PSRPMessageType.PipelineOutput.value
    assert framing_problems([StreamData(None, fragment(1, 0, 3, state))], rpid) == []
    assert "object id 1 used twice" in framing_problems([StreamData(None, fragment(1, 0, 3, state) * 2)], rpid)
    assert any(
        "expected 1" in p
        for p in framing_problems([StreamData(None, fragment(1, 0, 1, state) + fragment(1, 2, 2, state))], rpid)
    )
    assert any("PID" in p for p in framing_problems([StreamData(pid, fragment(1, 0, 3, output))], rpid))
    assert any("never got" in p for p in framing_problems([StreamData(None, fragment(1, 0, 1, state))], rpid))


@pytest.mark.parametrize("max_envelope_size", [8192, 32768])
def test_receive_responses_fit_a_small_max_envelope_size(client: raw.RawClient, max_envelope_size: int) -> None:
    # Windows honours the client's MaxEnvelopeSize (test_psrp_small_msg_size.yml: 32768-byte envelopes get
    # their messages spread over several Receives). A response may exceed it only when it carries a single
    # fragment that is larger on its own.
    shell_id, psrp = client.open_shell()
    try:
        ps, arguments = psrp.powershell("Get-Mailbox", ResultSize=40)
        command_id = client.command(shell_id, arguments)
        oversized = []
        # 40 mailboxes of ~14 KB through 3 KB Receives take about 200 of them.
        for _ in range(2000):
            response = client.post(
                raw.envelope(
                    ns.ACTION_RECEIVE,
                    raw.receive_body(command_id),
                    shell_id=shell_id,
                    max_envelope_size=max_envelope_size,
                )
            )
            assert response.status_code == 200, response.text[:1000]
            result = raw.received(response.content)
            psrp.feed(result.data, ps.pipeline_id)
            if len(response.content) > max_envelope_size and len(raw.fragments(result.data)) > 1:
                oversized.append(len(response.content))
            if result.done:
                break
        assert result.done
        assert len([e for e in psrp.events if type(e).__name__ == "PipelineOutputEvent"]) == 40
        assert oversized == []
    finally:
        client.delete(shell_id)
