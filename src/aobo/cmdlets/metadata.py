"""Command metadata: what Import-PSSession and Get-Command learn about each cmdlet.

:func:`command_metadata` answers PSRP's GET_COMMAND_METADATA with the objects a Windows server sends
(compare ``test_psrp_get_command_metadata.yml``): a count object, then one
``Selected.System.Management.Automation.CmdletInfo`` per command whose ``Parameters`` is a
``Dictionary`2`` of ``ParameterMetadata`` (adapted properties). :func:`cmdlet_info` is the fuller
CmdletInfo that ``Get-Command`` outputs. Both are filtered by the caller's roles through
:meth:`Registry.find`, so a caller never learns of cmdlets it cannot run.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Final

from aobo.cmdlets.enums import COMMAND_TYPES_VALUES
from aobo.cmdlets.registry import ALL_PARAMETER_SETS, CmdletDefinition, Registry, matches
from aobo.cmdlets.results import Dictionary, EnumValue, ExchangeObject, MultiValued, ObjectShape
from aobo.cmdlets.texts import TASK_CLASSES

_MSCORLIB: Final = "mscorlib, Version=4.0.0.0, Culture=neutral, PublicKeyToken=b77a5c561934e089"
_SMA: Final = "System.Management.Automation, Version=3.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35"

COUNT_SHAPE: Final = ObjectShape(
    (
        "Selected.Microsoft.PowerShell.Commands.GenericMeasureInfo",
        "System.Management.Automation.PSCustomObject",
        "System.Object",
    ),
    ("Count",),
)
METADATA_SHAPE: Final = ObjectShape(
    (
        "Selected.System.Management.Automation.CmdletInfo",
        "System.Management.Automation.PSCustomObject",
        "System.Object",
    ),
    ("Name", "Namespace", "HelpUri", "CommandType", "ResolvedCommandName", "OutputType", "Parameters"),
)
PARAMETER_METADATA_SHAPE: Final = ObjectShape(
    ("System.Management.Automation.ParameterMetadata", "System.Object"),
    ("Name", "ParameterType", "Aliases", "IsDynamic", "SwitchParameter"),
    adapted=True,
)
CMDLET_INFO_SHAPE: Final = ObjectShape(
    ("System.Management.Automation.CmdletInfo", "System.Management.Automation.CommandInfo", "System.Object"),
    (
        "HelpUri",
        "DLL",
        "Verb",
        "Noun",
        "HelpFile",
        "PSSnapIn",
        "Version",
        "ImplementingType",
        "Definition",
        "DefaultParameterSet",
        "OutputType",
        "Options",
        "Name",
        "Namespace",
        "CommandType",
        "Source",
        "Visibility",
        "ModuleName",
        "Module",
        "RemotingCapability",
        "Parameters",
        "ParameterSets",
    ),
)

ALIASES_TYPE_NAMES: Final = (
    f"System.Collections.ObjectModel.Collection`1[[System.String, {_MSCORLIB}]]",
    "System.Object",
)
OUTPUT_TYPE_TYPE_NAMES: Final = (
    f"System.Collections.ObjectModel.ReadOnlyCollection`1[[System.Management.Automation.PSTypeName, {_SMA}]]",
    "System.Object",
)
PARAMETERS_TYPE_NAMES: Final = (
    "System.Collections.Generic.Dictionary`2[[System.String, "
    f"{_MSCORLIB}],[System.Management.Automation.ParameterMetadata, {_SMA}]]",
    "System.Object",
)
CMDLET_COMMAND_TYPE: Final = EnumValue(
    ("System.Management.Automation.CommandTypes", "System.Enum", "System.ValueType", "System.Object"),
    "Cmdlet",
    COMMAND_TYPES_VALUES["Cmdlet"],
)
_PARAMETER_METADATA_TO_STRING: Final = "System.Management.Automation.ParameterMetadata"


def _command_type_flags(command_type: Any) -> int:
    """Accept what front ends have: ``None`` (all), an int/flag enum, a name, or names.

    0 counts as "not given": no client asks for no command types, and a front end that read an
    absent CommandType as 0 should still get the commands."""
    if command_type is None or (isinstance(command_type, int) and int(command_type) == 0):
        return COMMAND_TYPES_VALUES["All"]
    if isinstance(command_type, int):
        return int(command_type)
    names = [command_type] if isinstance(command_type, str) else list(command_type)
    flags = 0
    lowered = {k.lower(): v for k, v in COMMAND_TYPES_VALUES.items()}
    for name in names:
        for part in str(name).split(","):
            flags |= lowered.get(part.strip().lower(), 0)
    return flags


@lru_cache(maxsize=1024)
def parameters_dictionary(definition: CmdletDefinition) -> Dictionary:
    """``Parameters`` of a command: name → ParameterMetadata, common parameters included."""
    entries = []
    for p in definition.all_parameters:
        meta = ExchangeObject(
            PARAMETER_METADATA_SHAPE,
            (p.name, p.type.dotnet_name, MultiValued(p.aliases, ALIASES_TYPE_NAMES), False, p.switch),
            _PARAMETER_METADATA_TO_STRING,
        )
        entries.append((p.name, meta))
    return Dictionary(tuple(entries), PARAMETERS_TYPE_NAMES)


def _output_type(definition: CmdletDefinition) -> MultiValued:
    return MultiValued(tuple(definition.output_type), OUTPUT_TYPE_TYPE_NAMES)


@lru_cache(maxsize=1024)
def metadata_object(definition: CmdletDefinition) -> ExchangeObject:
    return ExchangeObject(
        METADATA_SHAPE,
        (
            definition.name,
            definition.module,
            definition.help_uri,
            CMDLET_COMMAND_TYPE,
            None,
            _output_type(definition),
            parameters_dictionary(definition),
        ),
        definition.name,
    )


def _short_type(dotnet_name: str) -> str:
    array = dotnet_name.endswith("[]")
    base = dotnet_name[:-2] if array else dotnet_name
    base = base.split("`", 1)[0].rsplit(".", 1)[-1]
    return base + ("[]" if array else "")


def syntax(definition: CmdletDefinition) -> str:
    """The ``Definition`` text Get-Command shows: one line per parameter set."""
    lines = []
    for set_name in definition.parameter_sets:
        parts = [definition.name]
        params = [p for p in definition.parameters if p.in_set(set_name)]
        params.sort(key=lambda p: (p.position is None, p.position or 0))
        for p in params:
            if p.switch:
                text = f"-{p.name}"
            else:
                name = f"[-{p.name}]" if p.position is not None else f"-{p.name}"
                text = f"{name} <{_short_type(p.type.dotnet_name)}>"
            parts.append(text if p.mandatory_in(set_name) else f"[{text}]")
        if definition.writes:
            parts += ["[-WhatIf]", "[-Confirm]"]
        parts.append("[<CommonParameters>]")
        lines.append(" ".join(parts))
    return "\n" + "\n\n".join(lines) + "\n"


@lru_cache(maxsize=1024)
def cmdlet_info(definition: CmdletDefinition) -> ExchangeObject:
    """The CmdletInfo object Get-Command outputs."""
    sets = definition.parameter_sets
    default_set = definition.default_parameter_set
    return ExchangeObject(
        CMDLET_INFO_SHAPE,
        (
            definition.help_uri,
            None,
            definition.verb,
            definition.noun,
            "",
            None,
            None,
            TASK_CLASSES.get(definition.name, ""),
            syntax(definition),
            None if default_set == ALL_PARAMETER_SETS else default_set,
            _output_type(definition),
            "ReadOnly",
            definition.name,
            definition.module,
            CMDLET_COMMAND_TYPE,
            definition.module,
            "Public",
            definition.module,
            None,
            "PowerShell",
            parameters_dictionary(definition),
            tuple(sets),
        ),
        definition.name,
    )


def find_commands(
    registry: Registry,
    names: Sequence[str] | None,
    command_type: Any,
    roles: frozenset[str],
    namespace: Sequence[str] | None = None,
) -> list[CmdletDefinition]:
    """Commands visible to ``roles`` that match the name and module patterns and command type."""
    if not _command_type_flags(command_type) & COMMAND_TYPES_VALUES["Cmdlet"]:
        return []
    found = registry.find([n for n in names if n] if names else None, roles)
    if namespace:
        found = [d for d in found if any(matches(m, d.module) for m in namespace if m is not None)]
    return found


def command_metadata(
    registry: Registry,
    names: Sequence[str] | None,
    command_type: Any,
    roles: frozenset[str],
    namespace: Sequence[str] | None = None,
) -> list[ExchangeObject]:
    """The GET_COMMAND_METADATA answer: the count object, then one object per command."""
    found = find_commands(registry, names, command_type, roles, namespace)
    return [COUNT_SHAPE.make((len(found),)), *(metadata_object(d) for d in found)]
