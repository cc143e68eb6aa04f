"""Import-PSSession's format-data steps against a real server, with pypsrp.

Windows PowerShell 5.1 runs ``Get-FormatData -TypeName * -PowerShellVersion <its version>`` twice,
once piped to ``Measure-Object`` to count (ImplicitRemotingCommands.cs ``GetRemoteFormatData``), and
rehydrates each object (rules in tests/cmdlets/test_format_data.py); then ``Get-Mailbox`` objects must
carry the type name the Mailbox view names for the generated format file to apply to them.
"""

from __future__ import annotations

from typing import Any

import pytest
from pypsrp.powershell import PowerShell

from aobo.cmdlets.formats import VIEWS, find_views
from tests.e2e.helpers import PARTNER_ADMIN, Endpoint, _raw_collection, objects_of, plain, run

ORG = "contoso.onmicrosoft.com"
SMA = "System.Management.Automation"


def _expected(view: Any) -> dict[str, Any]:
    """A definition as pypsrp reads it: enums travel as their names, a missing label as null."""
    return {
        "TypeName": view.type_name,
        "TypeNames": [view.type_name],
        "FormatViewDefinition": [
            {
                "Name": view.type_name,
                "InstanceId": view.instance_id,
                "Control": {
                    "Headers": [
                        {"Label": c.label, "Alignment": c.alignment.name, "Width": c.width} for c in view.columns
                    ],
                    "Rows": [
                        {
                            "Columns": [
                                {
                                    "Alignment": "Undefined",
                                    "DisplayEntry": {"ValueType": "Property", "Value": c.property},
                                    "FormatString": None,
                                }
                                for c in view.columns
                            ],
                            "SelectedBy": None,
                            "Wrap": False,
                        }
                    ],
                    "AutoSize": False,
                    "HideTableHeaders": False,
                    "GroupBy": None,
                    "OutOfBand": False,
                },
            }
        ],
    }


def _nested(value: Any) -> Any:
    """objects_of goes one level down; the definitions nest five."""
    value = plain(value)
    if isinstance(value, dict):
        return {k: _nested(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nested(v) for v in value]
    return value


def _as_list(value: Any) -> list[Any]:
    """A list property as pypsrp hands it over: a list, or an object whose <LST> it kept as XML."""
    if isinstance(value, list):
        return value
    raw = next(v for v in value.property_sets if isinstance(v, str | list))
    return raw if isinstance(raw, list) else _raw_collection(raw)


def test_get_format_data_as_import_pssession_asks(rps: Endpoint) -> None:
    with rps.pool(PARTNER_ADMIN, ORG) as pool:
        ps = run(pool, "Get-FormatData", ("TypeName", "*"), ("PowerShellVersion", "5.1.17763.771"))
        assert not ps.had_errors, [str(e) for e in ps.streams.error]
        assert [o.types[:2] for o in ps.output] == [[f"{SMA}.ExtendedTypeDefinition", "System.Object"]] * len(VIEWS)
        got = [_nested(o) for o in ps.output]
        assert got == [_expected(v) for v in VIEWS]
        # The type names the client's rehydration goes by, and the code property among the note properties.
        view = _as_list(ps.output[0].adapted_properties["FormatViewDefinition"])[0]
        assert view.types[0] == f"{SMA}.FormatViewDefinition"
        assert set(view.adapted_properties) == {"Name", "Control"} and set(view.extended_properties) == {"InstanceId"}
        control = view.adapted_properties["Control"]
        assert control.types == [f"{SMA}.TableControl", f"{SMA}.PSControl", "System.Object"]
        header = _as_list(control.adapted_properties["Headers"])[0]
        row = _as_list(control.adapted_properties["Rows"])[0]
        column = _as_list(row.adapted_properties["Columns"])[0]
        assert [header.types[0], row.types[0], column.types[0], column.adapted_properties["DisplayEntry"].types[0]] == [
            f"{SMA}.TableControlColumnHeader",
            f"{SMA}.TableControlRow",
            f"{SMA}.TableControlColumn",
            f"{SMA}.DisplayEntry",
        ]


def test_import_pssession_counts_the_definitions(rps: Endpoint) -> None:
    with rps.pool(PARTNER_ADMIN, ORG) as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Get-FormatData").add_parameter("TypeName", "*Mailbox").add_parameter("PowerShellVersion", "5.1")
        ps.add_cmdlet("Measure-Object")
        ps.invoke()
        assert not ps.had_errors, [str(e) for e in ps.streams.error]
        assert [o["Count"] for o in objects_of(ps)] == [1]


def test_get_mailbox_objects_carry_the_type_the_mailbox_view_names(rps: Endpoint) -> None:
    (view,) = find_views(["*Mailbox"])
    with rps.pool(PARTNER_ADMIN, ORG) as pool:
        ps = run(pool, "Get-Mailbox", ("ResultSize", 2))
        assert not ps.had_errors
        # Sent without "Deserialized."; PowerShell adds it and its formatter masks it to find the view.
        assert {o.types[0] for o in ps.output} == {view.type_name}
        mailbox = objects_of(ps)[0]
        assert all(c.property in mailbox for c in view.columns)


@pytest.mark.parametrize("surface", ["rest"], indirect=True)
def test_get_format_data_over_rest_is_plain_json(surface: Endpoint) -> None:
    """REST has no formatting; the definitions still come back whole (as JSON), never a 500."""
    (view,) = find_views(["*Mailbox"])
    with surface.pool(PARTNER_ADMIN, ORG) as pool:
        result = run(pool, "Get-FormatData", ("TypeName", "*Mailbox"), ("PowerShellVersion", "5.1"))
        assert result.status == 200 and not result.had_errors
        (definition,) = result.output
        assert definition["TypeNames"] == [view.type_name]
        headers = definition["FormatViewDefinition"][0]["Control"]["Headers"]
        assert [h["Width"] for h in headers] == [c.width for c in view.columns]
