"""File sources warn when a column read as text is mostly one null marker
(``None``, ``nan``, ``-``, or ``NA`` kept as text): in the load summary, the
run's summary and output, and the run's row in ``_tf_runs``."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

import tillflow as tl
from support import run_cli

DEFAULTS = "'NA', 'N/A', 'n/a', '#N/A', 'NULL', 'null'"


def warning(table: str, column: str, hits: str, values: str, share: int, marker: str, wanted: str) -> str:
    return (
        f"{table}.{column}: {hits} of {values} values ({share}%) are '{marker}', a common null marker; "
        f"pass null_values=[{wanted}] to read them as null"
    )


def csv(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def load(source: tl.sources.Source, wh: tl.warehouse.Warehouse, name: str = "files") -> Any:
    return tl.pipeline(name, source, wh).run()


def test_a_column_mostly_none_warns_with_the_exact_counts(tmp_path, warehouse, caplog):
    # 7,412 'None', 2,568 codes and 20 empty fields (nulls, not counted), over batches of 1,000 rows.
    codes = ["None"] * 7412 + [f"SPRING{i % 7}" for i in range(2568)] + [""] * 20
    path = csv(
        tmp_path / "orders.csv", "id,discount_code,total", [f"{i},{c},{i}.5" for i, c in enumerate(codes)]
    )
    with caplog.at_level(logging.WARNING, logger="tillflow"):
        run = load(tl.sources.files(path, batch_size=1000), warehouse)
    expected = warning("orders", "discount_code", "7,412", "9,980", 74, "None", f"{DEFAULTS}, 'None'")
    assert run.loads[0].warnings == (expected,)
    assert run.warnings == [expected]
    assert str(run).splitlines()[1:] == [f"  warning: {expected}"]
    assert f"warning: {expected}" in str(run.loads[0]) and "warning: " in run._repr_html_()
    # The data is loaded as it was read: the column stays text.
    assert warehouse.query("SELECT count(*) FROM orders WHERE discount_code = 'None'").item() == 7412
    # Logged once, and kept in the run's row of _tf_runs.
    logged = [r for r in caplog.records if r.getMessage() == expected]
    assert len(logged) == 1 and logged[0].resource == "orders" and logged[0].kind == "load_warning"
    runs = tl.monitor.runs(warehouse, "files")
    assert json.loads(runs["warnings"][-1]) == [expected]
    # The load's _tf_loads row has the columns it always had.
    assert "warnings" not in run.to_polars().columns
    # Read as null, the marker warns no more.
    again = load(
        tl.sources.files(path, name="orders2", null_values=[*tl.sources.DEFAULT_NULL_VALUES, "None"]),
        warehouse,
    )
    assert again.warnings == []
    assert warehouse.query("SELECT count(*) FROM orders2 WHERE discount_code IS NULL").item() == 7432


def test_null_values_empty_keeps_na_as_text_and_warns_about_it(tmp_path, warehouse):
    rows = [f"{i},{'NA' if i % 4 else 'DE'},{'x' if i % 2 else ''}" for i in range(40)]
    path = csv(tmp_path / "customers.csv", "id,country,note", rows)
    kept = load(tl.sources.files(path, null_values=[]), warehouse)
    assert kept.warnings == [warning("customers", "country", "30", "40", 75, "NA", "'NA'")]
    # By default NA is null: nothing to warn of.
    assert load(tl.sources.files(path, name="by_default"), warehouse).warnings == []
    # A list of one's own is spelled out in the advice.
    own = load(tl.sources.files(path, name="own", null_values=["-"]), warehouse)
    assert own.warnings == [warning("own", "country", "30", "40", 75, "NA", "'-', 'NA'")]


def test_default_markers_are_null_and_never_warn(tmp_path, warehouse):
    markers = ["NA", "N/A", "n/a", "#N/A", "NULL", "null"]
    rows = [f"{i},{markers[i % 6] if i < 50 else 'text'},{'NULL' if i < 50 else 'ok'}" for i in range(60)]
    path = csv(tmp_path / "notes.csv", "id,note,status", rows)
    run = load(tl.sources.files(path), warehouse)
    assert run.warnings == []
    assert warehouse.query("SELECT count(*) FROM notes WHERE note IS NULL").item() == 50
    assert warehouse.query("SELECT count(*) FROM notes WHERE status IS NULL").item() == 50


@pytest.mark.parametrize(("count", "warns"), [(2, False), (19, False), (20, True)])
def test_a_small_file_below_the_minimum_does_not_warn(tmp_path, warehouse, count, warns):
    path = csv(tmp_path / "small.csv", "id,note", [f"{i},None" for i in range(count)])
    run = load(tl.sources.files(path), warehouse)
    share = f"{count}"
    expected = [warning("small", "note", share, share, 100, "None", f"{DEFAULTS}, 'None'")]
    assert run.warnings == (expected if warns else [])


def test_mixed_markers_warn_only_when_one_of_them_is_most_of_the_column(tmp_path, warehouse):
    # 40 None, 35 nan and 25 codes: no one value is more than half.
    mixed = ["None"] * 40 + ["nan"] * 35 + ["A1"] * 25
    path = csv(tmp_path / "mixed.csv", "id,code", [f"{i},{c}" for i, c in enumerate(mixed)])
    assert load(tl.sources.files(path), warehouse).warnings == []
    # 60 '-', 20 '?' and 20 codes: '-' is, and only it is named.
    dashes = ["-"] * 60 + ["?"] * 20 + ["A1"] * 20
    path = csv(tmp_path / "dashes.csv", "id,code", [f"{i},{c}" for i, c in enumerate(dashes)])
    run = load(tl.sources.files(path), warehouse)
    assert run.warnings == [warning("dashes", "code", "60", "100", 60, "-", f"{DEFAULTS}, '-'")]


def test_numbers_stay_numbers_and_a_pinned_text_column_is_left_alone(tmp_path, warehouse):
    # A column of NaN is a double column, not text; one pinned as text is the user's choice.
    rows = [f"{i},NaN,None" for i in range(30)]
    path = csv(tmp_path / "m.csv", "id,ratio,code", rows)
    assert load(tl.sources.files(path, columns={"code": "text"}), warehouse).warnings == []


def test_unicode_table_and_column_names(tmp_path, warehouse):
    rows = [f"{i},{'None' if i < 25 else 'café'},{'nil' if i < 28 else '東京'}" for i in range(30)]
    path = csv(tmp_path / "ventas.csv", "id,código_descuento,備考", rows)
    run = load(tl.sources.files(path, name="ventas_ñ"), warehouse)
    assert run.warnings == [
        warning("ventas_ñ", "código_descuento", "25", "30", 83, "None", f"{DEFAULTS}, 'None'"),
        warning("ventas_ñ", "備考", "28", "30", 93, "nil", f"{DEFAULTS}, 'nil'"),
    ]


def test_an_excel_sheet_warns_like_a_csv_file(tmp_path, warehouse):
    import xlsxwriter

    path = tmp_path / "stock.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Stock")
    sheet.write_row(0, 0, ["sku", "supplier", "qty"])
    for r in range(1, 31):
        sheet.write_string(r, 0, f"SKU{r}")
        sheet.write_string(r, 1, "missing" if r <= 24 else "Acme")
        sheet.write_number(r, 2, r)
    book.close()
    run = load(tl.sources.files(path), warehouse)
    assert run.warnings == [warning("stock", "supplier", "24", "30", 80, "missing", f"{DEFAULTS}, 'missing'")]


def test_warnings_of_every_file_of_a_glob_add_up_across_runs_of_new_files(tmp_path, warehouse):
    (tmp_path / "in").mkdir()
    csv(tmp_path / "in" / "a.csv", "id,note", [f"{i},None" for i in range(15)])
    csv(tmp_path / "in" / "b.csv", "id,note", [f"{i},None" for i in range(15, 25)] + ["25,ok"])
    src = tl.sources.files(tmp_path / "in" / "*.csv", name="notes")
    first = load(src, warehouse)
    assert first.warnings == [warning("notes", "note", "25", "26", 96, "None", f"{DEFAULTS}, 'None'")]
    # A rerun reads only new files: its warnings are about what it read.
    csv(tmp_path / "in" / "c.csv", "id,note", ["26,ok"])
    assert load(src, warehouse).warnings == []


def test_the_run_row_keeps_the_warnings_on_every_warehouse(tmp_path, any_warehouse):
    path = csv(tmp_path / "orders.csv", "id,coupon", [f"{i},{'nan' if i % 4 else 'X'}" for i in range(40)])
    run = load(tl.sources.files(path), any_warehouse)
    assert run.warnings == [warning("orders", "coupon", "30", "40", 75, "nan", f"{DEFAULTS}, 'nan'")]
    assert json.loads(tl.monitor.runs(any_warehouse, "files")["warnings"][-1]) == run.warnings


def test_a_duckdb_warehouse_made_before_gains_the_warnings_column(tmp_path):
    path = csv(tmp_path / "orders.csv", "id,coupon", [f"{i},None" for i in range(25)])
    location = str(tmp_path / "wh.duckdb")
    with tl.warehouse.duckdb(location) as wh:
        wh.connection.execute("ALTER TABLE _tf_runs DROP COLUMN warnings")
    with tl.warehouse.duckdb(location) as wh:
        run = load(tl.sources.files(path), wh)
        assert json.loads(tl.monitor.runs(wh, "files")["warnings"][-1]) == run.warnings != []


PROJECT = """\
[project]
name = "exports"

[warehouse]
url = "duckdb:wh.duckdb"

[sources.shop]
files = "data/orders.csv"

[metrics]
enabled = false
"""


def test_tillflow_run_shows_the_warning_once(tmp_path):
    (tmp_path / "data").mkdir()
    csv(tmp_path / "data" / "orders.csv", "id,coupon", [f"{i},{'None' if i % 5 else 'X'}" for i in range(50)])
    (tmp_path / "tillflow.toml").write_text(PROJECT)
    expected = warning("orders", "coupon", "40", "50", 80, "None", f"{DEFAULTS}, 'None'")
    out = run_cli("run", "--quiet", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert f"    warning: {expected}" in out.stdout.splitlines()
    assert expected not in out.stderr
    as_json = run_cli("run", "--json", "--full-refresh", cwd=tmp_path)
    steps = json.loads(as_json.stdout)["steps"]
    assert steps[0]["warnings"] == [expected]
