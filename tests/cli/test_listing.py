"""``aobo.cli.listing``: the one choice between a table and plain lines, and both forms."""

from __future__ import annotations

import io
import os

import pytest
from rich.cells import cell_len
from rich.console import Console

from aobo.cli.listing import Column, counted, is_terminal, note, print_table

COLUMNS = (
    Column("Id", whole=True),
    Column("Name", hide=1),
    Column("Domain", whole=True),
    Column("Count", numeric=True, hide=2),
    Column("Roles", hide=3),
    Column("Status", whole=True, styles={"failed": "red"}),
)
ID1, ID2 = "0b3c6f9e-1111-2222-3333-444455556666", "1b3c6f9e-1111-2222-3333-444455556666"
ROWS = [
    (ID1, "Contoso Ltd", "contoso.onmicrosoft.com", 1500, ("Reader", "Admin"), "ok"),
    (ID2, "Tail\tspin\nToys\x1b[31m\x9b2J", "tailspintoys.onmicrosoft.com", 7, (), "failed"),
]


class Terminal(io.StringIO):
    """What a terminal looks like to the code: a stream that says it is a tty."""

    def isatty(self) -> bool:
        return True


def terminal(width: int) -> tuple[Console, Terminal]:
    screen = Terminal()
    return Console(file=screen, width=width, color_system=None), screen


def test_plain_lines_in_a_pipe(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    # FORCE_COLOR makes rich call a pipe a terminal; the listing still looks at the stream itself.
    monkeypatch.setenv("FORCE_COLOR", "1")
    out = io.StringIO()
    console = Console(file=out, width=20)
    assert console.is_terminal and not is_terminal(console)
    print_table(COLUMNS, ROWS, title="Title", footer="2 things", console=console)
    assert out.getvalue().splitlines() == [
        "Id\tName\tDomain\tCount\tRoles\tStatus",
        # whole values, counts without separators, several values in one field
        "0b3c6f9e-1111-2222-3333-444455556666\tContoso Ltd\tcontoso.onmicrosoft.com\t1500\tReader; Admin\tok",
        # a tab, a newline and an escape character inside a value become spaces: the line keeps 6 fields
        "1b3c6f9e-1111-2222-3333-444455556666\tTail spin Toys [31m 2J\ttailspintoys.onmicrosoft.com\t7\t\tfailed",
    ]
    assert "Title" not in out.getvalue()
    assert capsys.readouterr().err == "2 things\n"


def test_no_rows_in_a_pipe_is_nothing_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    print_table(COLUMNS, [], footer=counted(0, "thing"), console=Console(file=out))
    assert out.getvalue() == ""
    assert capsys.readouterr().err == "0 things\n"
    assert (counted(1, "customer"), counted(1500, "open session")) == ("1 customer", "1,500 open sessions")


def test_a_wide_terminal_shows_every_column() -> None:
    console, screen = terminal(200)
    print_table(COLUMNS, ROWS, title="Title", footer="2 things", console=console)
    lines = screen.getvalue().splitlines()
    assert lines[0] == "Title" and lines[-1] == "2 things"
    assert lines[1].split() == ["Id", "Name", "Domain", "Count", "Roles", "Status"]
    assert lines[2].split()[-4:] == ["contoso.onmicrosoft.com", "1,500", "Reader", "ok"]
    assert lines[3].split()[-1] == "Admin"  # the second value of the cell, on its own line
    assert "Tail spin Toys [31m 2J" in lines[4] and "\x1b" not in screen.getvalue() and "\x9b" not in screen.getvalue()
    assert not any(line.startswith("Not shown") for line in lines)


@pytest.mark.parametrize(
    ("width", "hidden"), [(92, "Roles"), (85, "Count, Roles"), (74, "Name, Count, Roles"), (60, "Name, Count, Roles")]
)
def test_a_narrow_terminal_hides_columns_and_never_cuts_an_identifier(width: int, hidden: str) -> None:
    console, screen = terminal(width)
    print_table(COLUMNS, ROWS, console=console)
    lines = screen.getvalue().splitlines()
    table, after = lines[: 1 + len(ROWS)], lines[1 + len(ROWS) :]
    for row, line in zip(ROWS, table[1:], strict=True):
        assert row[0] in line and row[2] in line and line.rstrip().endswith(row[5]), line
    if width >= 74:
        assert all(cell_len(line) <= width for line in lines), lines
    else:  # even 36 + 28 + 6 and the gaps do not fit: the lines run on rather than cut an identifier
        assert all(cell_len(line) > width for line in table), table
    sentence = " ".join(line.strip() for line in after)  # rich wraps it at a space
    assert sentence == f"Not shown in {width} columns: {hidden} (a wider terminal or a pipe shows them)."


def test_shrinking_columns_end_in_an_ellipsis_and_wrapping_ones_go_on() -> None:
    columns = (Column("Domain", whole=True), Column("Name"), Column("Error", wrap=True))
    error = "AuthError: Access is denied, there is no relationship"
    console, screen = terminal(50)
    print_table(columns, [("tailspintoys.onmicrosoft.com", "Tailspin Toys", error)], console=console)
    header, first, *more = screen.getvalue().splitlines()
    assert first.startswith("tailspintoys.onmicrosoft.com  Tailspin…  ")
    assert more  # the error goes on over more lines, and is there whole
    at = header.index("Error")
    assert "".join(line[at:].strip() for line in [first, *more]).replace(" ", "") == error.replace(" ", "")


def test_note_follows_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    console, screen = terminal(80)
    note("1 thing", console)
    assert screen.getvalue() == "1 thing\n" and capsys.readouterr().err == ""
    note("1 thing", Console(file=io.StringIO()))
    assert capsys.readouterr().err == "1 thing\n"


def test_a_reader_that_leaves_early_is_no_error() -> None:
    read, write = os.pipe()
    os.close(read)  # `| head -0`: nobody reads
    with os.fdopen(write, "w") as stream:
        print_table(COLUMNS, ROWS * 1000, console=Console(file=stream))
        stream.write("more\n")  # stdout now leads to /dev/null: later output fails no more
        stream.flush()
