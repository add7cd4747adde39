"""What a validation reports: its table, lookup and rendering, failing-row samples, the failing
rows themselves and their export to CSV, Parquet and Excel."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import polars as pl
from polars.testing import assert_frame_equal

import tillflow as tl
from support.rules import NOW, check
from tillflow import rules as r

# --------------------------------------------------------------------------------------------- report

SHOP = pl.DataFrame(
    {
        "id": [1, 2, 3, 4],
        "email": ["a@b.io", None, "c@d.io", "e@f.io"],
        "price": [5.0, -1.0, 150.0, 20.0],
    }
)


def test_report_to_polars():
    rs = tl.RuleSet(
        [
            r.not_null("email"),  # fails 1 of 4
            r.unique("id"),  # passes
            r.between("price", min=0, max=100, severity="warn"),  # fails 2 of 4
            r.row_count(min=5, name="enough_rows"),  # 4 rows: fails
        ]
    )
    report = rs.validate(SHOP, now=NOW)
    assert (report.passed, report.rows) == (False, 4)
    table = report.to_polars()
    assert table.columns == [
        "rule", "kind", "columns", "severity", "status", "passed",
        "failing", "rows", "fraction", "tolerance", "observed",
    ]  # fmt: skip
    assert table["rule"].to_list() == ["not_null_email", "unique_id", "between_price", "enough_rows"]
    assert table["kind"].to_list() == ["not_null", "unique", "between", "row_count"]
    assert table["severity"].to_list() == ["error", "error", "warn", "error"]
    assert table["status"].to_list() == ["failed", "passed", "failed", "failed"]
    assert table["passed"].to_list() == [False, True, False, False]
    assert table["failing"].to_list() == [1, 0, 2, None]
    assert table["rows"].to_list() == [4, 4, 4, 4]
    assert table["fraction"].to_list() == [0.25, 0.0, 0.5, None]
    assert "4" in table["observed"][3]


def test_report_lookup_and_rendering():
    report = tl.RuleSet([r.not_null("email"), r.unique("id")]).validate(SHOP)
    assert report["unique_id"].rule == "unique_id"
    assert report["not_null_email"].failing == 1
    assert "not_null_email" in str(report)
    assert "not_null_email" in report._repr_html_()


def test_sample_is_capped_keyed_and_in_row_order():
    df = pl.DataFrame(
        {
            "id": [10, 11, 12, 13, 14, 15],
            "price": [-1.0, 5.0, 200.0, -3.0, 7.0, 999.0],
            "note": ["a", "b", "c", "d", "e", "f"],
        }
    )
    res = check(r.between("price", min=0, max=100), df, key=["id"], sample_size=2)
    assert res.failing == 4  # ids 10, 12, 13, 15
    # `_tf_row` is each failing row's position in the data, then the key and checked columns.
    assert res.sample.to_dict(as_series=False) == {"_tf_row": [0, 2], "id": [10, 12], "price": [-1.0, 200.0]}


def test_sample_default_size_is_ten():
    df = pl.DataFrame({"id": list(range(12)), "x": [None] * 12}, schema={"id": pl.Int64, "x": pl.Int64})
    res = check(r.not_null("x"), df, key=["id"])
    assert res.failing == 12
    assert res.sample.to_dict(as_series=False) == {
        "_tf_row": list(range(10)),
        "id": list(range(10)),
        "x": [None] * 10,
    }


def test_sample_with_compound_key():
    df = pl.DataFrame({"order_id": [1, 1, 2], "line_no": [1, 2, 1], "sku": ["a", None, None]})
    res = check(r.not_null("sku"), df, key=["order_id", "line_no"])
    assert res.sample.drop("_tf_row").to_dict(as_series=False) == {
        "order_id": [1, 2],
        "line_no": [2, 1],
        "sku": [None, None],
    }


def test_sample_when_the_checked_column_is_the_key():
    df = pl.DataFrame({"id": [5, 6, 5, 7, 6, 5]})
    res = check(r.unique("id"), df, key=["id"])
    assert res.sample.to_dict(as_series=False) == {"_tf_row": [2, 4, 5], "id": [5, 6, 5]}


def test_sample_without_key_holds_the_checked_columns():
    df = pl.DataFrame({"a": [1, 3, 5], "b": [2, 2, 9], "other": ["x", "y", "z"]})
    res = check(r.compare("a", "<", "b"), df)
    assert res.sample.to_dict(as_series=False) == {"_tf_row": [1], "a": [3], "b": [2]}


# -------------------------------------------------------------------------------------- failing rows

ORDERS = pl.DataFrame(
    {
        "id": [1, 2, 3, 4, 5],
        "email": ["a@x.io", None, "bad", "b@x.io", None],
        "price": [10, -1, 5, 20000, 3],
    }
)


def order_rules() -> tl.RuleSet:
    return tl.RuleSet(
        [
            r.not_null("email"),
            r.matches("email", "@", name="email_format"),
            r.between("price", min=0, max=10000),
            r.unique("id"),
            r.row_count(min=100, name="enough_rows"),  # fails, but names no row
        ]
    )


def test_failing_rows():
    rows = order_rules().failing_rows(ORDERS)
    assert rows.columns == ["id", "email", "price", "_tf_failed_rules"]
    assert rows.schema["_tf_failed_rules"] == pl.List(pl.String)
    assert rows.drop("_tf_failed_rules").to_dict(as_series=False) == {
        "id": [2, 3, 4, 5],
        "email": [None, "bad", "b@x.io", None],
        "price": [-1, 5, 20000, 3],
    }
    assert [sorted(x) for x in rows["_tf_failed_rules"].to_list()] == [
        ["between_price", "not_null_email"],
        ["email_format"],
        ["between_price"],
        ["not_null_email"],
    ]


def test_failing_rows_of_unique_are_the_repeats():
    df = pl.DataFrame({"pos": [0, 1, 2, 3, 4], "id": [1, 2, 1, 3, 1]})
    rows = tl.RuleSet([r.unique("id")]).failing_rows(df)
    assert rows["pos"].to_list() == [2, 4]
    assert rows["_tf_failed_rules"].to_list() == [["unique_id"], ["unique_id"]]


def test_failing_rows_of_a_clean_frame_is_empty():
    rows = order_rules().failing_rows(ORDERS.filter(pl.col("id") == 1))
    assert rows.height == 0
    assert rows.columns == ["id", "email", "price", "_tf_failed_rules"]


def joined(rows: pl.DataFrame) -> pl.DataFrame:
    return rows.with_columns(pl.col("_tf_failed_rules").list.join("; "))


def test_export_failures_csv(tmp_path):
    path = tmp_path / "bad.csv"
    order_rules().export_failures(ORDERS, str(path))
    assert_frame_equal(pl.read_csv(path), joined(order_rules().failing_rows(ORDERS)))


def test_export_failures_parquet(tmp_path):
    path = tmp_path / "bad.parquet"
    order_rules().export_failures(ORDERS, str(path))
    assert_frame_equal(pl.read_parquet(path), order_rules().failing_rows(ORDERS))


def read_xlsx(path: Path) -> list[list[str | None]]:
    """The first sheet of an .xlsx as rows of cell text, read with the standard library only."""
    m = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        shared = []
        if "xl/sharedStrings.xml" in names:
            root = ET.fromstring(z.read("xl/sharedStrings.xml"))
            shared = ["".join(t.text or "" for t in si.iter(f"{m}t")) for si in root.iter(f"{m}si")]
        sheet = sorted(n for n in names if re.fullmatch(r"xl/worksheets/sheet\d+\.xml", n))[0]
        root = ET.fromstring(z.read(sheet))
    table = []
    for row in root.iter(f"{m}row"):
        cells: dict[int, str | None] = {}
        for c in row.iter(f"{m}c"):
            ref = c.get("r")
            col = len(cells) if ref is None else column_index(re.match(r"[A-Z]+", ref).group())
            if c.get("t") == "inlineStr":
                text = "".join(t.text or "" for t in c.iter(f"{m}t"))
            else:
                v = c.find(f"{m}v")
                text = None if v is None else v.text
                if c.get("t") == "s" and text is not None:
                    text = shared[int(text)]
            cells[col] = text
        table.append([cells.get(i) for i in range(max(cells) + 1)] if cells else [])
    return table


def column_index(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - ord("A") + 1
    return n - 1


def test_export_failures_xlsx(tmp_path):
    path = tmp_path / "bad.xlsx"
    order_rules().export_failures(ORDERS, str(path))
    expected = joined(order_rules().failing_rows(ORDERS))
    sheet = read_xlsx(path)
    assert sheet[0] == expected.columns
    assert len(sheet) == 1 + expected.height
    for got, want in zip(sheet[1:], expected.rows(), strict=True):
        got = got + [None] * (len(want) - len(got))
        for cell, value in zip(got, want, strict=True):
            if value is None:
                assert cell in (None, "")
            elif isinstance(value, int):
                assert float(cell) == value
            else:
                assert cell == value


def test_export_failures_xlsx_writes_aware_timestamps_as_wall_clock_time(tmp_path):
    """Excel has no time zones: a zoned column (as a warehouse returns them) is written as
    its local time, and its header names the zone."""
    import datetime as dt

    from tillflow import rules as r

    utc = dt.timezone.utc
    orders = pl.DataFrame(
        {"id": [1, None, 3], "created_at": [dt.datetime(2024, 3, 31, 1, 30, tzinfo=utc)] * 3}
    ).with_columns(pl.col("created_at").dt.convert_time_zone("Europe/Berlin"))
    path = tmp_path / "bad.xlsx"
    rows = tl.RuleSet([r.not_null("id")]).export_failures(orders, path)
    assert rows.height == 1
    sheet = read_xlsx(path)
    assert sheet[0] == ["id", "created_at (Europe/Berlin)", "_tf_failed_rules"]
    # 01:30 UTC, just after Berlin's clocks went forward, is 03:30 there (CEST): Excel's serial day.
    serial = float(sheet[1][1])
    local = dt.datetime(1899, 12, 30) + dt.timedelta(days=serial)
    assert abs(local - dt.datetime(2024, 3, 31, 3, 30)) < dt.timedelta(seconds=1)
