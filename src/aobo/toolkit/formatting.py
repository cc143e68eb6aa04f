"""Records as a person reads them: tables with sensible columns per Exchange type, or full listings.

PowerShell prints an Exchange object through the type's format view (``Get-Mailbox`` shows Name,
Alias, ...); a client that only has the deserialised properties must choose the columns itself, or a
``Mailbox`` (237 properties) is unreadable. :func:`default_columns` makes that choice from the
type names, :class:`TableWriter` prints rows as they arrive (column widths fixed by the first rows,
as ``Format-Table`` does, so output can stream and a long pipeline can be stopped mid-way), and
:func:`list_view` is ``Format-List``: every property, nothing truncated.

Values are shown as PowerShell shows them: multi-valued properties as ``{a, b}``, ``$true`` as
``True``, ``$null`` as nothing, time spans as ``d.hh:mm:ss``.
"""

from __future__ import annotations

import datetime
import decimal
import fnmatch
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from aobo.toolkit.records import EnumValue, Record

__all__ = [
    "FormatSpec",
    "OutputWriter",
    "TableWriter",
    "default_columns",
    "display_value",
    "fit_widths",
    "grow_widths",
    "list_view",
    "render_records",
    "select_properties",
    "truncate",
    "type_key",
]

#: Default table columns by the type's class name (the last part of any of its type names). Only the
#: columns a record has are shown, so one entry serves the full and the reduced shapes of a type.
_MAILBOX: Final = ("Name", "Alias", "RecipientTypeDetails", "PrimarySmtpAddress")
_GROUP: Final = ("Name", "DisplayName", "GroupType", "PrimarySmtpAddress")
DEFAULT_COLUMNS: Final[Mapping[str, tuple[str, ...]]] = {
    "Mailbox": _MAILBOX,
    "MailUser": _MAILBOX,
    "RemoteMailbox": _MAILBOX,
    "ReducedRecipient": ("Name", "RecipientType", "RecipientTypeDetails", "PrimarySmtpAddress"),
    "Recipient": ("Name", "RecipientType", "RecipientTypeDetails", "PrimarySmtpAddress"),
    "MailContact": ("Name", "Alias", "RecipientTypeDetails", "ExternalEmailAddress"),
    "Contact": ("Name", "DisplayName", "RecipientTypeDetails", "WindowsEmailAddress"),
    "User": ("Name", "DisplayName", "RecipientTypeDetails", "UserPrincipalName"),
    "DistributionGroup": _GROUP,
    "DynamicDistributionGroup": ("Name", "DisplayName", "RecipientFilter", "PrimarySmtpAddress"),
    "UnifiedGroup": _GROUP,
    "Group": ("Name", "DisplayName", "GroupType", "RecipientTypeDetails"),
    "ReducedDistributionGroupMember": ("Name", "RecipientType", "PrimarySmtpAddress"),
    "CASMailbox": ("Name", "ActiveSyncEnabled", "OWAEnabled", "PopEnabled", "ImapEnabled", "MapiEnabled"),
    "MailboxStatistics": ("DisplayName", "ItemCount", "TotalItemSize", "LastLogonTime"),
    "MessageTrace": ("Received", "SenderAddress", "RecipientAddress", "Subject", "Status"),
    "MessageTraceDetail": ("Date", "Event", "Action", "Detail"),
    "InboxRule": ("Name", "Enabled", "Priority", "Description"),
    "MailboxAcePresentationObject": ("Identity", "User", "AccessRights", "IsInherited", "Deny"),
    "RecipientPermission": ("Identity", "Trustee", "AccessControlType", "AccessRights"),
    "MailboxFolderPermission": ("FolderName", "User", "AccessRights"),
    "MailboxAutoReplyConfiguration": ("Identity", "AutoReplyState", "StartTime", "EndTime"),
    "AcceptedDomain": ("Name", "DomainName", "DomainType", "Default"),
    "Rule": ("Name", "State", "Mode", "Priority", "Comments"),
    "AdminAuditLogEvent": ("RunDate", "Caller", "CmdletName", "ObjectModified", "Succeeded"),
    "CmdletInfo": ("CommandType", "Name", "Version", "Source"),
    "GenericMeasureInfo": ("Count", "Average", "Sum", "Maximum", "Minimum", "Property"),
}
#: Properties put first when a type has no entry above (then the record's own order).
_PREFERRED: Final = ("Name", "DisplayName", "Identity")
#: The fallback shows this many scalar properties.
FALLBACK_COLUMNS: Final = 5
#: Free-text columns are cut shorter than others: a table row should stay one line.
_COLUMN_CAP: Final[Mapping[str, int]] = {"Description": 50, "Subject": 45, "Comments": 40, "Detail": 50}
DEFAULT_CAP: Final = 60
#: Space between two columns of the table style used here.
COLUMN_GAP: Final = 3
ELLIPSIS: Final = "…"
_SCALARS: Final = (str, int, float, bool, decimal.Decimal, datetime.datetime, datetime.timedelta, uuid.UUID)


@dataclass(frozen=True, slots=True)
class FormatSpec:
    """How the user asked for output: ``| ft A,B`` (table of A and B) or ``| fl`` (full listing).

    ``properties`` None means the default: the type's columns for a table, every property for a list.
    """

    kind: Literal["table", "list"] = "table"
    properties: tuple[str, ...] | None = None


# ------------------------------------------------------------------------------------------------ values


def display_value(value: Any, *, one_line: bool = False) -> str:
    """``value`` as PowerShell's formatter writes it; ``one_line`` folds line breaks for a table cell."""
    text = _display(value)
    if one_line and ("\n" in text or "\r" in text):
        text = " ".join(part.strip() for part in text.splitlines() if part.strip())
    return text


def _display(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, EnumValue):
        return value.name
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, datetime.timedelta):
        return _timespan(value)
    if isinstance(value, Record):
        return value.to_string if value.to_string is not None else _record_text(value)
    if isinstance(value, bytes | bytearray):
        return f"{{{len(value)} bytes}}"
    if isinstance(value, Mapping):
        return "{" + "; ".join(f"{_display(k)}={_display(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple | set | frozenset):
        return "{" + ", ".join(_display(v) for v in value) + "}"
    return str(value)


def _record_text(record: Record) -> str:
    for key in _PREFERRED:
        if key in record and record[key] is not None:
            return _display(record[key])
    return record.type_name or ""


def _timespan(value: datetime.timedelta) -> str:
    """.NET's TimeSpan text: ``[-][d.]hh:mm:ss[.fffffff]``."""
    sign = "-" if value < datetime.timedelta(0) else ""
    value = abs(value)
    hours, rest = divmod(value.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    days = f"{value.days}." if value.days else ""
    fraction = f".{value.microseconds * 10:07d}" if value.microseconds else ""
    return f"{sign}{days}{hours:02d}:{minutes:02d}:{seconds:02d}{fraction}"


def truncate(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, the last one an ellipsis when anything was cut."""
    if width <= 0:
        return ""
    return text if len(text) <= width else text[: width - 1] + ELLIPSIS


# ------------------------------------------------------------------------------------------------ columns


def type_key(value: Any) -> str | None:
    """The class name under which the record's default columns are found (or its own, if unknown)."""
    names = getattr(value, "type_names", None) or ()
    for name in names:
        short = name.removeprefix("Deserialized.").rsplit(".", 1)[-1]
        if short in DEFAULT_COLUMNS:
            return short
    return names[0].removeprefix("Deserialized.") if names else None


def default_columns(record: Mapping[str, Any]) -> list[str]:
    """The columns a table shows for ``record``: its type's default, else its first scalar properties."""
    known = DEFAULT_COLUMNS.get(type_key(record) or "")
    if known:
        present = [name for name in known if name in record]
        if len(present) >= 2 or (present and len(record) <= len(known)):
            return [_spelling(record, name) for name in present]
    scalars = [name for name, value in record.items() if value is None or isinstance(value, _SCALARS)]
    first = [name for name in _PREFERRED if name in scalars]
    rest = [name for name in scalars if name not in first]
    return (first + rest)[:FALLBACK_COLUMNS] or list(record)[:FALLBACK_COLUMNS]


def _spelling(record: Mapping[str, Any], name: str) -> str:
    """The record's own spelling of ``name`` (PowerShell property names are case-insensitive)."""
    lowered = name.lower()
    match = name
    for key in record:
        if key == name:
            return key
        if match is name and key.lower() == lowered:
            match = key
    return match


def select_properties(record: Mapping[str, Any], patterns: Iterable[str]) -> list[str]:
    """Property names of ``record`` matching ``patterns`` (PowerShell wildcards, any case), in the order
    asked; a plain name the record lacks is kept (it shows empty, as in PowerShell)."""
    chosen: list[str] = []
    for pattern in patterns:
        if any(ch in pattern for ch in "*?["):
            lowered = pattern.lower()
            matches = [name for name in record if fnmatch.fnmatchcase(name.lower(), lowered)]
        else:
            matches = [_spelling(record, pattern)]
        chosen.extend(name for name in matches if name not in chosen)
    return chosen


def _cell(record: Any, column: str) -> str:
    if isinstance(record, Mapping):
        try:
            value = record[column]
        except KeyError:
            return ""
        return display_value(value, one_line=True)
    return display_value(getattr(record, column, None), one_line=True)


def fit_widths(natural: Sequence[int], minimum: Sequence[int], available: int) -> list[int]:
    """Column widths no wider than ``natural`` that fit ``available`` characters (gaps excluded) by
    narrowing the widest columns first, never below ``minimum``; if even the minimums do not fit,
    the minimums."""
    widths = list(natural)
    if sum(widths) <= available:
        return widths
    low, high = 0, max(widths)  # the largest cap c with sum(min(w, max(c, min))) <= available
    while low < high:
        cap = (low + high + 1) // 2
        if sum(min(w, max(cap, m)) for w, m in zip(widths, minimum, strict=True)) <= available:
            low = cap
        else:
            high = cap - 1
    return [min(w, max(low, m)) for w, m in zip(widths, minimum, strict=True)]


def grow_widths(widths: Sequence[int], limits: Sequence[int], available: int) -> list[int]:
    """``widths`` widened one character at a time, round robin, up to ``limits`` while ``available`` lasts:
    room for the longer values of rows that have not arrived yet."""
    grown = list(widths)
    spare = available - sum(grown)
    while spare > 0:
        progressed = False
        for index, limit in enumerate(limits):
            if spare > 0 and grown[index] < limit:
                grown[index] += 1
                spare -= 1
                progressed = True
        if not progressed:
            break
    return grown


# ------------------------------------------------------------------------------------------------ table


class TableWriter:
    """One table printed in chunks as records arrive; the first chunk fixes the column widths.

    Call :meth:`add` per record, :meth:`flush` when a batch has arrived (it prints once the first
    ``first_rows`` rows or ``first_wait`` seconds have been collected) and :meth:`close` at the end.
    """

    def __init__(
        self,
        console: Console,
        columns: Sequence[str],
        *,
        first_rows: int = 200,
        first_wait: float = 0.5,
    ) -> None:
        self.console = console
        self.columns = list(columns)
        self.first_rows = first_rows
        self.first_wait = first_wait
        self.widths: list[int] | None = None
        self.rows_printed = 0
        self._pending: list[list[str]] = []
        self._started = time.monotonic()

    def add(self, record: Any) -> None:
        self._pending.append([_cell(record, column) for column in self.columns])

    def flush(self, *, force: bool = False) -> None:
        """Print what is pending, unless the widths still wait for more rows (``force``: print anyway)."""
        if not self._pending:
            return
        waiting = self.widths is None and len(self._pending) < self.first_rows
        if waiting and not force and time.monotonic() - self._started < self.first_wait:
            return
        self._print()

    def close(self) -> None:
        """Print every pending row (and the header, for a table that got any rows)."""
        if self._pending:
            self._print(final=True)

    def _print(self, *, final: bool = False) -> None:
        header = self.widths is None
        if self.widths is None:
            self.widths = self._measure(final=final)
        table = Table(
            box=box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
            show_header=header,
            header_style="bold",
            expand=False,
        )
        for column, width in zip(self.columns, self.widths, strict=True):
            table.add_column(Text(column), width=width, no_wrap=True, overflow="ellipsis")
        for row in self._pending:
            table.add_row(*(Text(truncate(cell, width)) for cell, width in zip(row, self.widths, strict=True)))
        self.console.print(table, soft_wrap=False)
        self.rows_printed += len(self._pending)
        self._pending = []

    def _measure(self, *, final: bool) -> list[int]:
        """Widths from the rows so far; unless they are all the rows, with room to spare for longer ones."""
        natural, minimum, caps = [], [], []
        for index, column in enumerate(self.columns):
            cap = max(_COLUMN_CAP.get(column, DEFAULT_CAP), len(column))
            caps.append(cap)
            longest = max((len(row[index]) for row in self._pending), default=0)
            natural.append(min(max(longest, len(column)), cap))
            minimum.append(min(len(column), cap, 12) if longest else len(column))
        available = self.console.width - COLUMN_GAP * (len(self.columns) - 1)
        widths = fit_widths(natural, [min(m, n) for m, n in zip(minimum, natural, strict=True)], available)
        if final:
            return widths
        limits = [min(cap, w + max(4, w // 2)) for w, cap in zip(widths, caps, strict=True)]
        return grow_widths(widths, limits, available)


# ------------------------------------------------------------------------------------------------ list


def list_view(record: Any, properties: Sequence[str] | None = None, *, width: int = 120) -> str:
    """``Format-List`` of one record: ``Name : value`` lines, names aligned, values whole, long ones
    wrapped under the value column (the terminal is ``width`` wide)."""
    if not isinstance(record, Mapping):
        return display_value(record)
    names = list(record) if properties is None else select_properties(record, properties)
    if not names:
        return ""
    label = max(len(name) for name in names)
    indent = " " * (label + 3)
    room = max(width - len(indent), 20)
    lines: list[str] = []
    for name in names:
        text = _list_value(record, name)
        pieces = [chunk for line in (text.splitlines() or [""]) for chunk in _wrap(line, room)]
        lines.append(f"{name.ljust(label)} : {pieces[0]}".rstrip())
        lines.extend((indent + piece).rstrip() for piece in pieces[1:])
    return "\n".join(lines)


def _wrap(line: str, room: int) -> list[str]:
    """``line`` cut into pieces of at most ``room`` characters, at a space or a comma where there is one."""
    pieces: list[str] = []
    while len(line) > room:
        cut = max(line.rfind(" ", 0, room + 1), line.rfind(",", 0, room) + 1)
        if cut <= 0:
            cut = room
        pieces.append(line[:cut].rstrip())
        line = line[cut:].lstrip()
    pieces.append(line)
    return pieces


def _list_value(record: Mapping[str, Any], name: str) -> str:
    try:
        return display_value(record[name])
    except KeyError:
        return ""


# ------------------------------------------------------------------------------------------------ output


class OutputWriter:
    """Everything a pipeline outputs, printed as it comes: consecutive records of one type share a
    table (a new type starts a new one, as in PowerShell), other values are printed as lines."""

    def __init__(self, console: Console, spec: FormatSpec | None = None, *, first_rows: int = 200) -> None:
        self.console = console
        self.spec = spec or FormatSpec()
        self.first_rows = first_rows
        self.count = 0
        self._table: TableWriter | None = None
        self._table_key: tuple[str | None, tuple[str, ...]] | None = None
        self._closed = False

    def write(self, values: Iterable[Any]) -> None:
        """Take one batch of output and print what can be printed now."""
        for value in values:
            self.count += 1
            if self.spec.kind == "list":
                self.console.print()
                text = list_view(value, self.spec.properties, width=self.console.width)
                self.console.print(Text(text), soft_wrap=True)
            elif isinstance(value, Mapping) and (len(value) or self.spec.properties):
                self._table_for(value).add(value)
            else:
                self._end_table()
                self.console.print(Text(display_value(value)), soft_wrap=True)
        if self._table is not None:
            self._table.flush()

    def flush(self) -> None:
        """Print the rows held back so far (before a warning or error, to keep the order they came in)."""
        if self._table is not None:
            self._table.flush(force=True)

    def close(self) -> None:
        """Print what is left (call at the end of the pipeline, also when it was stopped)."""
        self._end_table()
        if self.count and not self._closed:
            self.console.print()  # PowerShell ends formatted output with an empty line
        self._closed = True

    def _table_for(self, record: Mapping[str, Any]) -> TableWriter:
        if self.spec.properties is not None:
            columns = select_properties(record, self.spec.properties)
        else:
            columns = default_columns(record)
        key = (type_key(record), tuple(columns))
        if self._table is None or key != self._table_key:
            had_table = self._table is not None
            self._end_table()
            if had_table:
                self.console.print()
            self._table = TableWriter(self.console, columns, first_rows=self.first_rows)
            self._table_key = key
        return self._table

    def _end_table(self) -> None:
        if self._table is not None:
            self._table.close()
            self._table = None
            self._table_key = None


def render_records(console: Console, records: Iterable[Any], spec: FormatSpec | None = None) -> None:
    """All of ``records`` at once (for callers that have them collected)."""
    writer = OutputWriter(console, spec)
    writer.write(records)
    writer.close()
