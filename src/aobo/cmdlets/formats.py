"""Exchange Online's default table views, as data, and the objects ``Get-FormatData`` returns for them.

After ``Import-PSSession`` Windows PowerShell formats remote objects with the views the server's
``Get-FormatData -TypeName * -PowerShellVersion <its version>`` returned: it rehydrates each object
into a ``System.Management.Automation.ExtendedTypeDefinition`` and writes them into the generated
module's ``.format.ps1xml``. Without them ``Get-Mailbox`` prints every property as a list.

What this module builds, and why (PowerShell's source, github.com/PowerShell/PowerShell; the first
commit, 60b3b304f2 of March 2016, is Windows PowerShell 5.1's code, and these parts are unchanged since):

* **Which properties travel.** ``engine/Types_Ps1Xml.generated.cs`` gives ``ExtendedTypeDefinition``
  ``SerializationMethod=SpecificProperties`` with ``TypeName, TypeNames, FormatViewDefinition`` and
  depth 1; ``FormatViewDefinition`` a hidden code property ``InstanceId`` and depth 1; ``PSControl``,
  ``TableControlColumnHeader``, ``TableControlRow``, ``TableControlColumn`` and ``DisplayEntry``
  depth 1. The remoting serializer (``SerializationOptions.RemotingOptions`` has
  ``UseDepthFromTypes``) therefore writes each of these objects with all its public .NET
  properties as adapted properties (``<Props>``, in declaration order, a derived class's before its
  base's), the code property as a note property (``<MS>``), and their enum properties (``Alignment``,
  ``ValueType``) at depth 0, which is as their text (``<S>Undefined</S>``), not as enum objects.
  Type names are the .NET type hierarchy (``TableControl``, ``PSControl``, ``Object``); lists are
  ``List`1[[T, assembly]]`` with ``<LST>`` and no ``<ToString>``; other objects carry their
  ``ToString()`` (``ExtendedTypeDefinition``: its type name; ``DisplayEntry``: ``property: Name``;
  ``TableControlColumn``: the entry's value; the rest: their type's full name).
* **What the client needs.** ``engine/serialization.cs`` ``DeserializingTypeConverter``
  (``RehydrateExtendedTypeDefinition`` and friends) runs for every object whose type names hold
  ``Deserialized.<type>`` of a registered type. It requires, present and not null:
  ``FormatViewDefinition`` (a list); ``Name``, ``InstanceId`` (a Guid) and ``Control`` of a view;
  ``Headers`` and ``Rows`` of a table; ``Label`` (null allowed), ``Alignment`` and ``Width`` of a
  header; ``Columns`` of a row; ``Alignment`` and ``DisplayEntry`` of a column; ``Value`` and
  ``ValueType`` of an entry. ``TypeNames`` is preferred to ``TypeName``; everything else is optional.
  A failure makes ``Import-PSSession`` stop with "Data returned by the remote Get-FormatData command
  is not in the expected format." (``ImplicitRemotingCommands.cs`` ``AddRemoteTypeDefinition``).
* **One definition per view, or per type.** ``GetFormatDataCommand.cs`` writes one definition with
  all of a view's type names when ``-PowerShellVersion`` is at least 5.x build 11086, else one per
  type name ("the old way", which also drops views with GroupBy or row selection). Windows
  PowerShell 5.1 then writes only each definition's *first* type name into the format file
  (``FormatXMLWriter.WriteToXml``) and groups views by ``InstanceId``, so every view here names
  exactly one type and has its own id: both ways then give the same objects.
* **Deserialized objects.** The generated file names the type without ``Deserialized.``; the
  formatter matches ``Deserialized.X`` objects to a view for ``X`` by retrying with the prefix
  masked (``typeDataQuery.cs``, ``Deserializer.MaskDeserializationPrefix``). So a view names the
  type exactly as Exchange's objects carry it (``ObjectShape.type_names[0]``).

Widths and columns come from published console output of the real service (see each view's
``evidence``): a column's start in the header line gives the previous column's width. In Windows
PowerShell 5.1 a table whose *first* column has no width is sized from its first objects
(``BaseOutputtingCommand.cs``, 300 ms of caching), so varying widths in such output mean width 0;
otherwise the columns without a width share what is left of the console
(``ColumnWidthManager.cs``), and a last column shown wider than any width it could have had has none.
"""

from __future__ import annotations

import enum
import re
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Final

from aobo.cmdlets.registry import matches
from aobo.cmdlets.results import ExchangeObject, MixedShape, MultiValued, ObjectShape

__all__ = [
    "VIEWS",
    "Alignment",
    "Column",
    "TableView",
    "extended_type_definitions",
    "find_views",
]


class Alignment(enum.IntEnum):
    """``System.Management.Automation.Alignment``."""

    Undefined = 0
    Left = 1
    Center = 2
    Right = 3


_PROPERTY_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class Column:
    """One table column: the property it shows, its width (0: PowerShell sizes it), the header text
    (None: the property name, as PowerShell does for a header without a label) and alignment."""

    property: str
    width: int = 0
    label: str | None = None
    alignment: Alignment = Alignment.Undefined

    def __post_init__(self) -> None:
        # Only plain property names: a script block could not run in the no-language runspace
        # that produced the object, and the client blanks them out of the format file anyway.
        if not _PROPERTY_NAME.match(self.property):
            raise ValueError(f"column property {self.property!r} is not a property name")
        if not 0 <= self.width <= 512:
            raise ValueError(f"column {self.property}: width {self.width} is out of range")
        if self.label is not None and not self.label.strip():
            raise ValueError(f"column {self.property}: an empty label hides the header; use None")


# Views are told apart by InstanceId (FormatXMLWriter groups by it); a fixed namespace keeps each
# view's id the same across sessions and servers.
_VIEW_IDS: Final = uuid.UUID("5b0f6c3e-8f1e-4d3a-9c59-0a0b0e7f4d21")


@dataclass(frozen=True, slots=True)
class TableView:
    """A table view for one Exchange type, with the public evidence for its columns."""

    type_name: str
    columns: tuple[Column, ...]
    evidence: str
    instance_id: uuid.UUID = field(init=False)

    def __post_init__(self) -> None:
        if not self.type_name or self.type_name != self.type_name.strip() or self.type_name.startswith("Deserialized."):
            raise ValueError(f"view type name {self.type_name!r}: the type as the server's objects carry it")
        if not self.columns:
            raise ValueError(f"view {self.type_name} has no columns")
        names = [c.property.lower() for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"view {self.type_name} shows a property twice")
        if not self.evidence.strip():
            raise ValueError(f"view {self.type_name} needs its evidence")
        object.__setattr__(self, "instance_id", uuid.uuid5(_VIEW_IDS, self.type_name))

    @property
    def name(self) -> str:
        # Exchange's view names are not public; PowerShell's own files name a type's view after it.
        return self.type_name


VIEWS: Final[tuple[TableView, ...]] = (
    TableView(
        "Microsoft.Exchange.Data.Directory.Management.Mailbox",
        (Column("Name", 25), Column("Alias", 20), Column("ServerName", 16), Column("ProhibitSendQuota")),
        "Exchange Online through Import-PSSession: mattmcnabb/mattmcnabb.github.io "
        "_posts/2017-03-12-O365-PowerShell-On-Linux.md ('Name' + 22 spaces, 'Alias' + 16, 'ServerName' "
        "+ 7; the last column shows '49.5 GB (53,150,220,288 bytes)' whole, so it has no width); the same "
        "header in Microsoft's Exchange 2013 help 'Working with command output' "
        "(https://technet.microsoft.com/library/Bb123533(v=EXCHG.150)), and 'DiscoverySearchMailbox...' "
        "/ 'DiscoverySearchMa...' truncated at 25 and 20 in an Exchange 2016 transcript.",
    ),
    TableView(
        "Microsoft.Exchange.Data.Directory.Management.ReducedRecipient",
        (Column("Name"), Column("RecipientType")),
        "Get-Recipient in Exchange Online: 'Name                 RecipientType' over 'John Doe_98sdfEf2d05 "
        "UserMailbox' (an error text naming PROD.OUTLOOK.COM in the same script), and a Connect-ExchangeOnline "
        "transcript with the Name column exactly as wide as a GUID name: content-sized, so no widths.",
    ),
    TableView(
        "Microsoft.Exchange.Data.Directory.Management.User",
        (Column("Name"), Column("RecipientType")),
        "Get-User in the Exchange Management Shell ('[PS] C:\\Windows\\system32>Get-User -Identity \"inter6\"'): "
        "'Name' and 'RecipientType' splitting a 120-column console 59/60, so neither has a width.",
    ),
    TableView(
        "Microsoft.Exchange.Data.Directory.Management.DistributionGroup",
        (Column("Name"), Column("DisplayName"), Column("GroupType"), Column("PrimarySmtpAddress")),
        "'Found in Distribution Group: Name DisplayName GroupType PrimarySmtpAddress' (a locate_email.ps1 "
        "README); the same four columns for Exchange Online's groups below. Widths vary between "
        "transcripts (content-sized), so none.",
    ),
    TableView(
        "Microsoft.Exchange.Data.Directory.Management.UnifiedGroup",
        (Column("Name"), Column("DisplayName"), Column("GroupType"), Column("PrimarySmtpAddress")),
        "Get-UnifiedGroup after Connect-ExchangeOnline: 'Name DisplayName GroupType PrimarySmtpAddress' with "
        "Name as wide as 'Sales_13896087-3e43-4c33-a7c3-e66cd2aa39a9' and DisplayName as its label "
        "(content-sized); the same header in a Dutch Exchange Online how-to.",
    ),
    TableView(
        "Microsoft.Exchange.Management.RecipientTasks.MailboxAcePresentationObject",
        (
            Column("Identity", 20),
            Column("User", 20),
            Column("AccessRights"),
            Column("IsInherited", 11),
            Column("Deny", 5),
        ),
        "Get-MailboxPermission in Exchange Online, two transcripts (French and Finnish admins' notes): Identity "
        "and User 20 wide ('Réclamation Deman...', 'frederique.guicho...'), AccessRights taking the rest of a "
        "wide console (150 and 111 columns), 'IsInherited ' 12 then 'Deny'. Deny must have a width or it "
        "would share the rest with AccessRights; 5 is an inference ('False' is shown whole).",
    ),
    TableView(
        "Microsoft.Exchange.Management.RecipientTasks.RecipientPermission",
        (
            Column("Identity"),
            Column("Trustee"),
            Column("AccessControlType"),
            Column("AccessRights"),
            Column("IsInherited", label="Inherited"),
        ),
        "Get-/Add-RecipientPermission in Exchange Online, three transcripts: 'Identity Trustee AccessControlType "
        "AccessRights Inherited', Identity and Trustee as wide as their values (content-sized, so no widths); "
        "the object's property is IsInherited, so 'Inherited' is a label.",
    ),
    TableView(
        "Microsoft.Exchange.Management.MapiTasks.Presentation.MailboxStatistics",
        (Column("DisplayName", 25), Column("ItemCount", 12), Column("StorageLimitStatus"), Column("LastLogonTime")),
        "'Get-Mailbox -PublicFolder | Get-MailboxStatistics' in Exchange Online (glebecentre.onmicrosoft.com): "
        "'DisplayName' + 15 spaces, 'ItemCount' + 4, then StorageLimitStatus 84 wide and LastLogonTime, which "
        "share the rest. (Exchange 2010 showed three columns with a right-aligned StorageLimitStatus of 18.)",
    ),
    TableView(
        "Microsoft.Exchange.Data.Directory.SystemConfiguration.AcceptedDomain",
        (Column("Name", 30), Column("DomainName", 30), Column("DomainType"), Column("Default")),
        "Get-AcceptedDomain after Connect-ExchangeOnline and in an Exchange Server example: Name and DomainName "
        "30 wide in both; DomainType and Default share the rest (14/14 in one console, 28/28 in a "
        "120-column one).",
    ),
    TableView(
        "Microsoft.Exchange.Management.StoreTasks.MailboxFolderPermission",
        (Column("FolderName", 20), Column("User", 20), Column("AccessRights"), Column("SharingPermissionFlags")),
        "Get-/Add-MailboxFolderPermission in Exchange Online, several transcripts: FolderName and User 20 wide "
        "('PIL Accts - Dont ...'), AccessRights and SharingPermissionFlags sharing the rest (34 and 42 wide "
        "in two consoles); all3kcis/memento-docs fr_FR/exchange.md shows Exchange Server's first three.",
    ),
    TableView(
        "Microsoft.Exchange.Management.Common.InboxRule",
        (Column("Name"), Column("Enabled"), Column("Priority"), Column("RuleIdentity")),
        "Get-InboxRule after Connect-ExchangeOnline ('Name Enabled Priority RuleIdentity', Name as wide as "
        "'Delegate Rule -4035572715992645630', the rest as their labels: content-sized) and New-InboxRule "
        "on Exchange Server with the same header.",
    ),
)


def find_views(patterns: Sequence[str] | None) -> list[TableView]:
    """The views whose type matches any of ``patterns`` (PowerShell wildcards, case-insensitive);
    no patterns means ``*``."""
    if not patterns:
        return list(VIEWS)
    return [v for v in VIEWS if any(matches(p, v.type_name) for p in patterns)]


# --- the .NET objects, as PowerShell 5.1 serialises them ----------------------------------------------


_SMA: Final = "System.Management.Automation"
_OBJECT: Final = "System.Object"
_SMA_ASSEMBLY: Final = "System.Management.Automation, Version=3.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35"
_MSCORLIB: Final = "mscorlib, Version=4.0.0.0, Culture=neutral, PublicKeyToken=b77a5c561934e089"


def _list_of(item: str, assembly: str) -> tuple[str, ...]:
    return (f"System.Collections.Generic.List`1[[{item}, {assembly}]]", _OBJECT)


_STRINGS: Final = _list_of("System.String", _MSCORLIB)
_VIEW_LIST: Final = _list_of(f"{_SMA}.FormatViewDefinition", _SMA_ASSEMBLY)
_HEADER_LIST: Final = _list_of(f"{_SMA}.TableControlColumnHeader", _SMA_ASSEMBLY)
_ROW_LIST: Final = _list_of(f"{_SMA}.TableControlRow", _SMA_ASSEMBLY)
_COLUMN_LIST: Final = _list_of(f"{_SMA}.TableControlColumn", _SMA_ASSEMBLY)

EXTENDED_TYPE_DEFINITION: Final = ObjectShape(
    (f"{_SMA}.ExtendedTypeDefinition", _OBJECT), ("TypeName", "TypeNames", "FormatViewDefinition"), adapted=True
)
FORMAT_VIEW_DEFINITION: Final = MixedShape(
    (f"{_SMA}.FormatViewDefinition", _OBJECT), ("Name", "Control", "InstanceId"), adapted=True, adapted_count=2
)
TABLE_CONTROL: Final = ObjectShape(
    (f"{_SMA}.TableControl", f"{_SMA}.PSControl", _OBJECT),
    ("Headers", "Rows", "AutoSize", "HideTableHeaders", "GroupBy", "OutOfBand"),
    adapted=True,
)
TABLE_CONTROL_COLUMN_HEADER: Final = ObjectShape(
    (f"{_SMA}.TableControlColumnHeader", _OBJECT), ("Label", "Alignment", "Width"), adapted=True
)
TABLE_CONTROL_ROW: Final = ObjectShape(
    (f"{_SMA}.TableControlRow", _OBJECT), ("Columns", "SelectedBy", "Wrap"), adapted=True
)
TABLE_CONTROL_COLUMN: Final = ObjectShape(
    (f"{_SMA}.TableControlColumn", _OBJECT), ("Alignment", "DisplayEntry", "FormatString"), adapted=True
)
DISPLAY_ENTRY: Final = ObjectShape((f"{_SMA}.DisplayEntry", _OBJECT), ("ValueType", "Value"), adapted=True)


def _made(shape: ObjectShape, values: tuple[object, ...], to_string: str | None = None) -> ExchangeObject:
    # Most of these objects' ToString() is their type's full name.
    return shape.make(values, shape.type_names[0] if to_string is None else to_string)


def _table_control(view: TableView) -> ExchangeObject:
    headers = tuple(_made(TABLE_CONTROL_COLUMN_HEADER, (c.label, c.alignment.name, c.width)) for c in view.columns)
    columns = tuple(
        # The alignment is the header's: PowerShell uses it for the cells when theirs is Undefined.
        _made(
            TABLE_CONTROL_COLUMN,
            (Alignment.Undefined.name, _made(DISPLAY_ENTRY, ("Property", c.property), f"property: {c.property}"), None),
            c.property,
        )
        for c in view.columns
    )
    row = _made(TABLE_CONTROL_ROW, (MultiValued(columns, _COLUMN_LIST), None, False))
    return _made(
        TABLE_CONTROL, (MultiValued(headers, _HEADER_LIST), MultiValued((row,), _ROW_LIST), False, False, None, False)
    )


@cache
def _definition(view: TableView) -> ExchangeObject:
    """The view's ``ExtendedTypeDefinition``: built once, the same for every caller."""
    formats = (_made(FORMAT_VIEW_DEFINITION, (view.name, _table_control(view), view.instance_id)),)
    return _made(
        EXTENDED_TYPE_DEFINITION,
        (view.type_name, MultiValued((view.type_name,), _STRINGS), MultiValued(formats, _VIEW_LIST)),
        view.type_name,
    )


def extended_type_definitions(patterns: Sequence[str] | None) -> Iterator[ExchangeObject]:
    """What ``Get-FormatData -TypeName <patterns>`` writes: one ``ExtendedTypeDefinition`` per matching
    view. ``-PowerShellVersion`` changes nothing here: PowerShell's "old way" differs only for views
    of several types (one definition per type) or with GroupBy or row selection, and these have none."""
    for view in find_views(patterns):
        yield _definition(view)
