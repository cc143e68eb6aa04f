"""The sans-IO WS-Man client, checked against the server's own parser and renderers (a test may import them)."""

from __future__ import annotations

import base64
import re
import struct
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from aobo.frontends.wsman import namespaces as server_ns
from aobo.frontends.wsman import responses as server_responses
from aobo.frontends.wsman.envelope import parse_request
from aobo.frontends.wsman.faults import FaultCode, access_denied, render_fault, timed_out
from aobo.frontends.wsman.faults import WSManFault as ServerFault
from aobo.frontends.wsman.shells import max_concurrency_message
from aobo.toolkit import wsman
from aobo.toolkit.errors import AuthError, BudgetError, ConnectError, SessionLimitError, WSManFault
from aobo.toolkit.session import _Defragmenter, endpoint_url

TO = "https://127.0.0.1:8443/powershell-liveid?DelegatedOrg=contoso.onmicrosoft.com"
SHELL_ID = "76056A84-51DC-4F24-9262-CA2A55464B2B"


def test_namespaces_and_actions_match_the_server() -> None:
    assert wsman.ACTION_CREATE == server_ns.ACTION_CREATE
    assert wsman.ACTION_RECEIVE == server_ns.ACTION_RECEIVE
    assert wsman.ACTION_SIGNAL == server_ns.ACTION_SIGNAL
    assert wsman.EXCHANGE_RESOURCE_URI == server_ns.EXCHANGE_RESOURCE_URI
    assert wsman.COMMAND_STATE_DONE == server_ns.COMMAND_STATE_DONE
    assert wsman.SIGNAL_CTRL_C in server_ns.SIGNAL_CTRL_C
    assert wsman.SIGNAL_TERMINATE == server_ns.SIGNAL_TERMINATE


def test_create_envelope_as_the_server_reads_it() -> None:
    request = wsman.create(TO, b"\x00creation", shell_id=SHELL_ID, operation_timeout=20)
    parsed = parse_request(request.body)
    assert parsed.action == server_ns.ACTION_CREATE
    assert parsed.message_id == request.message_id and request.message_id.startswith("uuid:")
    assert parsed.resource_uri == server_ns.EXCHANGE_RESOURCE_URI
    assert parsed.options == {"protocolversion": "2.3"}
    assert parsed.max_envelope_size == 512_000
    assert parsed.operation_timeout == 20.0
    shell = parsed.first(server_ns.SHELL, "Shell")
    assert shell is not None and shell.get("ShellId") == SHELL_ID
    creation = shell.find(f"{{{server_ns.POWERSHELL}}}creationXml")
    assert creation is not None and base64.b64decode(creation.text or "") == b"\x00creation"
    assert b"<wsa:To>https://127.0.0.1:8443/powershell-liveid?DelegatedOrg=contoso.onmicrosoft.com</wsa:To>" in (
        request.body
    )


def test_command_receive_signal_delete_envelopes() -> None:
    cmd = parse_request(wsman.command(TO, SHELL_ID, "C1", b"args").body)
    line = cmd.first(server_ns.SHELL, "CommandLine")
    assert cmd.shell_id == SHELL_ID and line is not None and line.get("CommandId") == "C1"
    assert base64.b64decode(line.findtext(f"{{{server_ns.SHELL}}}Arguments") or "") == b"args"

    rcv = parse_request(wsman.receive(TO, SHELL_ID, "C1", operation_timeout=5, max_envelope_size=153600).body)
    desired = rcv.first(server_ns.SHELL, "Receive").find(f"{{{server_ns.SHELL}}}DesiredStream")  # type: ignore[union-attr]
    assert desired is not None and desired.get("CommandId") == "C1" and desired.text == "stdout"
    assert rcv.operation_timeout == 5.0 and rcv.max_envelope_size == 153600
    pool_rcv = parse_request(wsman.receive(TO, SHELL_ID).body)
    pool_desired = pool_rcv.first(server_ns.SHELL, "Receive").find(f"{{{server_ns.SHELL}}}DesiredStream")  # type: ignore[union-attr]
    assert pool_desired is not None and pool_desired.get("CommandId") is None

    sig = parse_request(wsman.signal(TO, SHELL_ID, "C1").body)
    signal = sig.first(server_ns.SHELL, "Signal")
    assert signal is not None and signal.get("CommandId") == "C1"
    assert signal.findtext(f"{{{server_ns.SHELL}}}Code") == server_ns.SIGNAL_TERMINATE

    dele = parse_request(wsman.delete(TO, SHELL_ID).body)
    assert dele.action == server_ns.ACTION_DELETE and dele.shell_id == SHELL_ID

    send = parse_request(wsman.send(TO, SHELL_ID, b"more", command_id="C1").body)
    stream = send.first(server_ns.SHELL, "Send").find(f"{{{server_ns.SHELL}}}Stream")  # type: ignore[union-attr]
    assert stream is not None and stream.get("CommandId") == "C1" and base64.b64decode(stream.text or "") == b"more"


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=40))
def test_to_and_ids_are_escaped(text: str) -> None:
    parsed = parse_request(wsman.signal(f"https://h/p?x={text}", text or "S", text or "C").body)
    signal = parsed.first(server_ns.SHELL, "Signal")
    assert signal is not None and signal.get("CommandId") == (text or "C")
    assert parsed.selectors["ShellId"] == (text or "S").strip()


def _request(action: str = server_ns.ACTION_RECEIVE) -> object:
    return parse_request(wsman.envelope(action, to=TO, shell_id=SHELL_ID).body)


def test_create_response_gives_the_shell_id() -> None:
    info = server_responses.ShellInfo(SHELL_ID, server_ns.EXCHANGE_RESOURCE_URI, "a@b", "127.0.0.1", 900.0)
    data = server_responses.create_response(_request(server_ns.ACTION_CREATE), TO, info)  # type: ignore[arg-type]
    assert wsman.shell_id_of(wsman.check(data)) == SHELL_ID


def test_command_response_gives_the_command_id() -> None:
    data = server_responses.command_response(_request(server_ns.ACTION_COMMAND), "ABC")  # type: ignore[arg-type]
    assert wsman.command_id_of(wsman.check(data)) == "ABC"


@given(
    chunks=st.lists(st.binary(max_size=300), max_size=5),
    command_id=st.one_of(st.none(), st.uuids().map(lambda u: str(u).upper())),
    done=st.booleans(),
)
def test_receive_response_round_trip(chunks: list[bytes], command_id: str | None, done: bool) -> None:
    data = server_responses.receive_response(_request(), chunks, command_id, done)  # type: ignore[arg-type]
    received = wsman.parse_receive(data)
    assert received.data_for(command_id) == b"".join(chunks)
    assert [s.data for s in received.streams] == ([b"".join(chunks)] if chunks else [])  # one stream per response
    assert received.done == bool(command_id and done)
    if command_id and done:
        assert received.exit_code == 0


def _fault(fault: ServerFault) -> bytes:
    return render_fault(fault, "uuid:X")


def test_max_concurrency_fault_is_a_session_limit_error_with_exchanges_text() -> None:
    reason = max_concurrency_message(3, "admin@northwindit.onmicrosoft.com")
    fault = ServerFault(FaultCode.QUOTA_MAX_SHELLS, reason, subcode="w:QuotaLimit")
    with pytest.raises(SessionLimitError) as info:
        wsman.check(_fault(fault))
    err = info.value
    assert err.retryable and err.code == FaultCode.QUOTA_MAX_SHELLS and err.subcode == "w:QuotaLimit"
    assert (
        "Fail to create a runspace because you have exceeded the maximum number of connections allowed : 3 "
        "for the policy party : MaxConcurrency."
    ) in str(err)
    assert err.machine == "aobo"


def test_access_denied_fault_is_an_auth_error() -> None:
    with pytest.raises(AuthError) as info:
        wsman.check(_fault(access_denied()))
    assert str(info.value) == "Access is denied." and info.value.fault is not None


def test_timed_out_fault_is_recognised() -> None:
    with pytest.raises(WSManFault) as info:
        wsman.parse_receive(_fault(timed_out()))
    assert info.value.timed_out and not isinstance(info.value, SessionLimitError)


def test_budget_text_is_a_budget_error() -> None:
    fault = wsman.classify_fault(0x80338029 + 1, "Fail to create a runspace because you have exceeded your budget to")
    assert isinstance(fault, BudgetError) and fault.retryable


@pytest.mark.parametrize(
    "data",
    [
        b"not xml",
        b'<!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>',
        b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"/>',
    ],
)
def test_bad_responses_are_connect_errors(data: bytes) -> None:
    with pytest.raises(ConnectError):
        wsman.parse_receive(data)


# ------------------------------------------------------------------------------------------------ fast Receive scan

RECORDINGS = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "pypsrp-recordings"

_SHELL_DECL = f'xmlns:rsp="{server_ns.SHELL}"'.encode()


def _vary(data: bytes, *, prefix: str, names: list[str], ends: list[bool], exit_code: str | None) -> bytes:
    """A server ReceiveResponse reshaped as other writers (Windows) spell it: prefix, Name, End, ExitCode."""
    head, sep, rest = data.partition(b"<rsp:ReceiveResponse>")
    body, sep2, tail = rest.partition(b"</rsp:ReceiveResponse>")
    parts = body.split(b"<rsp:Stream ")
    out = [parts[0]]
    for i, part in enumerate(parts[1:]):
        part = part.replace(b'Name="stdout"', f'Name="{names[i % len(names)]}"'.encode(), 1)
        if ends[i % len(ends)]:
            part = part.replace(b">", b' End="true">', 1)
        out.append(b"<rsp:Stream " + part)
    body = b"".join(out)
    if exit_code is None:
        body = body.replace(b"<rsp:ExitCode>0</rsp:ExitCode>", b"")
    else:
        body = body.replace(b"<rsp:ExitCode>0</rsp:ExitCode>", f"<rsp:ExitCode>{exit_code}</rsp:ExitCode>".encode())
    data = head + sep + body + sep2 + tail
    if prefix == "":  # the shell namespace as the default one, declared on the ReceiveResponse
        data = data.replace(
            b"<rsp:ReceiveResponse>", f'<rsp:ReceiveResponse xmlns="{server_ns.SHELL}">'.encode()
        ).replace(b"<rsp:ReceiveResponse", b"<ReceiveResponse", 1)
        inner_start = data.index(b"<ReceiveResponse")
        inner = data[inner_start:].replace(b"<rsp:", b"<").replace(b"</rsp:", b"</")
        return data[:inner_start] + inner
    if prefix != "rsp":
        data = data.replace(_SHELL_DECL, f'xmlns:{prefix}="{server_ns.SHELL}"'.encode())
        data = data.replace(b"<rsp:", f"<{prefix}:".encode()).replace(b"</rsp:", f"</{prefix}:".encode())
    return data


def _assert_same(data: bytes, *, fast: bool = True) -> wsman.Received:
    """The fast scan and the safe tree parse agree (result or error); ``fast``: the scan took it."""
    try:
        safe: object = wsman.parse_receive_safe(data)
    except Exception as exc:
        safe = (type(exc), str(exc))
    try:
        got: object = wsman.parse_receive(data)
    except Exception as exc:
        got = (type(exc), str(exc))
    assert got == safe
    if fast:
        assert wsman._parse_receive_fast(data) == safe
    return got  # type: ignore[return-value]


@given(
    chunks=st.lists(st.binary(max_size=300), max_size=6),
    command_id=st.one_of(st.none(), st.uuids().map(lambda u: str(u).upper())),
    done=st.booleans(),
    prefix=st.sampled_from(["rsp", "s0", "shell", ""]),
    names=st.lists(st.sampled_from(["stdout", "stderr", "pr"]), min_size=1, max_size=3),
    ends=st.lists(st.booleans(), min_size=1, max_size=3),
    exit_code=st.one_of(st.none(), st.sampled_from(["0", "1", "-1", " 2 ", "x"])),
)
def test_fast_receive_scan_equals_the_safe_parse(
    chunks: list[bytes],
    command_id: str | None,
    done: bool,
    prefix: str,
    names: list[str],
    ends: list[bool],
    exit_code: str | None,
) -> None:
    data = server_responses.receive_response(_request(), chunks, command_id, done)  # type: ignore[arg-type]
    data = _vary(data, prefix=prefix, names=names, ends=ends, exit_code=exit_code)
    received = _assert_same(data, fast=any(chunks))
    assert [s.data for s in received.streams] == ([b"".join(chunks)] if chunks else [])  # one stream per response


@pytest.mark.parametrize(
    "mutate",
    [
        # references and markers the scan must not mistake for its own
        lambda d: d.replace(b'Name="stdout"', b'Name="std&#111;ut"', 1),
        lambda d: d.replace(b"</rsp:Stream>", b"</rsp:Stream><rsp:Stream Name='stdout'>&#42;0</rsp:Stream>", 1),
        lambda d: d.replace(b"</rsp:Stream>", b"</rsp:Stream><rsp:Stream Name='stdout'>*0</rsp:Stream>", 1),
        lambda d: d.replace(b"<rsp:Stream", b"<!-- <rsp:Stream Name='x'>AAAA</rsp:Stream> --><rsp:Stream", 1),
        lambda d: d.replace(b"<rsp:Stream", b"<![CDATA[<rsp:Stream>AAAA</]]><rsp:Stream", 1),
        # not strict base64, not text only, not where the tree would look
        lambda d: d.replace(b"</rsp:Stream>", b"\n</rsp:Stream>", 1),
        lambda d: d.replace(b"</rsp:Stream>", b"AA==AA==</rsp:Stream>", 1),
        lambda d: d.replace(b"</rsp:Stream>", b"A</rsp:Stream>", 1),
        lambda d: d.replace(b"</rsp:Stream>", b"<rsp:x/>QUJD</rsp:Stream>", 1),
        lambda d: d.replace(b'Name="stdout"', b'Name="a>b"', 1),
        lambda d: d.replace(
            b"<rsp:ReceiveResponse>", b'<rsp:ReceiveResponse><o:Stream xmlns:o="urn:o">QUJD</o:Stream>'
        ),
        lambda d: d.replace(b"<rsp:ReceiveResponse>", b"<rsp:Stream>QUJD</rsp:Stream><rsp:ReceiveResponse>"),
        lambda d: d.replace(b"<rsp:ReceiveResponse>", b"<rsp:SendResponse>").replace(
            b"</rsp:ReceiveResponse>", b"</rsp:SendResponse>"
        ),
        # malformed or refused: the same error either way
        lambda d: d[:-40],
        lambda d: d.replace(b"</rsp:Stream>", b"</rsp:Strea>", 1),
        lambda d: b'<!DOCTYPE x [<!ENTITY a "QUJD">]>' + d.replace(b'Name="stdout"', b'Name="&a;"', 1),
        lambda d: b"<!DOCTYPE x>" + d,
        lambda d: b'<?xml version="1.0" encoding="utf-8"?>' + d,
    ],
)
def test_fast_receive_scan_declines_what_it_cannot_vouch_for(mutate: Callable[[bytes], bytes]) -> None:
    cid = "4D1C31E2-0F3B-4E0C-9B6B-3D7A0D1B1B1B"
    data = server_responses.receive_response(_request(), [b"abc", b"defgh", b""], cid, True)  # type: ignore[arg-type]
    _assert_same(mutate(data), fast=False)


def test_fast_receive_scan_equals_the_safe_parse_on_windows_recordings() -> None:
    if not RECORDINGS.is_dir():
        pytest.skip(f"recordings {RECORDINGS} not available")
    count = 0
    for path in sorted(RECORDINGS.glob("*.yml")):
        for message in yaml.safe_load(path.read_text()).get("messages") or []:
            response = (message.get("response") or "").encode()
            if b"ReceiveResponse>" in response:
                fast = re.search(rb":Stream [^>]*>[^<]", response) is not None and b"&" not in response
                _assert_same(response, fast=fast)
                count += 1
    assert count > 100


# ------------------------------------------------------------------------------------------------ PSRP framing


def _fragments(object_id: int, blob: bytes, size: int) -> bytes:
    pieces = [blob[i : i + size] for i in range(0, len(blob), size)] or [b""]
    out = b""
    for i, piece in enumerate(pieces):
        flags = (1 if i == 0 else 0) | (2 if i == len(pieces) - 1 else 0)
        out += struct.pack(">QQBI", object_id, i, flags, len(piece)) + piece
    return out


@given(
    messages=st.lists(st.binary(min_size=1, max_size=200), min_size=1, max_size=6),
    size=st.integers(min_value=1, max_value=64),
    cut=st.integers(min_value=0, max_value=10_000),
)
def test_defragmenter_reassembles_messages_fed_in_any_split(messages: list[bytes], size: int, cut: int) -> None:
    stream = b"".join(_fragments(i + 1, m, size) for i, m in enumerate(messages))
    # Receives end on fragment boundaries; feed them in two Receives split at a boundary.
    boundaries = [0]
    offset = 0
    while offset < len(stream):
        length = struct.unpack_from(">I", stream, offset + 17)[0]
        offset += 21 + length
        boundaries.append(offset)
    split = boundaries[cut % len(boundaries)]
    defrag = _Defragmenter()
    got = defrag.feed(stream[:split]) + defrag.feed(stream[split:])
    assert got == [(i + 1, m) for i, m in enumerate(messages)]


def test_defragmenter_refuses_truncated_and_out_of_order_fragments() -> None:
    with pytest.raises(ConnectError):
        _Defragmenter().feed(struct.pack(">QQBI", 1, 0, 3, 10) + b"short")
    with pytest.raises(ConnectError):
        _Defragmenter().feed(b"\x00" * 5)
    with pytest.raises(ConnectError):
        _Defragmenter().feed(struct.pack(">QQBI", 1, 1, 2, 1) + b"x")


# ------------------------------------------------------------------------------------------------ endpoint URL


@given(
    org=st.from_regex(r"[a-z0-9]{1,10}(\.[a-z0-9]{1,10}){1,3}", fullmatch=True),
    other=st.dictionaries(st.from_regex(r"[A-Za-z]{1,8}", fullmatch=True), st.text(max_size=10), max_size=3),
)
def test_endpoint_url_sets_delegated_org_and_keeps_other_parameters(org: str, other: dict[str, str]) -> None:
    from urllib.parse import parse_qsl, urlencode, urlsplit

    other = {k: v for k, v in other.items() if k.lower() != "delegatedorg"}
    query = urlencode({**other, "delegatedorg": "old.example"})
    url = endpoint_url(f"https://host:8443/powershell-liveid?{query}", org)
    pairs = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    assert [v for k, v in pairs if k.lower() == "delegatedorg"] == [org]
    assert {k: v for k, v in pairs if k.lower() != "delegatedorg"} == other
    assert url.startswith("https://host:8443/powershell-liveid?")


def test_endpoint_url_without_org_and_bad_schemes() -> None:
    assert endpoint_url("https://h/powershell-liveid?DelegatedOrg=x", None) == "https://h/powershell-liveid"
    with pytest.raises(ConnectError):
        endpoint_url("ftp://h/x", "a.com")


def test_message_ids_are_unique_uuids() -> None:
    ids = {wsman.new_message_id() for _ in range(100)}
    assert len(ids) == 100 and all(uuid.UUID(i.removeprefix("uuid:")) for i in ids)
