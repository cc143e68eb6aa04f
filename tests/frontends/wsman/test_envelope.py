"""Envelope parsing, faults and response building, without sockets."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml
from defusedxml.ElementTree import fromstring

from aobo.frontends.wsman import namespaces as ns
from aobo.frontends.wsman import responses
from aobo.frontends.wsman.envelope import parse_duration, parse_request
from aobo.frontends.wsman.faults import FaultCode, WSManFault, render_fault, timed_out, unknown_shell
from tests.xpress_support import blocks

RECORDINGS = Path(__file__).resolve().parents[4] / "shared" / "fixtures" / "pypsrp-recordings"
if not RECORDINGS.is_dir():  # a clean clone sits beside shared/ too
    RECORDINGS = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures" / "pypsrp-recordings"


def recorded(name: str) -> list[dict[str, str]]:
    path = RECORDINGS / name
    if not path.exists():
        pytest.skip(f"recording {path} not available")
    return yaml.safe_load(path.read_text())["messages"]


def test_parse_request_reads_a_real_windows_create() -> None:
    create = recorded("test_psrp_open_runspace.yml")[0]["request"]
    req = parse_request(create.encode())
    assert req.action == ns.ACTION_CREATE
    assert req.message_id == "uuid:F249DBE7-0E83-4F39-AE4A-28324CF61227"
    assert req.resource_uri == "http://schemas.microsoft.com/powershell/Microsoft.PowerShell"
    assert req.max_envelope_size == 153600
    assert req.operation_timeout == 20.0
    assert req.options == {"protocolversion": "2.3"}
    shell = req.first(ns.SHELL, "Shell")
    assert shell is not None and shell.get("ShellId") == "76056A84-51DC-4F24-9262-CA2A55464B2B"


def test_parse_request_reads_every_recorded_request() -> None:
    # Every request pypsrp recorded against Windows must parse; prefixes and headers vary.
    if not RECORDINGS.is_dir():
        pytest.skip(f"recordings {RECORDINGS} not available")
    count = 0
    for path in sorted(RECORDINGS.glob("test_psrp_*.yml")):
        for message in yaml.safe_load(path.read_text())["messages"]:
            req = parse_request(message["request"].encode())
            assert req.action.startswith("http://schemas.")
            assert req.message_id.startswith("uuid:")
            count += 1
    assert count > 100


@pytest.mark.parametrize(
    "text, seconds",
    [("PT20S", 20.0), ("PT180.000S", 180.0), ("PT1M30S", 90.0), ("P1DT1H", 90000.0), ("PT0.5S", 0.5)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "20", "PT", "PTxS", "P1Y"])
def test_parse_duration_rejects_garbage(text: str) -> None:
    with pytest.raises(WSManFault):
        parse_duration(text)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not xml",
        b"<a><b></a>",
        b"<Envelope/>",
        b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body/></s:Envelope>',
    ],
)
def test_malformed_envelopes_are_faults(body: bytes) -> None:
    with pytest.raises(WSManFault):
        parse_request(body)


def test_entity_expansion_is_refused() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
        b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header/><s:Body>&lol2;</s:Body>'
        b"</s:Envelope>"
    )
    with pytest.raises(WSManFault) as info:
        parse_request(bomb)
    assert info.value.code == FaultCode.INVALID_XML


def test_tiny_max_envelope_size_is_an_encoding_limit_fault() -> None:
    create = recorded("test_psrp_open_runspace.yml")[0]["request"].replace(">153600<", ">1000<")
    with pytest.raises(WSManFault) as info:
        parse_request(create.encode())
    assert info.value.code == FaultCode.ENCODING_LIMIT


def test_fault_envelope_carries_code_and_relates_to() -> None:
    body = render_fault(timed_out(), "uuid:ABC")
    root = fromstring(body)
    f = "{http://schemas.microsoft.com/wbem/wsman/1/wsmanfault}"
    assert root.find(f".//{f}WSManFault").get("Code") == str(0x80338029)
    assert root.findtext(f"{{{ns.ADDRESSING}}}RelatesTo") is None  # it is in the header
    assert root.find(f"{{{ns.SOAP}}}Header/{{{ns.ADDRESSING}}}RelatesTo").text == "uuid:ABC"
    assert root.find(f".//{{{ns.SOAP}}}Subcode/{{{ns.SOAP}}}Value").text == "w:TimedOut"


def test_unknown_shell_fault_is_invalid_selectors() -> None:
    fault = unknown_shell("ABC")
    assert fault.code == 2150858843
    assert "ShellId ABC" in fault.reason


def test_receive_response_shape_matches_windows() -> None:
    req = parse_request(recorded("test_psrp_open_runspace.yml")[1]["request"].encode())
    body = responses.receive_response(req, [b"abc", b"defg"], "CMD-1", done=True)
    root = fromstring(body)
    streams = root.findall(f".//{{{ns.SHELL}}}Stream")
    assert [base64.b64decode(s.text) for s in streams] == [b"abcdefg"]
    assert all(s.get("Name") == "stdout" and s.get("CommandId") == "CMD-1" for s in streams)
    state = root.find(f".//{{{ns.SHELL}}}CommandState")
    assert state.get("State") == ns.COMMAND_STATE_DONE
    assert root.find(f"{{{ns.SOAP}}}Header/{{{ns.ADDRESSING}}}RelatesTo").text == req.message_id


def test_many_small_chunks_cost_one_stream_element() -> None:
    # Thousands of tiny chunks (warnings, progress) must not push the envelope past its size.
    req = parse_request(recorded("test_psrp_open_runspace.yml")[1]["request"].encode())
    budget = responses.receive_budget(153600)
    chunks = [b"x" * 20] * (budget // 20)
    body = responses.receive_response(req, chunks, "CMD-1", done=False)
    assert len(body) <= 153600
    assert len(fromstring(body).findall(f".//{{{ns.SHELL}}}Stream")) == 1


@pytest.mark.parametrize("size", [1, 65536, 65537, 200_000])
def test_compressed_receive_is_stored_blocks_within_the_envelope(size: int) -> None:
    req = parse_request(recorded("test_psrp_open_runspace.yml")[1]["request"].encode())
    data = bytes(range(256)) * (size // 256) + b"z" * (size % 256)
    body = responses.receive_response(req, [data], None, done=False, compressed=True)
    (stream,) = fromstring(body).findall(f".//{{{ns.SHELL}}}Stream")
    framed = list(blocks(base64.b64decode(stream.text)))
    assert all(n == len(block) <= 65536 for n, block in framed)  # stored: the original bytes as they are
    assert b"".join(block for _, block in framed) == data
    assert len(framed) == -(-size // 65536)
    budget = responses.receive_budget(512000, compressed=True)
    full = responses.receive_response(req, [bytes(budget)], "CMD-1", done=True, compressed=True)
    assert len(full) <= 512000


def test_receive_budget_keeps_base64_under_the_envelope() -> None:
    budget = responses.receive_budget(153600)
    assert budget * 4 // 3 + responses.RECEIVE_OVERHEAD <= 153600 + 4
