"""``docs/cmdlets.md``, generated from the registry so that it cannot drift from the code.

``aobo docs`` writes it; a test fails when the committed file differs from what the registry says.
"""

from __future__ import annotations

from aobo.cmdlets import roles
from aobo.cmdlets.metadata import syntax
from aobo.cmdlets.registry import ALL_PARAMETER_SETS, CmdletDefinition, Parameter, Registry

_AREAS = {
    roles.BUILTIN: "every caller",
    roles.RECIPIENT: "recipients",
    roles.ORGANIZATION: "organisation",
    roles.MESSAGE_TRACKING: "message tracking",
    roles.AUDIT: "audit log",
}


def _who(definition: CmdletDefinition) -> str:
    groups = [name for name in roles.ROLE_GROUPS if roles.allowed(definition, {name})]
    if definition.area in roles.OPEN_AREAS:
        return "every caller"
    return ", ".join(groups) if groups else "nobody"


def _sets(p: Parameter) -> str:
    return "all" if p.in_all_sets else ", ".join(s for s in p.parameter_sets if s != ALL_PARAMETER_SETS)


def _row(p: Parameter) -> str:
    flags = []
    if p.ever_mandatory:
        flags.append("mandatory")
    if p.position is not None:
        flags.append(f"position {p.position}")
    if p.value_from_pipeline:
        flags.append("pipeline")
    if p.value_from_pipeline_by_property_name:
        flags.append("pipeline by name")
    type_name = p.type.dotnet_name.replace("|", "\\|")
    return f"| `{p.name}` | `{type_name}` | {_sets(p)} | {', '.join(flags)} |"


def _section(definition: CmdletDefinition) -> list[str]:
    lines = [f"### {definition.name}", ""]
    if definition.synopsis:
        lines += [definition.synopsis, ""]
    facts = [f"Area: {_AREAS.get(definition.area, definition.area)}", f"run by: {_who(definition)}"]
    if definition.writes:
        facts.append(f"writes (ConfirmImpact {definition.confirm_impact}; -WhatIf and -Confirm)")
    if definition.output_type:
        facts.append(f"outputs `{definition.output_type[0]}`")
    signature = [line for line in syntax(definition).splitlines() if line.strip()]
    lines += ["; ".join(facts) + ".", "", "```powershell", *signature, "```", ""]
    own = [p for p in definition.parameters if not p.common]
    if own:
        lines += ["| Parameter | Type | Sets | |", "|---|---|---|---|", *(_row(p) for p in own), ""]
    return lines


def render(registry: Registry) -> str:
    """The whole reference, in Markdown."""
    definitions = list(registry)
    lines = [
        "# Cmdlet reference",
        "",
        "Generated from the cmdlet registry by `aobo docs`; do not edit by hand. Every cmdlet also has",
        "PowerShell's common parameters (-Verbose, -ErrorAction, ...), not repeated here.",
        "",
        "| Cmdlet | Area | Writes |",
        "|---|---|---|",
        *(
            f"| [{d.name}](#{d.name.lower()}) | {_AREAS.get(d.area, d.area)} | {'yes' if d.writes else ''} |"
            for d in definitions
        ),
        "",
        "## Cmdlets",
        "",
    ]
    for d in definitions:
        lines += _section(d)
    return "\n".join(lines).rstrip() + "\n"
