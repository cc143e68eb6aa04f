"""What partner portals put in ``Parameters``: OData annotations (dropped before binding) and
``@{Add=...; Remove=...}`` as ``Exchange.GenericHashTable`` (bound as PSRP's hashtable is); and
ShouldProcess for a caller that never prompts (REST)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from aobo.cmdlets.confirm import Confirmation
from aobo.cmdlets.context import CmdletContext
from aobo.cmdlets.parameters import MultiValuedChange, MultiValuedUpdate, StringType
from aobo.cmdlets.results import CmdletError, InformationalRecord
from aobo.frontends.rest import requests as rq

GENERIC = "#Exchange.GenericHashTable"


def _parameters(body: str) -> list[tuple[str | None, Any]]:
    return rq.parse_invocation(json.loads(body)).parameters


@pytest.mark.parametrize(
    ("key", "annotation"),
    [
        ("@odata.type", True),
        ("@odata.context", True),
        ("@adminapi.warnings", True),
        ("@anything", True),
        ("EmailAddresses@odata.type", True),
        ("add@OData.Type", True),
        ("Identity", False),
        ("Add", False),
        ("user@contoso.com", False),  # a hashtable key may be an address
        ("user@odata.com", False),  # ... even at a domain named odata
        ("Members@odata.bind", True),
        ("Foo@bar", False),
    ],
)
def test_is_annotation(key: str, annotation: bool) -> None:
    assert rq.is_annotation(key) is annotation


def test_cipps_generic_hashtable_loses_its_annotations_and_keeps_the_rest_in_order() -> None:
    # Set-Mailbox -EmailAddresses @{add=...} as CIPP's New-ExoRequest serialises it.
    parameters = _parameters(
        json.dumps(
            {
                "CmdletInput": {
                    "CmdletName": "Set-Mailbox",
                    "Parameters@odata.type": "#Exchange.GenericHashTable",
                    "Parameters": {
                        "@odata.type": GENERIC,
                        "Identity": "adele@contoso.com",
                        "EmailAddresses@odata.type": GENERIC,
                        "EmailAddresses": {
                            "@odata.type": GENERIC,
                            "add@odata.type": "#Collection(String)",
                            "add": ["smtp:a@contoso.com"],
                            "REMOVE": "smtp:b@contoso.com",
                        },
                        "@odata.context": "https://outlook.office365.com/adminapi/beta/$metadata",
                    },
                }
            }
        )
    )
    assert parameters == [
        ("Identity", "adele@contoso.com"),
        ("EmailAddresses", {"add": ["smtp:a@contoso.com"], "REMOVE": "smtp:b@contoso.com"}),
    ]


def test_annotations_inside_arrays_and_nested_objects_are_dropped() -> None:
    parameters = _parameters(
        '{"CmdletInput": {"CmdletName": "Set-Thing", "Parameters": {"List": [{"@odata.type": "#X", "a": '
        '{"@odata.type": "#Y", "b": 1}}, "c"], "List@odata.type": "#Collection(Exchange.X)"}}}'
    )
    assert parameters == [("List", [{"a": {"b": 1}}, "c"])]


def test_plain_names_stay_for_the_binder_to_refuse() -> None:
    # An unknown parameter is not an annotation: the binder answers it with Exchange's error.
    assert _parameters('{"CmdletInput": {"CmdletName": "Get-Mailbox", "Parameters": {"NoSuch": 1}}}') == [("NoSuch", 1)]


@pytest.mark.parametrize(
    ("rest", "psrp"),
    [
        ({"@odata.type": GENERIC, "add": ["x@y.com"]}, {"Add": ["x@y.com"]}),
        ({"@odata.type": GENERIC, "Remove": "x@y.com"}, {"Remove": "x@y.com"}),
        (
            {"@odata.type": GENERIC, "ADD": ["a@y.com"], "remove": ["b@y.com"]},
            {"Add": ["a@y.com"], "Remove": ["b@y.com"]},
        ),
    ],
)
def test_a_generic_hashtable_binds_like_psrps_hashtable(rest: dict[str, Any], psrp: dict[str, Any]) -> None:
    update = MultiValuedUpdate(StringType())
    [(_, value)] = _parameters(json.dumps({"CmdletInput": {"CmdletName": "Set-X", "Parameters": {"P": rest}}}))
    change = update.convert(value)
    assert isinstance(change, MultiValuedChange) and change.replace is None
    assert change == update.convert(psrp)


def _context(*, never_prompts: bool) -> CmdletContext:
    # ShouldProcess reads only the host and the flag; no store is needed.
    return CmdletContext(None, None, None, None, frozenset(), never_prompts=never_prompts)  # type: ignore[arg-type]


@pytest.mark.parametrize("confirm", [None, True, False])
def test_a_caller_that_never_prompts_is_asked_nothing(confirm: bool | None) -> None:
    bound = {} if confirm is None else {"Confirm": confirm}
    written: list[Any] = []
    confirmation = Confirmation(_context(never_prompts=True), "Remove-Mailbox", "High", bound, written.append)
    assert confirmation.should_process('Removing mailbox "x".') is True
    assert written == []


def test_whatif_still_changes_nothing_for_a_caller_that_never_prompts() -> None:
    written: list[Any] = []
    bound = {"WhatIf": True, "Confirm": True}
    confirmation = Confirmation(_context(never_prompts=True), "Remove-Mailbox", "High", bound, written.append)
    assert confirmation.should_process('Removing mailbox "x".') is False
    assert written == [InformationalRecord('What if: Removing mailbox "x".')]


def test_a_caller_without_a_host_that_may_prompt_still_gets_the_non_interactive_error() -> None:
    confirmation = Confirmation(_context(never_prompts=False), "Remove-Mailbox", "High", {}, lambda _: None)
    with pytest.raises(CmdletError) as info:
        confirmation.should_process('Removing mailbox "x".')
    assert info.value.record.fully_qualified_error_id == "HostFunctionNotImplemented,Remove-Mailbox"
