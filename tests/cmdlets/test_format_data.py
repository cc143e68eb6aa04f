"""Get-FormatData: the view definitions, their CLIXML, and what Windows PowerShell 5.1 does with it.

The reader below (:func:`rehydrate`) applies the rules of PowerShell's ``DeserializingTypeConverter``
(``engine/serialization.cs``, ``RehydrateExtendedTypeDefinition`` and the functions it calls, the same
in the 2016 import of Windows PowerShell 5.1's code as today) to psrpcore's reading of our CLIXML:
which type names select which rehydrator, which properties must be present and not null, and what
each must convert to. Import-PSSession fails with "Data returned by the remote Get-FormatData command
is not in the expected format." exactly where this reader raises :class:`Malformed`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree

import pytest
from psrpcore.types import PSCryptoProvider, PSGuid, PSInt, PSList, PSObject, PSVersion, deserialize

from aobo.cmdlets.catalog import default_registry
from aobo.cmdlets.context import CmdletContext
from aobo.cmdlets.formats import (
    VIEWS,
    Alignment,
    Column,
    TableView,
    extended_type_definitions,
    find_views,
)
from aobo.cmdlets.parameters import VersionType
from aobo.cmdlets.pipeline import CommandInvocation, run_pipeline
from aobo.cmdlets.registry import Registry
from aobo.cmdlets.results import CmdletError, ExchangeObject, MixedShape, ObjectShape
from aobo.frontends.psrp.clixml import ClixmlWriter, dumps
from aobo.frontends.psrp.generic import generic_dumps
from aobo.frontends.rest.values import JsonWriter, plain

MAILBOX = "Microsoft.Exchange.Data.Directory.Management.Mailbox"
RECIPIENT = "Microsoft.Exchange.Data.Directory.Management.ReducedRecipient"
SMA = "System.Management.Automation"


def cmd(name: str, *params: tuple[str | None, Any]) -> CommandInvocation:
    return CommandInvocation(name, list(params))


def run(ctx: CmdletContext, registry: Registry, *commands: CommandInvocation) -> list[Any]:
    return list(run_pipeline(ctx, registry, list(commands)))


@pytest.fixture
def ctx(fake_ctx: Callable[..., CmdletContext]) -> CmdletContext:
    return fake_ctx()


# --- the 5.1 client's rehydration, as a reader of psrpcore objects ---------------------------------------


class Malformed(Exception):
    """Where Windows PowerShell 5.1 would fail to rehydrate the definition."""


@dataclass(frozen=True)
class Header:
    label: str | None
    alignment: Alignment
    width: int


@dataclass(frozen=True)
class Cell:
    alignment: Alignment
    value_type: str
    value: str
    format_string: str | None


@dataclass(frozen=True)
class Table:
    headers: tuple[Header, ...]
    rows: tuple[tuple[Cell, ...], ...]
    wraps: tuple[bool, ...]
    auto_size: bool
    hide_headers: bool
    out_of_band: bool


@dataclass(frozen=True)
class View:
    name: str
    instance_id: uuid.UUID
    control: Table


@dataclass(frozen=True)
class Definition:
    type_names: tuple[str, ...]
    views: tuple[View, ...]


_MISSING = object()


def _is(obj: Any, dotnet_type: str) -> bool:
    """Deserializer.IsDeserializedInstanceOfType: one type name is exactly Deserialized.<type>."""
    names = obj.PSObject.type_names if isinstance(obj, PSObject) else []
    return any(n.lower() == f"deserialized.{dotnet_type}".lower() for n in names)


def _get(obj: Any, name: str, *, missing_ok: bool = False, null_ok: bool = False) -> Any:
    """GetPropertyValue's flags: a missing property and a null value are errors unless allowed.
    (PowerShell finds properties case-insensitively among adapted and note properties alike.)"""
    props = {p.name.lower(): p for p in (*obj.PSObject.adapted_properties, *obj.PSObject.extended_properties)}
    prop = props.get(name.lower())
    if prop is None:
        if missing_ok:
            return _MISSING
        raise Malformed(f"{obj.PSObject.type_names[0]} has no {name}")
    value = prop.get_value(obj)
    if value is None and not null_ok:
        raise Malformed(f"{obj.PSObject.type_names[0]}.{name} is null")
    return value


def _enum(value: Any, names: tuple[str, ...]) -> int:
    """LanguagePrimitives.ConvertTo(value, <enum>): a member name (any case) or its number."""
    if isinstance(value, str):
        lowered = [n.lower() for n in names]
        if value.lower() not in lowered:
            raise Malformed(f"{value!r} is not one of {names}")
        return lowered.index(value.lower())
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(names):
        return int(value)
    raise Malformed(f"{value!r} does not convert to an enum of {names}")


def _typed(value: Any, kind: type) -> Any:
    if kind is int and (not isinstance(value, int) or isinstance(value, bool)):
        raise Malformed(f"{value!r} is not an Int32")
    if kind is bool and not isinstance(value, bool):
        raise Malformed(f"{value!r} is not a Boolean")
    if kind is str and not isinstance(value, str):
        raise Malformed(f"{value!r} is not a String")
    return value


def _list(obj: Any, name: str, *, missing_ok: bool = False) -> list[Any] | None:
    """RehydrateList: the property converted to an ArrayList (a deserialized <LST>)."""
    value = _get(obj, name, missing_ok=missing_ok)
    if value is _MISSING:
        return None
    if not isinstance(value, PSList):
        raise Malformed(f"{name} is not a list")
    return list(value)


def _alignment(obj: Any) -> Alignment:
    return Alignment(_enum(_get(obj, "Alignment"), tuple(a.name for a in Alignment)))


def _cell(column: Any) -> Cell:
    if not _is(column, f"{SMA}.TableControlColumn"):
        raise Malformed("not a TableControlColumn")
    entry = _get(column, "DisplayEntry")
    if not _is(entry, f"{SMA}.DisplayEntry"):
        raise Malformed("not a DisplayEntry")
    value_type = ("Property", "ScriptBlock")[_enum(_get(entry, "ValueType"), ("Property", "ScriptBlock"))]
    fmt = _get(column, "FormatString", missing_ok=True, null_ok=True)
    return Cell(
        _alignment(column),
        value_type,
        _typed(_get(entry, "Value"), str),
        None if fmt is _MISSING else fmt,
    )


def _table(control: Any) -> Table:
    if not _is(control, f"{SMA}.PSControl"):  # what selects RehydratePSControl
        raise Malformed("not a PSControl")
    if not _is(control, f"{SMA}.TableControl"):
        raise Malformed("a control other than a table")

    def flag(name: str) -> bool:
        value = _get(control, name, missing_ok=True, null_ok=True)
        return False if value in (_MISSING, None) else _typed(value, bool)

    headers = []
    for h in _list(control, "Headers") or ():
        if not _is(h, f"{SMA}.TableControlColumnHeader"):
            raise Malformed("not a TableControlColumnHeader")
        label = _get(h, "Label", null_ok=True)
        headers.append(Header(label, _alignment(h), _typed(_get(h, "Width"), int)))
    rows, wraps = [], []
    for r in _list(control, "Rows") or ():
        if not _is(r, f"{SMA}.TableControlRow"):
            raise Malformed("not a TableControlRow")
        rows.append(tuple(_cell(c) for c in _list(r, "Columns") or ()))
        wrap = _get(r, "Wrap", missing_ok=True, null_ok=True)
        wraps.append(False if wrap in (_MISSING, None) else _typed(wrap, bool))
    group_by = _get(control, "GroupBy", missing_ok=True, null_ok=True)
    if group_by not in (_MISSING, None):
        raise Malformed("GroupBy is not modelled here")
    return Table(
        tuple(headers), tuple(rows), tuple(wraps), flag("AutoSize"), flag("HideTableHeaders"), flag("OutOfBand")
    )


def rehydrate(obj: Any) -> Definition:
    """RehydrateExtendedTypeDefinition, for table views."""
    if not _is(obj, f"{SMA}.ExtendedTypeDefinition"):
        raise Malformed("not an ExtendedTypeDefinition")
    type_names = _list(obj, "TypeNames", missing_ok=True)
    if not type_names:
        type_names = [_typed(_get(obj, "TypeName"), str)]
    views = []
    for v in _list(obj, "FormatViewDefinition") or ():
        if not _is(v, f"{SMA}.FormatViewDefinition"):
            raise Malformed("not a FormatViewDefinition")
        instance_id = _get(v, "InstanceId")
        if not isinstance(instance_id, PSGuid | uuid.UUID):
            raise Malformed("InstanceId is not a Guid")
        views.append(View(_typed(_get(v, "Name"), str), uuid.UUID(str(instance_id)), _table(_get(v, "Control"))))
    return Definition(tuple(_typed(t, str) for t in type_names), tuple(views))


def read(xml: bytes) -> Any:
    return deserialize(ElementTree.fromstring(xml), PSCryptoProvider())


def expected(view: TableView) -> Definition:
    """What the client must end up with for ``view``."""
    table = Table(
        tuple(Header(c.label, c.alignment, c.width) for c in view.columns),
        (tuple(Cell(Alignment.Undefined, "Property", c.property, None) for c in view.columns),),
        (False,),
        False,
        False,
        False,
    )
    return Definition((view.type_name,), (View(view.type_name, view.instance_id, table),))


# --- the definitions ---------------------------------------------------------------------------------------


def _engine_shapes() -> dict[str, ObjectShape]:
    from aobo.cmdlets.exchange import common

    default_registry()  # every family module declares its templates on import
    return {shape.type_names[0]: shape for shape, _ in common._SHAPE_DEFAULTS.values()}


@pytest.mark.parametrize("view", VIEWS, ids=lambda v: v.type_name.rsplit(".", 1)[1])
def test_each_view_names_a_type_aobo_returns_and_its_properties(view: TableView) -> None:
    shape = _engine_shapes().get(view.type_name)
    assert shape is not None, f"no cmdlet returns {view.type_name}"
    missing = [c.property for c in view.columns if c.property not in shape.property_names]
    assert missing == []


def test_views_are_distinct_and_identified_for_ever() -> None:
    assert len({v.type_name for v in VIEWS}) == len(VIEWS)
    assert len({v.instance_id for v in VIEWS}) == len(VIEWS)
    # The id is derived from the type name: the same view keeps its id across sessions and servers.
    mailbox = next(v for v in VIEWS if v.type_name == MAILBOX)
    assert mailbox.instance_id == TableView(MAILBOX, (Column("Name"),), "x").instance_id


def test_mailbox_view_is_exchange_onlines_default_table() -> None:
    (view,) = find_views([MAILBOX])
    assert [(c.property, c.width, c.label, c.alignment) for c in view.columns] == [
        ("Name", 25, None, Alignment.Undefined),
        ("Alias", 20, None, Alignment.Undefined),
        ("ServerName", 16, None, Alignment.Undefined),
        ("ProhibitSendQuota", 0, None, Alignment.Undefined),
    ]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Column("Name; Get-Process"), "not a property name"),
        (lambda: Column("{$_.Name}"), "not a property name"),
        (lambda: Column("Name", -1), "out of range"),
        (lambda: Column("Name", label=" "), "empty label"),
        (lambda: TableView("Deserialized." + MAILBOX, (Column("Name"),), "x"), "as the server's objects"),
        (lambda: TableView(MAILBOX, (), "x"), "no columns"),
        (lambda: TableView(MAILBOX, (Column("Name"), Column("name")), "x"), "twice"),
        (lambda: TableView(MAILBOX, (Column("Name"),), " "), "evidence"),
    ],
)
def test_malformed_definitions_are_refused(make: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize(
    ("patterns", "names"),
    [
        (None, [v.type_name for v in VIEWS]),
        (["*"], [v.type_name for v in VIEWS]),
        (["*Mailbox"], [MAILBOX]),
        (["microsoft.exchange.data.directory.management.MAILBOX"], [MAILBOX]),
        (["*.ReducedRecipient", "*Mailbox"], [MAILBOX, RECIPIENT]),
        (["System.*"], []),
    ],
)
def test_type_name_patterns(patterns: list[str] | None, names: list[str]) -> None:
    assert [v.type_name for v in find_views(patterns)] == names


# --- Get-FormatData in the engine --------------------------------------------------------------------------


def test_get_format_data_returns_one_definition_per_view(ctx: CmdletContext, registry: Registry) -> None:
    out = run(ctx, registry, cmd("Get-FormatData", ("TypeName", "*"), ("PowerShellVersion", "5.1.17763.771")))
    assert [o.type_names[0] for o in out] == [f"{SMA}.ExtendedTypeDefinition"] * len(VIEWS)
    assert [o["TypeName"] for o in out] == [v.type_name for v in VIEWS]
    # Import-PSSession's counting step.
    (count,) = run(ctx, registry, cmd("Get-FormatData", ("TypeName", "*Mailbox")), cmd("Measure-Object"))
    assert count["Count"] == 1
    assert [plain(o) for o in run(ctx, registry, cmd("Get-FormatData"))] == [plain(o) for o in out]


@pytest.mark.parametrize("version", ["5.1", "5.1.17763.771", "2.0", "7.4.6"])
def test_every_client_version_gets_the_same_definitions(ctx: CmdletContext, registry: Registry, version: str) -> None:
    # Every view names one type and has no GroupBy or row selection: the old and new ways agree.
    out = run(ctx, registry, cmd("Get-FormatData", ("TypeName", MAILBOX), ("PowerShellVersion", version)))
    assert [plain(o) for o in out] == [plain(next(extended_type_definitions([MAILBOX])))]


@pytest.mark.parametrize(
    ("version", "error"),
    [
        ("five.0", "Input string was not in a correct format."),
        ("5", "Version string portion was too short or too long."),
        ("1." + "9" * 5000, "Value was either too large or too small for an Int32."),
        ("5.2147483648", "Value was either too large or too small for an Int32."),
    ],
)
def test_power_shell_version_must_be_a_version(
    ctx: CmdletContext, registry: Registry, version: str, error: str
) -> None:
    with pytest.raises(CmdletError) as info:
        run(ctx, registry, cmd("Get-FormatData", ("PowerShellVersion", version)))
    assert 'to type "System.Version"' in info.value.record.message and error in info.value.record.message


def test_power_shell_version_as_windows_sends_it(ctx: CmdletContext, registry: Registry) -> None:
    # Import-PSSession passes PSVersionInfo.PSVersion, a System.Version: <Version> in CLIXML, which
    # psrpcore reads as PSVersion and the runspace hands to the binder unchanged.
    version = PSVersion("5.1.17763.771")
    assert VersionType().convert(version) == (5, 1, 17763, 771)
    assert len(run(ctx, registry, cmd("Get-FormatData", ("TypeName", "*"), ("PowerShellVersion", version)))) == len(
        VIEWS
    )


@pytest.mark.parametrize(
    "command",
    [
        cmd("Get-Mailbox", ("ResultSize", 1)),
        cmd("Get-Recipient", ("ResultSize", 1)),
        cmd("Get-User", ("ResultSize", 1)),
        cmd("Get-DistributionGroup", ("ResultSize", 1)),
        cmd("Get-AcceptedDomain"),
    ],
    ids=lambda c: c.name,
)
def test_output_objects_carry_the_type_their_view_names(
    seeded_store: Any, partner_ctx: Callable[..., Any], command: CommandInvocation
) -> None:
    out = [o for o in run(partner_ctx(seeded_store, "admin", "contoso"), default_registry(), command)]
    objects = [o for o in out if isinstance(o, ExchangeObject)]
    assert objects, out
    assert find_views([objects[0].type_names[0]]), f"{objects[0].type_names[0]} has no view"


# --- the CLIXML, as Windows PowerShell 5.1 reads it --------------------------------------------------------


@pytest.mark.parametrize("view", VIEWS, ids=lambda v: v.type_name.rsplit(".", 1)[1])
def test_every_definition_rehydrates_to_its_view(view: TableView) -> None:
    (definition,) = extended_type_definitions([view.type_name])
    assert rehydrate(read(dumps(definition))) == expected(view)
    # The slow psrpcore route the fast writer falls back to says the same.
    assert rehydrate(read(generic_dumps(definition))) == expected(view)


def test_the_format_file_the_client_writes_would_load() -> None:
    """FormatXMLWriter writes each header and row item; the format loader refuses a table whose
    header count differs from a row's item count, and Import-Module would fail."""
    definitions = list(extended_type_definitions(None))
    assert len(definitions) == len(VIEWS)
    for definition in definitions:
        for view in rehydrate(read(dumps(definition))).views:
            assert view.control.rows, view.name
            assert view.control.headers and all(len(r) == len(view.control.headers) for r in view.control.rows)
            assert all(c.value_type == "Property" and c.value for r in view.control.rows for c in r)


def test_clixml_where_the_serializer_puts_each_property() -> None:
    """Adapted <Props> for the .NET properties, <MS> for FormatViewDefinition's code property
    InstanceId; enums at depth 0 as their text; the .NET type hierarchy as type names."""
    (definition,) = extended_type_definitions([MAILBOX])
    obj = read(dumps(definition))

    def names(o: Any) -> tuple[list[str], list[str]]:
        return [p.name for p in o.PSObject.adapted_properties], [p.name for p in o.PSObject.extended_properties]

    assert obj.PSObject.type_names == [f"Deserialized.{SMA}.ExtendedTypeDefinition", "Deserialized.System.Object"]
    assert obj.PSObject.to_string == MAILBOX
    assert names(obj) == (["TypeName", "TypeNames", "FormatViewDefinition"], [])
    view = obj.FormatViewDefinition[0]
    assert names(view) == (["Name", "Control"], ["InstanceId"])
    assert isinstance(view.InstanceId, PSGuid)
    control = view.Control
    assert control.PSObject.type_names[:2] == [f"Deserialized.{SMA}.TableControl", f"Deserialized.{SMA}.PSControl"]
    assert names(control) == (["Headers", "Rows", "AutoSize", "HideTableHeaders", "GroupBy", "OutOfBand"], [])
    header = control.Headers[0]
    assert names(header) == (["Label", "Alignment", "Width"], [])
    assert (header.Label, header.Alignment, header.Width) == (None, "Undefined", 25)
    assert isinstance(header.Width, PSInt) and type(header.Alignment) is not PSInt
    row = control.Rows[0]
    assert names(row) == (["Columns", "SelectedBy", "Wrap"], [])
    column = row.Columns[0]
    assert names(column) == (["Alignment", "DisplayEntry", "FormatString"], [])
    assert column.PSObject.to_string == "Name"
    assert names(column.DisplayEntry) == (["ValueType", "Value"], [])
    assert column.DisplayEntry.PSObject.to_string == "property: Name"
    assert control.Headers.PSObject.type_names[0] == (
        f"Deserialized.System.Collections.Generic.List`1[[{SMA}.TableControlColumnHeader, {SMA}, "
        "Version=3.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35]]"
    )


# One definition exactly as a Windows PowerShell 5.1 server writes it (serialization.cs and
# Types_Ps1Xml.generated.cs; see aobo.cmdlets.formats), one element a line.
RECIPIENT_CLIXML = """
<Obj RefId="0"><TN RefId="0"><T>System.Management.Automation.ExtendedTypeDefinition</T><T>System.Object</T></TN>
<ToString>Microsoft.Exchange.Data.Directory.Management.ReducedRecipient</ToString>
<Props>
<S N="TypeName">Microsoft.Exchange.Data.Directory.Management.ReducedRecipient</S>
<Obj N="TypeNames" RefId="1"><TN RefId="1"><T>System.Collections.Generic.List`1[[System.String, mscorlib, \
Version=4.0.0.0, Culture=neutral, PublicKeyToken=b77a5c561934e089]]</T><T>System.Object</T></TN>
<LST><S>Microsoft.Exchange.Data.Directory.Management.ReducedRecipient</S></LST></Obj>
<Obj N="FormatViewDefinition" RefId="2"><TN RefId="2"><T>System.Collections.Generic.List`1[[\
System.Management.Automation.FormatViewDefinition, System.Management.Automation, Version=3.0.0.0, Culture=neutral, \
PublicKeyToken=31bf3856ad364e35]]</T><T>System.Object</T></TN>
<LST>
<Obj RefId="3"><TN RefId="3"><T>System.Management.Automation.FormatViewDefinition</T><T>System.Object</T></TN>
<ToString>System.Management.Automation.FormatViewDefinition</ToString>
<Props>
<S N="Name">Microsoft.Exchange.Data.Directory.Management.ReducedRecipient</S>
<Obj N="Control" RefId="4"><TN RefId="4"><T>System.Management.Automation.TableControl</T>\
<T>System.Management.Automation.PSControl</T><T>System.Object</T></TN>
<ToString>System.Management.Automation.TableControl</ToString>
<Props>
<Obj N="Headers" RefId="5"><TN RefId="5"><T>System.Collections.Generic.List`1[[\
System.Management.Automation.TableControlColumnHeader, System.Management.Automation, Version=3.0.0.0, Culture=neutral, \
PublicKeyToken=31bf3856ad364e35]]</T><T>System.Object</T></TN>
<LST>
<Obj RefId="6"><TN RefId="6"><T>System.Management.Automation.TableControlColumnHeader</T><T>System.Object</T></TN>
<ToString>System.Management.Automation.TableControlColumnHeader</ToString>
<Props><Nil N="Label" /><S N="Alignment">Undefined</S><I32 N="Width">0</I32></Props></Obj>
<Obj RefId="7"><TNRef RefId="6" /><ToString>System.Management.Automation.TableControlColumnHeader</ToString>
<Props><Nil N="Label" /><S N="Alignment">Undefined</S><I32 N="Width">0</I32></Props></Obj>
</LST></Obj>
<Obj N="Rows" RefId="8"><TN RefId="7"><T>System.Collections.Generic.List`1[[\
System.Management.Automation.TableControlRow, System.Management.Automation, Version=3.0.0.0, Culture=neutral, \
PublicKeyToken=31bf3856ad364e35]]</T><T>System.Object</T></TN>
<LST>
<Obj RefId="9"><TN RefId="8"><T>System.Management.Automation.TableControlRow</T><T>System.Object</T></TN>
<ToString>System.Management.Automation.TableControlRow</ToString>
<Props>
<Obj N="Columns" RefId="10"><TN RefId="9"><T>System.Collections.Generic.List`1[[\
System.Management.Automation.TableControlColumn, System.Management.Automation, Version=3.0.0.0, Culture=neutral, \
PublicKeyToken=31bf3856ad364e35]]</T><T>System.Object</T></TN>
<LST>
<Obj RefId="11"><TN RefId="10"><T>System.Management.Automation.TableControlColumn</T><T>System.Object</T></TN>
<ToString>Name</ToString>
<Props><S N="Alignment">Undefined</S>
<Obj N="DisplayEntry" RefId="12"><TN RefId="11"><T>System.Management.Automation.DisplayEntry</T>\
<T>System.Object</T></TN>
<ToString>property: Name</ToString><Props><S N="ValueType">Property</S><S N="Value">Name</S></Props></Obj>
<Nil N="FormatString" /></Props></Obj>
<Obj RefId="13"><TNRef RefId="10" /><ToString>RecipientType</ToString>
<Props><S N="Alignment">Undefined</S>
<Obj N="DisplayEntry" RefId="14"><TNRef RefId="11" /><ToString>property: RecipientType</ToString>
<Props><S N="ValueType">Property</S><S N="Value">RecipientType</S></Props></Obj>
<Nil N="FormatString" /></Props></Obj>
</LST></Obj>
<Nil N="SelectedBy" /><B N="Wrap">false</B>
</Props></Obj>
</LST></Obj>
<B N="AutoSize">false</B><B N="HideTableHeaders">false</B><Nil N="GroupBy" /><B N="OutOfBand">false</B>
</Props></Obj>
</Props>
<MS><G N="InstanceId">{instance_id}</G></MS>
</Obj>
</LST></Obj>
</Props></Obj>
"""


def test_clixml_of_one_definition_exactly() -> None:
    (view,) = find_views([RECIPIENT])
    (definition,) = extended_type_definitions([RECIPIENT])
    want = RECIPIENT_CLIXML.replace("\n", "").replace("{instance_id}", str(view.instance_id))
    assert dumps(definition).decode() == want


def test_the_fast_writers_generated_renderers_write_the_same() -> None:
    """After 16 objects of a shape the writer switches to a generated renderer; the <Props>/<MS>
    split of FormatViewDefinition must survive the switch."""
    writer = ClixmlWriter(generate_after=2)
    (definition,) = extended_type_definitions([MAILBOX])
    first = writer.dumps(definition)
    assert all(writer.dumps(definition) == first for _ in range(5))
    assert first == ClixmlWriter(generate_after=None).dumps(definition)


# --- the checks above can fail -----------------------------------------------------------------------------


def _without(obj: ExchangeObject, name: str) -> ExchangeObject:
    names = tuple(n for n in obj.shape.property_names if n != name)
    shape = ObjectShape(obj.type_names, names, adapted=obj.shape.adapted)
    if isinstance(obj.shape, MixedShape):
        # The same split between adapted and note properties, less the one removed.
        adapted = len([n for n in obj.shape.property_names[: obj.shape.adapted_count] if n != name])
        if adapted < len(names):
            shape = MixedShape(obj.type_names, names, adapted=True, adapted_count=adapted)
    return ExchangeObject(shape, tuple(v for n, v in obj.items() if n != name), obj.to_string)


def _replace_view(definition: ExchangeObject, view: ExchangeObject) -> ExchangeObject:
    views = definition["FormatViewDefinition"]
    values = tuple(
        type(views)((view,), views.type_names) if n == "FormatViewDefinition" else v for n, v in definition.items()
    )
    return ExchangeObject(definition.shape, values, definition.to_string)


def test_the_reader_refuses_what_powershell_refuses() -> None:
    (definition,) = extended_type_definitions([MAILBOX])
    view = definition["FormatViewDefinition"].items[0]
    with pytest.raises(Malformed, match="no InstanceId"):
        rehydrate(read(dumps(_replace_view(definition, _without(view, "InstanceId")))))
    with pytest.raises(Malformed, match="no FormatViewDefinition"):
        rehydrate(read(dumps(_without(definition, "FormatViewDefinition"))))
    # Without TypeNames, TypeName is used (an older server).
    assert rehydrate(read(dumps(_without(definition, "TypeNames")))).type_names == (MAILBOX,)
    renamed = ExchangeObject(
        ObjectShape(
            ("System.Management.Automation.ExtendedTypeData", "System.Object"), definition.shape.property_names
        ),
        definition.values,
    )
    with pytest.raises(Malformed, match="not an ExtendedTypeDefinition"):
        rehydrate(read(dumps(renamed)))


# --- REST ---------------------------------------------------------------------------------------------------


def test_definitions_render_as_json() -> None:
    (definition,) = extended_type_definitions([MAILBOX])
    data = plain(definition)
    assert data["TypeNames"] == [MAILBOX]
    headers = data["FormatViewDefinition"][0]["Control"]["Headers"]
    assert [h["Width"] for h in headers] == [25, 20, 16, 0]
    assert JsonWriter().dumps(definition).startswith(b'{"TypeName":"' + MAILBOX.encode())
