"""Row writers for fan-out output: CSV, JSON Lines and XLSX, chosen by the output file's extension.

Every row starts with a ``Tenant`` column, followed by the record's properties; the columns of a file
are the union of all rows' property names in first-seen order. Values are made plain first
(:func:`plain`): datetimes become ISO 8601 text, GUIDs text, nested records dictionaries. Then:

* **JSON Lines** keeps lists as lists and objects as objects, and needs no header, so rows are
  written as they arrive.
* **CSV and XLSX** join multi-valued properties with ``;``, write nested objects as JSON text and
  None as an empty cell. Their header must come first, but the union of columns is only known at
  the end, so these writers *spool* rows as JSON Lines to a temporary file beside the output
  (memory stays flat however many rows) and render the final file at :meth:`RowWriter.close`, under
  a temporary name renamed into place: a reader never sees half a file. The run journal uses the
  same spool format and :func:`render`.

XLSX cells are always typed as text, numbers or booleans, never formulas: customer data such as a
display name starting with ``=`` must not become a formula in a partner's spreadsheet.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import enum
import json
import math
import os
import tempfile
import uuid
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final, Literal, TypeAlias

Format: TypeAlias = Literal["csv", "jsonl", "xlsx"]
Cell: TypeAlias = str | int | float | bool | None

TENANT_COLUMN: Final = "Tenant"
#: A record's own property named ``Tenant`` is kept under this name so that it cannot hide the column.
TENANT_PROPERTY_RENAMED: Final = "Tenant (property)"
MULTI_VALUE_SEPARATOR: Final = ";"
FORMATS: Final[dict[str, Format]] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".xlsx": "xlsx"}

XLSX_MAX_CELL: Final = 32_767  # Excel's limit on the characters of one cell
XLSX_MAX_ROWS: Final = 1_048_576  # rows per worksheet, header included


class UnsupportedFormatError(ValueError):
    """The output file's extension names no format this module writes."""


def format_of(path: str | os.PathLike[str]) -> Format:
    """The output format for ``path``, from its extension (case-insensitive)."""
    suffix = Path(path).suffix.lower()
    try:
        return FORMATS[suffix]
    except KeyError:
        known = ", ".join(sorted(FORMATS))
        raise UnsupportedFormatError(
            f"cannot write {suffix or 'a file without extension'!r}; use one of {known}"
        ) from None


# --------------------------------------------------------------------------------------------- values


def _timespan(value: dt.timedelta) -> str:
    """PowerShell's TimeSpan text, ``[-][d.]hh:mm:ss[.fffffff]``, as Exchange shows durations."""
    ticks = (value.days * 86_400 + value.seconds) * 10_000_000 + value.microseconds * 10
    sign = "-" if ticks < 0 else ""
    ticks = abs(ticks)
    seconds, fraction = divmod(ticks, 10_000_000)
    minutes, secs = divmod(seconds, 60)
    hours, mins = divmod(minutes, 60)
    days, hrs = divmod(hours, 24)
    text = f"{sign}{f'{days}.' if days else ''}{hrs:02d}:{mins:02d}:{secs:02d}"
    return f"{text}.{fraction:07d}" if fraction else text


_AS_IS: Final = frozenset({str, int, bool, type(None)})


def plain(value: Any) -> Any:
    """``value`` as JSON-ready Python: str, int, float, bool, None, list and dict (str keys) only."""
    kind = type(value)
    if kind in _AS_IS:
        return value
    if kind is dict:  # the common case (Record.to_dict()), inlined: this runs for every property of every row
        return {(k if type(k) is str else str(k)): (v if type(v) in _AS_IS else plain(v)) for k, v in value.items()}
    if kind is list:
        return [v if type(v) in _AS_IS else plain(v) for v in value]
    return _plain_other(value)


def _plain_other(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):  # a .NET enum (records.EnumValue): its name
        name = getattr(value, "name", None)
        return name if isinstance(name, str) else int(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return _timespan(value)
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return plain(to_dict())
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, Iterable):
        return [plain(v) for v in value]
    return str(value)


def row_of(tenant: str, record: Any) -> dict[str, Any]:
    """One output row: ``Tenant`` first, then the record's properties in their original order.

    ``record`` may be a :class:`~aobo.toolkit.records.Record` (``to_dict()``), any mapping, or a
    bare value (a string from ``Select-Object -ExpandProperty``), which becomes the ``Value`` column.
    """
    source = plain(record)
    row: dict[str, Any] = {TENANT_COLUMN: tenant}
    if not isinstance(source, dict):
        row["Value"] = source
        return row
    for key, value in source.items():
        row[TENANT_PROPERTY_RENAMED if key == TENANT_COLUMN else key] = value
    return row


# Line separators other than \n that some readers split lines on (str.splitlines, JavaScript):
# escaped so that one row is always exactly one line. They can only occur inside JSON strings.
_LINE_BREAKS: Final = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def _json(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if "\x85" in text or "\u2028" in text or "\u2029" in text:  # rare; a search is far cheaper than translate
        text = text.translate(_LINE_BREAKS)
    return text


def _text(value: Any) -> str:
    """One element of a multi-valued cell."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return _json(value)
    return str(value)


def cell(value: Any) -> Cell:
    """A plain value as one CSV/XLSX cell: lists joined with ``;``, objects as JSON text."""
    if isinstance(value, list):
        return MULTI_VALUE_SEPARATOR.join(_text(v) for v in value)
    if isinstance(value, dict):
        return _json(value)
    return value


def dumps_row(row: Mapping[str, Any]) -> str:
    """A plain row as one JSON Lines line (newline included)."""
    return _json(row) + "\n"


# --------------------------------------------------------------------------------------------- spool


def read_spool(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """The rows of a JSON Lines spool (or output) file, in order."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def scan_columns(path: str | os.PathLike[str]) -> list[str]:
    """The union of the spool's column names in first-seen order (``Tenant`` first)."""
    seen: dict[str, None] = {TENANT_COLUMN: None}
    for row in read_spool(path):
        seen.update(dict.fromkeys(row))
    return list(seen)


def _replace_atomically(out: Path, write: Any) -> None:
    """Call ``write(tmp_path)`` then rename the result over ``out``; no half file is ever visible."""
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent or Path("."))
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_csv(rows: Iterable[Mapping[str, Any]], columns: list[str], target: Path) -> int:
    count = 0
    with open(target, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([cell(row.get(c)) for c in columns])
            count += 1
    return count


def _xlsx_text(value: str) -> str:
    """Text Excel accepts: no control characters, at most 32,767 characters (cut with an ellipsis)."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    text = ILLEGAL_CHARACTERS_RE.sub("", value)
    return text if len(text) <= XLSX_MAX_CELL else text[: XLSX_MAX_CELL - 1] + "…"


def _xlsx_value(ws: Any, value: Cell) -> Any:
    """A value openpyxl stores as data: text that looks like a formula or error code stays text."""
    if not isinstance(value, str):
        return value
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ERROR_CODES

    text = _xlsx_text(value)
    if text.startswith("=") or text in ERROR_CODES:
        c = WriteOnlyCell(ws, value=text)
        c.data_type = "s"
        return c
    return text


def _write_xlsx(rows: Iterable[Mapping[str, Any]], columns: list[str], target: Path) -> int:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    wb = Workbook(write_only=True)
    bold = Font(bold=True)
    ws: Any = None
    sheet_rows = XLSX_MAX_ROWS
    sheets = 0
    count = 0

    def new_sheet() -> Any:
        nonlocal sheets
        sheets += 1
        sheet = wb.create_sheet("Results" if sheets == 1 else f"Results {sheets}")
        sheet.freeze_panes = "A2"
        header = []
        for name in columns:
            c = WriteOnlyCell(sheet, value=_xlsx_text(name))
            c.data_type = "s"
            c.font = bold
            header.append(c)
        sheet.append(header)
        return sheet

    for row in rows:
        if sheet_rows >= XLSX_MAX_ROWS:
            ws, sheet_rows = new_sheet(), 1
        ws.append([_xlsx_value(ws, cell(row.get(c))) for c in columns])
        sheet_rows += 1
        count += 1
    if ws is None:
        new_sheet()
    wb.save(target)
    return count


def render(
    spool: str | os.PathLike[str], out: str | os.PathLike[str], fmt: Format, columns: list[str] | None = None
) -> int:
    """Write the rows of a JSON Lines spool as the final ``out`` file; returns the row count.

    ``columns`` (the union seen while spooling) saves a pass over the spool when known.
    """
    out = Path(out)
    cols = columns if columns is not None else scan_columns(spool)
    count = 0

    def write(target: Path) -> None:
        nonlocal count
        rows = read_spool(spool)
        if fmt == "csv":
            count = _write_csv(rows, cols, target)
        elif fmt == "xlsx":
            count = _write_xlsx(rows, cols, target)
        else:
            with open(target, "w", encoding="utf-8") as f:
                for row in rows:
                    f.write(dumps_row(row))
                    count += 1

    _replace_atomically(out, write)
    return count


# --------------------------------------------------------------------------------------------- writers


class RowWriter:
    """Base of the writers: ``write(tenant, record)`` rows, then ``close()`` (or ``abort()``)."""

    format: Format
    path: Path
    rows: int

    def write(self, tenant: str, record: Any) -> None:
        """Add one record of ``tenant``."""
        self.write_row(row_of(tenant, record))

    def write_row(self, row: Mapping[str, Any]) -> None:  # pragma: no cover - abstract
        """Add one row that is already plain (see :func:`row_of`)."""
        raise NotImplementedError

    def close(self) -> None:  # pragma: no cover - abstract
        """Finish the file."""
        raise NotImplementedError

    def abort(self) -> None:  # pragma: no cover - abstract
        """Stop without finishing; temporary files are removed."""
        raise NotImplementedError

    def __enter__(self) -> RowWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class JsonLinesWriter(RowWriter):
    """JSON Lines, one object a line, written as rows arrive."""

    format: Format = "jsonl"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.rows = 0
        self._file: IO[str] | None = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def write_row(self, row: Mapping[str, Any]) -> None:
        assert self._file is not None, "writer is closed"
        self._file.write(dumps_row(row))
        self.rows += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def abort(self) -> None:
        self.close()


class SpoolingWriter(RowWriter):
    """CSV or XLSX: rows go to a JSON Lines spool beside the output; ``close()`` renders the file."""

    def __init__(self, path: str | os.PathLike[str], fmt: Format) -> None:
        self.path = Path(path)
        self.format = fmt
        self.rows = 0
        self._columns: dict[str, None] = {TENANT_COLUMN: None}
        fd, spool = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".spool.jsonl", dir=self.path.parent)
        self._spool_path = Path(spool)
        self._spool: IO[str] | None = os.fdopen(fd, "w", encoding="utf-8")

    @property
    def columns(self) -> list[str]:
        """The columns so far, in first-seen order."""
        return list(self._columns)

    def write_row(self, row: Mapping[str, Any]) -> None:
        assert self._spool is not None, "writer is closed"
        self._columns.update(dict.fromkeys(row))
        self._spool.write(dumps_row(row))
        self.rows += 1

    def close(self) -> None:
        if self._spool is None:
            return
        self._spool.close()
        self._spool = None
        try:
            render(self._spool_path, self.path, self.format, self.columns)
        finally:
            self._spool_path.unlink(missing_ok=True)

    def abort(self) -> None:
        if self._spool is not None:
            self._spool.close()
            self._spool = None
        self._spool_path.unlink(missing_ok=True)


def open_writer(path: str | os.PathLike[str]) -> RowWriter:
    """The writer for ``path``'s extension: ``.csv``, ``.jsonl``/``.ndjson`` or ``.xlsx``."""
    fmt = format_of(path)
    return JsonLinesWriter(path) if fmt == "jsonl" else SpoolingWriter(path, fmt)
