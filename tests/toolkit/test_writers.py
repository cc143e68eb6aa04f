"""CSV, JSON Lines and XLSX writers: the Tenant column, the union of columns, value rendering."""

from __future__ import annotations

import csv
import datetime as dt
import enum
import json
import uuid
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aobo.toolkit import writers
from aobo.toolkit.writers import (
    JsonLinesWriter,
    SpoolingWriter,
    UnsupportedFormatError,
    cell,
    format_of,
    open_writer,
    plain,
    render,
    row_of,
)


class FakeRecord(Mapping[str, Any]):
    """The shape of records.Record the writers rely on: mapping access and ``to_dict()``."""

    def __init__(self, props: dict[str, Any]) -> None:
        self._props = props

    def __getitem__(self, key: str) -> Any:
        return self._props[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._props)

    def __len__(self) -> int:
        return len(self._props)

    def to_dict(self) -> dict[str, Any]:
        return {k: plain(v) for k, v in self._props.items()}


class Colour(enum.Enum):
    RED = 1


def read_csv(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


def test_format_comes_from_the_extension() -> None:
    assert format_of("out.CSV") == "csv"
    assert format_of("a/b.jsonl") == "jsonl"
    assert format_of("x.ndjson") == "jsonl"
    assert format_of("r.xlsx") == "xlsx"
    with pytest.raises(UnsupportedFormatError, match=r"\.json"):
        format_of("r.json")
    with pytest.raises(UnsupportedFormatError, match="without extension"):
        format_of("report")


def test_plain_values() -> None:
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    guid = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert plain(when) == "2026-01-02T03:04:05+00:00"
    assert plain(dt.date(2026, 1, 2)) == "2026-01-02"
    assert plain(guid) == "12345678-1234-5678-1234-567812345678"
    assert plain(Decimal("1.50")) == "1.50"
    assert plain(Colour.RED) == "RED"
    assert plain(b"\x00\x01") == "AAE="
    assert plain(float("nan")) == "NaN"
    assert plain(float("-inf")) == "-Infinity"
    assert plain(dt.timedelta(days=1, hours=2, seconds=3)) == "1.02:00:03"
    assert plain(dt.timedelta(minutes=-90)) == "-01:30:00"
    assert plain(dt.timedelta(seconds=1, microseconds=5)) == "00:00:01.0000050"
    assert plain({1: {"a"}, "n": (1, None)}) == {"1": ["a"], "n": [1, None]}
    assert plain(FakeRecord({"Inner": FakeRecord({"When": when})})) == {"Inner": {"When": "2026-01-02T03:04:05+00:00"}}


def test_an_int_enum_is_written_by_name() -> None:
    records = pytest.importorskip("aobo.toolkit.records")
    value = records.EnumValue(3, "UserMailbox")
    assert plain(value) == "UserMailbox"
    assert plain(enum.IntEnum("E", "A B").B) == "B"
    assert plain(True) is True and plain(7) == 7


def test_row_has_tenant_first_and_keeps_property_order() -> None:
    row = row_of("contoso.onmicrosoft.com", FakeRecord({"Name": "a", "Alias": "b", "Tenant": "own"}))
    assert list(row) == ["Tenant", "Name", "Alias", "Tenant (property)"]
    assert row["Tenant"] == "contoso.onmicrosoft.com"
    assert row["Tenant (property)"] == "own"
    assert row_of("t", "just text") == {"Tenant": "t", "Value": "just text"}
    assert row_of("t", {"X": 1}) == {"Tenant": "t", "X": 1}


def test_cells_join_lists_and_write_objects_as_json() -> None:
    assert cell(["smtp:a@x", "SMTP:b@x"]) == "smtp:a@x;SMTP:b@x"
    assert cell([None, 1, True, {"k": "v"}]) == ';1;True;{"k":"v"}'
    assert cell({"Add": ["x"], "é": None}) == '{"Add":["x"],"é":null}'
    assert cell(None) is None
    assert cell(3) == 3


def test_csv_header_is_the_union_in_first_seen_order(tmp_path: Path) -> None:
    out = tmp_path / "mailboxes.csv"
    when = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
    with open_writer(out) as w:
        assert isinstance(w, SpoolingWriter)
        w.write("contoso", FakeRecord({"Name": "Ann", "Emails": ["SMTP:ann@c", "smtp:a@c"], "When": when}))
        w.write("fabrikam", {"Name": "Bob", "Quota": {"Value": 50, "Unit": "GB"}, "Hidden": False})
        w.write("fabrikam", {"Extra": None, "Name": "Cy"})
        assert not out.exists()  # rendered at close, when the columns are known
    rows = read_csv(out)
    assert rows[0] == ["Tenant", "Name", "Emails", "When", "Quota", "Hidden", "Extra"]
    assert rows[1] == ["contoso", "Ann", "SMTP:ann@c;smtp:a@c", "2026-03-01T12:00:00+00:00", "", "", ""]
    assert rows[2] == ["fabrikam", "Bob", "", "", '{"Value":50,"Unit":"GB"}', "False", ""]
    assert rows[3] == ["fabrikam", "Cy", "", "", "", "", ""]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mailboxes.csv"]  # no spool or temp file left


def test_csv_of_no_rows_has_the_tenant_header(tmp_path: Path) -> None:
    out = tmp_path / "empty.csv"
    open_writer(out).close()
    assert read_csv(out) == [["Tenant"]]


def test_abort_leaves_no_file(tmp_path: Path) -> None:
    out = tmp_path / "x.csv"
    with pytest.raises(RuntimeError), open_writer(out) as w:
        w.write("t", {"A": 1})
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_render_replaces_the_old_file_atomically(tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    out.write_text("old contents\n")
    spool = tmp_path / "spool.jsonl"
    spool.write_text('{"Tenant":"t","A":1}\n')
    assert render(spool, out, "csv") == 1
    assert read_csv(out) == [["Tenant", "A"], ["t", "1"]]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.csv", "spool.jsonl"]


def test_jsonl_keeps_lists_and_objects(tmp_path: Path) -> None:
    out = tmp_path / "m.jsonl"
    with open_writer(out) as w:
        assert isinstance(w, JsonLinesWriter)
        w.write("t1", FakeRecord({"Emails": ["a", "b"], "Quota": {"GB": 50}, "None": None}))
        w.write("t2", {"Name": "é"})
    lines = out.read_text(encoding="utf-8").splitlines()
    assert [json.loads(x) for x in lines] == [
        {"Tenant": "t1", "Emails": ["a", "b"], "Quota": {"GB": 50}, "None": None},
        {"Tenant": "t2", "Name": "é"},
    ]
    assert "é" in lines[1]  # UTF-8, not \\u escapes


def test_xlsx_types_and_formula_safety(tmp_path: Path) -> None:
    out = tmp_path / "r.xlsx"
    with open_writer(out) as w:
        w.write("t", {"Name": '=HYPERLINK("http://evil")', "Count": 3, "Ok": True, "Err": "#N/A"})
        w.write("t", {"Name": "bell\x07char", "Emails": ["a", "b"], "Big": "x" * 40_000})
    wb = openpyxl.load_workbook(out)
    ws = wb["Results"]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0] == ("Tenant", "Name", "Count", "Ok", "Err", "Emails", "Big")
    assert rows[1][:5] == ("t", '=HYPERLINK("http://evil")', 3, True, "#N/A")
    assert ws["B2"].data_type == "s"  # text, not a formula
    assert ws["E2"].data_type == "s"  # text, not an error value
    assert ws["A1"].font.b
    assert rows[2][1] == "bellchar"
    assert rows[2][5] == "a;b"
    assert len(rows[2][6]) == writers.XLSX_MAX_CELL and rows[2][6].endswith("…")
    assert ws.freeze_panes == "A2"


def test_xlsx_continues_on_a_new_sheet_past_excels_row_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writers, "XLSX_MAX_ROWS", 3)  # header + 2 rows a sheet
    out = tmp_path / "r.xlsx"
    with open_writer(out) as w:
        for i in range(5):
            w.write("t", {"N": i})
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == ["Results", "Results 2", "Results 3"]
    values = [r for ws in wb for r in ws.iter_rows(min_row=2, values_only=True)]
    assert values == [("t", i) for i in range(5)]
    assert all(next(ws.iter_rows(max_row=1, values_only=True)) == ("Tenant", "N") for ws in wb)


# ------------------------------------------------------------------------------------------ properties

names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=8).filter(
    lambda s: s != "Tenant"
)
scalars = st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=20)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
records = st.dictionaries(names, values, max_size=5)
batches = st.lists(st.tuples(st.sampled_from(["contoso", "fabrikam"]), records), max_size=12)


def _csv_text(v: Any) -> str:
    c = cell(v)
    return "" if c is None else str(c)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(batch=batches)
def test_csv_and_jsonl_round_trip(tmp_path: Path, batch: list[tuple[str, dict[str, Any]]]) -> None:
    csv_out, jsonl_out = tmp_path / "p.csv", tmp_path / "p.jsonl"
    with open_writer(csv_out) as wc, open_writer(jsonl_out) as wj:
        for tenant, rec in batch:
            wc.write(tenant, rec)
            wj.write(tenant, rec)
    expected_columns = list(dict.fromkeys(["Tenant", *(k for _, rec in batch for k in rec)]))
    table = read_csv(csv_out)
    assert table[0] == expected_columns
    assert len(table) == len(batch) + 1
    for (tenant, rec), line in zip(batch, table[1:], strict=True):
        assert line == [tenant, *(_csv_text(rec.get(c)) for c in expected_columns[1:])]
    back = [json.loads(x) for x in jsonl_out.read_text(encoding="utf-8").splitlines()]
    assert back == [{"Tenant": t, **plain(rec)} for t, rec in batch]
