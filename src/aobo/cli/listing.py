"""Listings: what the table commands (``tenants``, ``sessions``, ``run``'s summary, ``gdap list``,
``app list``) print, drawn for a person on a terminal or written as plain lines for a program.

A command builds its rows once and hands them to :func:`print_table`; :func:`is_terminal` alone
decides the form:

- **terminal**: a table as wide as the terminal, one line per row. Identifier columns (ids, domains,
  states, dates) are never wrapped or cut; the other columns shrink and end in an ellipsis (or wrap,
  for an error message); when even that is too wide, the columns the command marked as hideable are
  left out, and a line says which.
- **pipe** (or a file, or typer's ``CliRunner``): a header line, then one line per row, fields
  separated by tabs, nothing cut, no title, no colour, as ``gh`` and ``kubectl`` do in a pipe, so
  ``aobo tenants | grep contoso`` and ``cut -f4`` work. Sentences about the listing (``3 customers``)
  go to stderr there, so that stdout holds only the header and the records.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Final

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from aobo.cli import common
from aobo.toolkit.formatting import fit_widths

__all__ = ["Cell", "Column", "counted", "is_terminal", "note", "print_table"]

#: A value in a row: text, a count (``1,500`` on a terminal, ``1500`` in a pipe, for ``awk``), or
#: several values (one per line in a terminal's cell, ``; ``-joined in a pipe).
Cell = str | int | tuple[str, ...]

#: Columns that may shrink are not made narrower than this (or their longest value, if shorter).
SHRINK_MIN: Final = 8
#: Space between two columns of the terminal table (its padding; it has no borders).
GAP: Final = 2
#: Multi-valued cells in a pipe: one field, the values joined by this.
JOIN: Final = "; "
# Tabs and line breaks inside a value would split a field or a record, other control characters
# (ESC) would drive the terminal at the end of the pipe: each becomes one space, in both forms. Not
# escaped (``\t``): a reader of the pipe sees the same text as on the screen, and a literal
# backslash in a value stays unambiguous. The C1 controls (U+0080-U+009F: U+009B is an 8-bit CSI) go
# too, and U+0085, U+2028 and U+2029 are line breaks to Python.
_BLANKED: Final = dict.fromkeys([*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029], " ")


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a listing.

    ``whole``: an identifier (id, domain, state, date) that a terminal shows whole on one line, never
    wrapped, never cut. Other columns shrink on a narrow terminal and their values end in an ellipsis,
    or, with ``wrap``, go on over more lines (free text that must be read whole: an error). ``numeric``:
    right-aligned. ``hide``: 0, always shown; otherwise the column may be left out on a narrow
    terminal, the highest ``hide`` first. ``styles``: a style per value on a terminal
    (``{"failed": "red"}``); never in a pipe.
    """

    header: str
    whole: bool = False
    wrap: bool = False
    numeric: bool = False
    hide: int = 0
    styles: Mapping[str, str] | None = None


def is_terminal(console: Console | None = None) -> bool:
    """Whether the listing goes to a terminal (drawn as a table) or elsewhere (plain lines).

    The stream's own ``isatty`` decides, not rich's ``Console.is_terminal``: that one also answers
    yes to ``FORCE_COLOR``, which asks for colours, not for boxes in a pipe.
    """
    isatty = getattr((console or common.console).file, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def counted(count: int, noun: str) -> str:
    """``3 customers``, ``1 customer``: the footer of a listing."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def note(text: str, console: Console | None = None) -> None:
    """A sentence about a listing (``3 customers``): under it on a terminal; on stderr in a pipe,
    where stdout holds only the header and the records."""
    out = console or common.console
    (out if is_terminal(out) else common.err_console).print(Text(text), soft_wrap=True)


def print_table(
    columns: Sequence[Column],
    rows: Iterable[Sequence[Cell]],
    *,
    title: str | None = None,
    footer: str | None = None,
    console: Console | None = None,
) -> None:
    """The rows, with their title and footer, on ``console`` (stdout): a table on a terminal, tab-
    separated lines elsewhere (nothing at all for no rows, the footer still on stderr)."""
    out = console or common.console
    records = [tuple(row) for row in rows]
    if is_terminal(out):
        _draw(out, columns, records, title)
    elif records:
        _write_lines(out.file, [_plain_line(column.header for column in columns), *map(_plain_line, records)])
    if footer is not None:
        note(footer, out)


# ------------------------------------------------------------------------------------------------ pipe


def _field(cell: Cell) -> str:
    if isinstance(cell, tuple):
        return JOIN.join(cell).translate(_BLANKED)
    return str(cell).translate(_BLANKED)


def _plain_line(cells: Iterable[Cell]) -> str:
    return "\t".join(map(_field, cells)) + "\n"


def _write_lines(stream: IO[str], lines: Sequence[str]) -> None:
    try:
        stream.writelines(lines)
        stream.flush()
    except BrokenPipeError:
        # The reader has gone (``| head -1``) and wants no more. Point stdout at /dev/null so the
        # interpreter's last flush does not fail again, and let the command end as it would have
        # (its exit status still tells how the work went).
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, stream.fileno())
            os.close(devnull)


# ------------------------------------------------------------------------------------------------ terminal


def _text(cell: Cell) -> str:
    if isinstance(cell, tuple):
        return "\n".join(value.translate(_BLANKED) for value in cell)
    if isinstance(cell, int):
        return f"{cell:,}"
    return cell.translate(_BLANKED)


def _draw(console: Console, columns: Sequence[Column], rows: Sequence[tuple[Cell, ...]], title: str | None) -> None:
    texts = [[_text(cell) for cell in row] for row in rows]
    shown, widths = _layout(columns, texts, console.width)
    if title:
        console.print(Text(title, style="table.title"), soft_wrap=True)
    table = Table(box=None, header_style="bold", pad_edge=False, padding=(0, 1), show_edge=False)
    for index, width in zip(shown, widths, strict=True):
        column = columns[index]
        # min and max, not ``width=``: a fixed width yields to rich's last-resort squeeze of a table
        # wider than the terminal, a clamp does not (a line too long is better than a cut domain).
        table.add_column(
            Text(column.header),
            min_width=width,
            max_width=width,
            no_wrap=not column.wrap,
            overflow="fold" if column.wrap else "ellipsis",
            justify="right" if column.numeric else "left",
        )
    for row in texts:
        table.add_row(*(Text(row[i], style=(columns[i].styles or {}).get(row[i], "")) for i in shown))
    console.print(table, crop=False)
    hidden = [column.header for index, column in enumerate(columns) if index not in shown]
    if hidden:
        names = ", ".join(hidden)
        console.print(Text(f"Not shown in {console.width} columns: {names} (a wider terminal or a pipe shows them)."))


def _layout(columns: Sequence[Column], texts: Sequence[Sequence[str]], width: int) -> tuple[list[int], list[int]]:
    """The columns shown (indexes) and their widths on a terminal ``width`` wide."""
    natural = [
        max([cell_len(column.header), *(cell_len(line) for row in texts for line in row[i].split("\n"))])
        for i, column in enumerate(columns)
    ]
    minimum = [n if column.whole else min(n, SHRINK_MIN) for column, n in zip(columns, natural, strict=True)]
    shown = list(range(len(columns)))

    def needed() -> int:
        return sum(minimum[i] for i in shown) + GAP * (len(shown) - 1)

    for index in sorted((i for i, c in enumerate(columns) if c.hide), key=lambda i: (-columns[i].hide, -i)):
        if needed() <= width:
            break
        shown.remove(index)
    # If even the minimums are too wide, fit_widths gives the minimums: the lines then run past the
    # terminal's edge (it wraps them) rather than cutting an identifier.
    available = width - GAP * (len(shown) - 1)
    return shown, fit_widths([natural[i] for i in shown], [minimum[i] for i in shown], available)
