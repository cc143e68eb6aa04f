"""Registry, cmdlet definitions, common parameters, wildcards and the role table."""

from __future__ import annotations

import time
from typing import Any

import pytest

from aobo.cmdlets import roles
from aobo.cmdlets.catalog import default_registry
from aobo.cmdlets.parameters import StringType, SwitchType
from aobo.cmdlets.registry import (
    ALL_PARAMETER_SETS,
    COMMON_PARAMETERS,
    CmdletDefinition,
    Parameter,
    Registry,
    matches,
)

COMMON_NAMES = (
    "Verbose",
    "Debug",
    "ErrorAction",
    "WarningAction",
    "InformationAction",
    "ErrorVariable",
    "WarningVariable",
    "InformationVariable",
    "OutVariable",
    "OutBuffer",
    "PipelineVariable",
)


def nothing(inv: Any) -> list[Any]:
    return []


def define(name: str, *, writes: bool = False, area: str = "recipient", **kw: Any) -> CmdletDefinition:
    return CmdletDefinition(name=name, handler=nothing, writes=writes, area=area, **kw)


def test_common_parameters_added() -> None:
    d = define("Get-Thing", parameters=(Parameter("Identity", StringType(), position=0),))
    names = [p.name for p in d.all_parameters]
    assert names == ["Identity", *COMMON_NAMES]
    assert d.parameter("ea") is d.parameter("ErrorAction")
    assert all(p.common for p in d.all_parameters[1:])


def test_should_process_parameters_for_writing_cmdlets() -> None:
    d = define("Set-Thing", writes=True)
    assert [p.name for p in d.all_parameters][-2:] == ["WhatIf", "Confirm"]
    assert d.parameter("wi").name == "WhatIf"
    assert d.parameter("cf").name == "Confirm"
    assert define("Get-Thing").parameter("WhatIf") is None


def test_common_parameter_aliases_match_powershell() -> None:
    aliases = {p.name: p.aliases for p in COMMON_PARAMETERS}
    assert aliases == {
        "Verbose": ("vb",),
        "Debug": ("db",),
        "ErrorAction": ("ea",),
        "WarningAction": ("wa",),
        "InformationAction": ("infa",),
        "ErrorVariable": ("ev",),
        "WarningVariable": ("wv",),
        "InformationVariable": ("iv",),
        "OutVariable": ("ov",),
        "OutBuffer": ("ob",),
        "PipelineVariable": ("pv",),
    }


def test_definition_validation() -> None:
    with pytest.raises(ValueError, match="Verb-Noun"):
        define("GetThing")
    with pytest.raises(ValueError, match="used twice"):
        define("Get-Thing", parameters=(Parameter("ErrorAction", StringType()),))
    with pytest.raises(ValueError, match="used twice"):
        define(
            "Get-Thing",
            parameters=(Parameter("A", StringType(), aliases=("B",)), Parameter("B", StringType())),
        )
    with pytest.raises(ValueError, match="cannot be positional"):
        define("Get-Thing", parameters=(Parameter("S", SwitchType(), position=0),))
    with pytest.raises(ValueError, match="default parameter set"):
        define("Get-Thing", default_parameter_set="Nope")


def test_parameter_sets() -> None:
    d = define(
        "Get-Thing",
        parameters=(
            Parameter("A", StringType(), parameter_sets=("One",), mandatory=True),
            Parameter("B", StringType(), parameter_sets=("Two",)),
            Parameter("C", StringType(), mandatory_sets=frozenset({"Two"}), parameter_sets=("One", "Two")),
        ),
        default_parameter_set="One",
    )
    assert d.parameter_sets == ("One", "Two")
    a, _, c = d.parameters
    assert a.mandatory_in("One") and not a.mandatory_in("Two")
    assert c.mandatory_in("Two") and not c.mandatory_in("One")
    assert define("Get-Other").parameter_sets == (ALL_PARAMETER_SETS,)


def test_match_parameter_prefix_and_aliases() -> None:
    d = default_registry().get("Get-Mailbox")
    assert d is not None
    assert [p.name for p in d.match_parameter("R")] == ["RecipientTypeDetails", "ResultSize"]
    assert [p.name for p in d.match_parameter("res")] == ["ResultSize"]
    assert [p.name for p in d.match_parameter("OUT")] == ["OutVariable", "OutBuffer"]
    assert [p.name for p in d.match_parameter("infa")] == ["InformationAction"]
    assert d.match_parameter("nope") == []


def test_register_and_get() -> None:
    r = Registry()
    d = r.register(define("Get-Thing"))
    assert r.get("get-thing") is d
    assert r.get("GET-THING") is d
    assert "get-Thing" in r
    assert r.get("Get-Other") is None
    with pytest.raises(ValueError, match="already registered"):
        r.register(define("get-thing"))
    assert len(r) == 1


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("Get-*", "Get-Mailbox", True),
        ("get-mail*", "Get-Mailbox", True),
        ("*mailbox", "Set-Mailbox", True),
        ("?et-Mailbox", "Set-Mailbox", True),
        ("[gs]et-Mailbox", "Set-Mailbox", True),
        ("[a-f]et-Mailbox", "Set-Mailbox", False),
        ("Get-Mailbox", "get-mailbox", True),
        ("Get-Mail", "Get-Mailbox", False),
        ("*Enable-OrganizationCustomization*", "Get-Mailbox", False),
        ("Get`*", "Get*", True),
        ("*", "", True),
        ("", "", True),
        ("?", "", False),
        ("a*b*c", "aXXbYYc", True),
        ("a*b*c", "aXXbYY", False),
        ("*a", "banana", True),
        ("*an*a", "banana", True),
        ("b*n", "banana", False),
        ("[z-a]*", "zebra", False),  # a reversed range matches nothing
        ("[A-C]ar", "bar", True),
        ("[", "[", True),  # an unclosed bracket is a literal
        ("***x", "abx", True),
        ("a`?", "a?", True),
        ("a`?", "ab", False),
    ],
)
def test_wildcards(pattern: str, name: str, expected: bool) -> None:
    assert matches(pattern, name) is expected


def test_find_filters_by_pattern_and_role() -> None:
    r = Registry(
        [
            define("Get-Thing"),
            define("Set-Thing", writes=True),
            define("Get-OrgThing", area="organization"),
            define("Get-Helper", area="builtin"),
        ]
    )
    org = frozenset({roles.ORGANIZATION_MANAGEMENT})
    assert [d.name for d in r.find(None, org)] == ["Get-Helper", "Get-OrgThing", "Get-Thing", "Set-Thing"]
    assert [d.name for d in r.find(["*-Thing"], org)] == ["Get-Thing", "Set-Thing"]
    assert [d.name for d in r.find(["get-thing", "Get-Thing"], org)] == ["Get-Thing"]
    helpdesk = frozenset({roles.HELP_DESK})
    assert [d.name for d in r.find(None, helpdesk)] == ["Get-Helper", "Get-Thing"]
    recipients = frozenset({roles.RECIPIENT_MANAGEMENT})
    assert [d.name for d in r.find(None, recipients)] == ["Get-Helper", "Get-Thing", "Set-Thing"]
    assert [d.name for d in r.find(None, frozenset())] == ["Get-Helper"]


def test_role_table() -> None:
    get, set_, org = (
        define("Get-Thing"),
        define("Set-Thing", writes=True),
        define("Set-Org", writes=True, area="organization"),
    )
    table = {
        roles.ORGANIZATION_MANAGEMENT: (True, True, True),
        roles.VIEW_ONLY_ORGANIZATION_MANAGEMENT: (True, False, False),
        roles.RECIPIENT_MANAGEMENT: (True, True, False),
        roles.HELP_DESK: (True, False, False),
        "Some Other Group": (False, False, False),
    }
    for role, expected in table.items():
        got = tuple(roles.allowed(d, {role}) for d in (get, set_, org))
        assert got == expected, role
    # role names compare case-insensitively, and any one grant suffices
    assert roles.allowed(set_, {"help desk", "recipient management"})


def test_roles_for_dap() -> None:
    assert roles.roles_for_dap(["AdminAgents"]) == {roles.ORGANIZATION_MANAGEMENT}
    assert roles.roles_for_dap(frozenset({"helpdeskagents"})) == {roles.HELP_DESK}
    assert roles.roles_for_dap(["AdminAgents", "HelpdeskAgents"]) == {
        roles.ORGANIZATION_MANAGEMENT,
        roles.HELP_DESK,
    }
    assert roles.roles_for_dap(["SalesAgents"]) == frozenset()
    assert {roles.ORGANIZATION_MANAGEMENT, roles.HELP_DESK} <= roles.EXCHANGE_ROLE_GROUPS


def test_default_registry_contents() -> None:
    r = default_registry()
    names = [d.name for d in r]
    assert names == sorted(names, key=str.lower)
    assert {"Get-Command", "Get-FormatData", "Measure-Object", "Select-Object", "Get-Mailbox", "Set-Mailbox"} <= set(
        names
    )
    for d in r:
        # Exchange's verbs for reads never write; every Set/New/Remove/Add/Enable/Disable does.
        assert d.writes == (d.verb in {"Set", "New", "Remove", "Add", "Enable", "Disable"}), d.name
        assert d.area in roles.ALL_AREAS, d.name
        if d.verb == "Remove":
            assert d.confirm_impact == "High", d.name


def test_wildcards_cannot_backtrack_exponentially() -> None:
    # A regular expression takes minutes on this, holding the interpreter lock.
    pattern = "*?" * 40 + "*x"
    started = time.perf_counter()
    assert matches(pattern, "a" * 2000) is False
    assert matches(pattern, "a" * 2000 + "x") is True
    assert time.perf_counter() - started < 2.0
