"""GET_COMMAND_METADATA objects, checked against a real Windows answer, and Get-Command."""

from __future__ import annotations

import base64
import re
import struct
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from aobo.cmdlets import roles
from aobo.cmdlets.context import CmdletContext
from aobo.cmdlets.metadata import (
    ALIASES_TYPE_NAMES,
    CMDLET_COMMAND_TYPE,
    COUNT_SHAPE,
    METADATA_SHAPE,
    OUTPUT_TYPE_TYPE_NAMES,
    PARAMETER_METADATA_SHAPE,
    PARAMETERS_TYPE_NAMES,
    command_metadata,
)
from aobo.cmdlets.pipeline import CommandInvocation, run_pipeline
from aobo.cmdlets.registry import Registry
from aobo.cmdlets.results import Dictionary, ErrorRecord, ExchangeObject, MultiValued

RECORDING = Path("/work/shared/fixtures/pypsrp-recordings/test_psrp_get_command_metadata.yml")
ORG = frozenset({roles.ORGANIZATION_MANAGEMENT})
HELPDESK = frozenset({roles.HELP_DESK})


def _messages(text: str) -> list[tuple[int, str]]:
    """PSRP messages (type, body) in the rsp:Stream elements of a pypsrp recording."""
    partial: dict[int, list[bytes]] = {}
    out: list[tuple[int, str]] = []
    for chunk in re.findall(r"<rsp:Stream[^>]*>([^<]+)</rsp:Stream>", text):
        data = base64.b64decode(chunk)
        offset = 0
        while offset < len(data):
            object_id, _fragment, flags, length = struct.unpack(">QQBI", data[offset : offset + 21])
            partial.setdefault(object_id, []).append(data[offset + 21 : offset + 21 + length])
            offset += 21 + length
            if flags & 2:
                message = b"".join(partial.pop(object_id))
                message_type = struct.unpack("<I", message[4:8])[0]
                out.append((message_type, message[40:].decode("utf-8-sig")))
    return out


@pytest.fixture(scope="module")
def windows() -> tuple[ET.Element, ET.Element]:
    """The count object and the New-PSSession CmdletInfo a Windows server sent."""
    if not RECORDING.exists():
        pytest.skip("recording not available")
    outputs = [ET.fromstring(body) for kind, body in _messages(RECORDING.read_text()) if kind == 0x00041004]
    count = outputs[0]
    cmdlet = next(o for o in outputs if o.findtext("./MS/S[@N='Name']") == "New-PSSession")
    return count, cmdlet


def _type_names(obj: ET.Element, refs: dict[str, list[str]]) -> list[str]:
    tn = obj.find("TN")
    if tn is not None:
        refs[tn.get("RefId", "")] = [t.text or "" for t in tn.findall("T")]
        return refs[tn.get("RefId", "")]
    ref = obj.find("TNRef")
    assert ref is not None
    return refs[ref.get("RefId", "")]


def test_count_object_matches_windows(windows: tuple[ET.Element, ET.Element], registry: Registry) -> None:
    count, _ = windows
    assert tuple(_type_names(count, {})) == COUNT_SHAPE.type_names
    assert [e.get("N") for e in count.find("MS")] == list(COUNT_SHAPE.property_names)  # type: ignore[union-attr]
    ours = command_metadata(registry, ["Get-Mailbox"], None, ORG)[0]
    assert ours.shape is COUNT_SHAPE and ours["Count"] == 1


def test_cmdlet_object_matches_windows(windows: tuple[ET.Element, ET.Element], registry: Registry) -> None:
    _, cmdlet = windows
    refs: dict[str, list[str]] = {}
    assert tuple(_type_names(cmdlet, refs)) == METADATA_SHAPE.type_names
    ms = cmdlet.find("MS")
    assert ms is not None
    assert [e.get("N") for e in ms] == list(METADATA_SHAPE.property_names)

    command_type = ms.find("Obj[@N='CommandType']")
    assert command_type is not None
    assert tuple(_type_names(command_type, refs)) == CMDLET_COMMAND_TYPE.type_names
    assert command_type.findtext("ToString") == CMDLET_COMMAND_TYPE.name
    assert int(command_type.findtext("I32") or 0) == CMDLET_COMMAND_TYPE.value
    assert ms.find("Nil[@N='ResolvedCommandName']") is not None

    output_type = ms.find("Obj[@N='OutputType']")
    assert output_type is not None
    assert tuple(_type_names(output_type, refs)) == OUTPUT_TYPE_TYPE_NAMES

    parameters = ms.find("Obj[@N='Parameters']")
    assert parameters is not None
    assert tuple(_type_names(parameters, refs)) == PARAMETERS_TYPE_NAMES

    windows_params: dict[str, tuple[str, tuple[str, ...], bool, bool]] = {}
    for entry in parameters.find("DCT"):  # type: ignore[union-attr]
        meta = entry.find("Obj[@N='Value']")
        assert meta is not None
        assert tuple(_type_names(meta, refs)) == PARAMETER_METADATA_SHAPE.type_names
        assert meta.findtext("ToString") == "System.Management.Automation.ParameterMetadata"
        props = meta.find("Props")  # adapted properties, as our shape says
        assert props is not None and PARAMETER_METADATA_SHAPE.adapted
        assert [e.get("N") for e in props] == list(PARAMETER_METADATA_SHAPE.property_names)
        aliases = props.find("Obj[@N='Aliases']")
        assert aliases is not None
        assert tuple(_type_names(aliases, refs)) == ALIASES_TYPE_NAMES
        windows_params[props.findtext("S[@N='Name']") or ""] = (
            props.findtext("S[@N='ParameterType']") or "",
            tuple(s.text or "" for s in aliases.findall("LST/S")),
            props.findtext("B[@N='IsDynamic']") == "true",
            props.findtext("B[@N='SwitchParameter']") == "true",
        )

    # Every common parameter Windows reports, with the same type, aliases and switch flag.
    (ours,) = command_metadata(registry, ["Get-Mailbox"], None, ORG)[1:]
    our_params = _parameters(ours)
    common = list(windows_params)[-11:]
    assert common[0] == "Verbose" and common[-1] == "PipelineVariable"
    for name in common:
        assert our_params[name] == windows_params[name], name
    assert list(our_params)[-11:] == common


def _parameters(obj: ExchangeObject) -> dict[str, tuple[str, tuple[str, ...], bool, bool]]:
    params = obj["Parameters"]
    assert isinstance(params, Dictionary)
    out = {}
    for name, meta in params.items():
        aliases = meta["Aliases"]
        assert isinstance(aliases, MultiValued) and aliases.type_names == ALIASES_TYPE_NAMES
        out[name] = (meta["ParameterType"], tuple(aliases), meta["IsDynamic"], meta["SwitchParameter"])
    return out


def test_metadata_for_exchange_cmdlets(registry: Registry) -> None:
    count, get, set_ = command_metadata(registry, ["Get-Mailbox", "Set-Mailbox"], 8, ORG)
    assert count["Count"] == 2
    assert get["Name"] == "Get-Mailbox" and set_["Name"] == "Set-Mailbox"
    assert get["CommandType"] == CMDLET_COMMAND_TYPE
    assert get["ResolvedCommandName"] is None
    assert get["Namespace"] == ""
    assert tuple(get["OutputType"]) == ("Microsoft.Exchange.Data.Directory.Management.Mailbox",)
    params = _parameters(get)
    assert params["Identity"] == (
        "Microsoft.Exchange.Configuration.Tasks.MailboxIdParameter",
        (),
        False,
        False,
    )
    assert params["ResultSize"][0] == "Microsoft.Exchange.Data.Unlimited`1[System.UInt32]"
    assert params["RecipientTypeDetails"][0] == "Microsoft.Exchange.Data.Directory.Recipient.RecipientTypeDetails[]"
    assert "WhatIf" not in params
    set_params = _parameters(set_)
    assert set_params["WhatIf"] == ("System.Management.Automation.SwitchParameter", ("wi",), False, True)
    assert set_params["Confirm"] == ("System.Management.Automation.SwitchParameter", ("cf",), False, True)
    assert set_params["HiddenFromAddressListsEnabled"][0] == "System.Boolean"


def test_metadata_filters(registry: Registry) -> None:
    def names(*args: Any, **kw: Any) -> list[str]:
        objs = command_metadata(registry, *args, **kw)
        assert objs[0]["Count"] == len(objs) - 1
        return [o["Name"] for o in objs[1:]]

    everything = names(None, None, ORG)
    assert everything == [d.name for d in registry], "Organization Management sees every cmdlet, by name"
    assert {"Get-Command", "Get-FormatData", "Get-Mailbox", "Measure-Object", "Select-Object"} <= set(everything)
    assert "Set-Mailbox" not in names(None, None, HELPDESK)
    assert names(["get-mailbox", "Set-Mailbox"], 511, HELPDESK) == ["Get-Mailbox"]
    assert names(["*xyzzy*"], None, ORG) == []
    # Import-PSSession's default CommandType (Alias|Function|Filter|Cmdlet|Configuration) has cmdlets.
    assert names(["Get-Mailbox"], 1 | 2 | 4 | 8 | 256, ORG) == ["Get-Mailbox"]
    assert names(["Get-Mailbox"], 2, ORG) == []  # functions only
    assert names(["Get-Mailbox"], "Cmdlet", ORG) == ["Get-Mailbox"]
    assert names(["*"], None, ORG, namespace=["Microsoft.PowerShell.Utility"]) == [
        "Get-FormatData",
        "Measure-Object",
        "Select-Object",
    ]


def test_metadata_objects_are_reused(registry: Registry) -> None:
    a = command_metadata(registry, ["Get-Mailbox"], None, ORG)[1]
    b = command_metadata(registry, ["Get-Mailbox"], None, ORG)[1]
    assert a is b


# --- Get-Command -------------------------------------------------------------------------------


def run(ctx: CmdletContext, registry: Registry, *commands: CommandInvocation) -> list[Any]:
    return list(run_pipeline(ctx, registry, list(commands)))


def test_get_command(fake_ctx: Callable[..., CmdletContext], registry: Registry) -> None:
    ctx = fake_ctx(roles=("Help Desk",))
    out = run(ctx, registry, CommandInvocation("Get-Command", [("Name", "*-Mailbox")]))
    assert [o["Name"] for o in out] == ["Get-Mailbox"]
    info = out[0]
    assert info.type_names[0] == "System.Management.Automation.CmdletInfo"
    assert info["Verb"] == "Get" and info["Noun"] == "Mailbox"
    assert info["ImplementingType"] == "Microsoft.Exchange.Management.RecipientTasks.GetMailbox"
    assert "[[-Identity] <MailboxIdParameter>]" in info["Definition"]
    assert "[<CommonParameters>]" in info["Definition"]


def test_get_command_as_import_pssession_sends_it(fake_ctx: Callable[..., CmdletContext], registry: Registry) -> None:
    # The protocol 2.0 fallback: Get-Command ... | Select-Object -Property Name, CommandType, ...
    out = run(
        fake_ctx(),
        registry,
        CommandInvocation(
            "Get-Command",
            [
                ("CommandType", ["Alias", "Function", "Filter", "Cmdlet"]),
                ("Name", ["Get-Mailbox"]),
                ("ArgumentList", []),
            ],
        ),
        CommandInvocation(
            "Select-Object",
            [
                (
                    "Property",
                    [
                        "Name",
                        "CommandType",
                        "ResolvedCommandName",
                        "DefaultParameterSet",
                        "CmdletBinding",
                        "Parameters",
                    ],
                )
            ],
        ),
    )
    (obj,) = out
    assert obj.type_names[0] == "Selected.System.Management.Automation.CmdletInfo"
    assert obj["Name"] == "Get-Mailbox"
    assert obj["DefaultParameterSet"] == "Identity"
    assert obj["CmdletBinding"] is None
    assert "Identity" in dict(obj["Parameters"].items())


def test_get_command_literal_name_not_found(fake_ctx: Callable[..., CmdletContext], registry: Registry) -> None:
    out = run(fake_ctx(roles=("Help Desk",)), registry, CommandInvocation("Get-Command", [(None, "Set-Mailbox")]))
    (err,) = out
    assert isinstance(err, ErrorRecord)
    assert err.message.startswith("The term 'Set-Mailbox' is not recognized")
    assert err.fully_qualified_error_id == "CommandNotFoundException,Get-Command"
    assert run(fake_ctx(), registry, CommandInvocation("Get-Command", [("Name", "Nope-*")])) == []


def test_get_command_syntax_and_filters(fake_ctx: Callable[..., CmdletContext], registry: Registry) -> None:
    ctx = fake_ctx()
    (text,) = run(ctx, registry, CommandInvocation("Get-Command", [(None, "Set-Mailbox"), ("Syntax", None)]))
    assert text.strip().startswith("Set-Mailbox [-Identity] <MailboxIdParameter>")
    assert "[-WhatIf] [-Confirm]" in text
    by_verb = run(ctx, registry, CommandInvocation("Get-Command", [("Verb", "Set")]))
    assert [o["Name"] for o in by_verb] == sorted((d.name for d in registry if d.verb == "Set"), key=str.lower)
    assert "Set-Mailbox" in [o["Name"] for o in by_verb]
    counted = run(ctx, registry, CommandInvocation("Get-Command", [("TotalCount", 2)]))
    assert len(counted) == 2
