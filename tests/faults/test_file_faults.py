"""File faults: an export rewritten while it is read, a gzip cut short (a
transfer that died, a disk that filled), a file deleted between listing and
reading, a JSON file with more after its array. Each ends, once the files
are whole again, with the warehouse holding exactly the rows of the files as
they are, each once, tagged with its file."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import pytest
from faultkit import after_batches, assert_names, fails, load_statuses, run_pipeline

import tillflow as tl


def csv_text(ids: range, tag: str = "") -> str:
    return "id,name,qty\n" + "".join(f"{i},name {i}{tag},{i * 3 % 7}\n" for i in ids)


def ndjson_text(ids: range, tag: str = "") -> str:
    return "".join(json.dumps({"id": i, "name": f"name {i}{tag}", "qty": i * 3 % 7}) + "\n" for i in ids)


def json_text(ids: range, tag: str = "") -> str:
    return json.dumps([{"id": i, "name": f"name {i}{tag}", "qty": i * 3 % 7} for i in ids], indent=1)


TEXT = {"csv": csv_text, "ndjson": ndjson_text, "json": json_text}


def write(path: Path, text: str, *, atomic: bool = False, gz: bool = False) -> None:
    data = gzip.compress(text.encode(), mtime=0) if gz else text.encode()
    if atomic:  # a new file renamed over the old one, as careful exporters do
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    else:  # truncated and written again in place
        with open(path, "wb") as f:
            f.write(data)


def expect(files: dict[str, range], tag: dict[str, str] | None = None) -> list[tuple[Any, ...]]:
    """(id, name, qty, _tf_file) of every row the files hold."""
    tag = tag or {}
    return sorted((i, f"name {i}{tag.get(f, '')}", i * 3 % 7, f) for f, ids in files.items() for i in ids)


def held(wh: Any, table: str) -> list[tuple[Any, ...]]:
    rows = wh.query(f'SELECT id, name, qty, _tf_file FROM "{table}" ORDER BY id, _tf_file').rows()
    keys = [(r[0], r[3]) for r in rows]
    assert len(keys) == len(set(keys)), "a row was loaded twice"
    return [(int(i), n, int(q), f) for i, n, q, f in rows]


# -- rewritten while being read


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
@pytest.mark.parametrize("atomic", [False, True], ids=["in-place", "renamed-over"])
@pytest.mark.parametrize(
    "after", [range(1, 121), range(1, 31), range(5, 106)], ids=["grown", "shrunk", "shifted"]
)
def test_a_file_rewritten_while_being_read_is_loaded_whole_by_the_next_run(
    tmp_path, warehouse, fmt, atomic, after
):
    """The exporter rewrites ``a`` after two of its batches are committed. The
    run may load a mix of both versions; the file is then newer than what was
    loaded, so the next run loads it again from its first row, replacing its
    earlier rows in the same transaction: exactly the new version remains."""
    folder = tmp_path / "exports"
    folder.mkdir()
    a, b = folder / f"a.{fmt}", folder / f"b.{fmt}"
    write(a, TEXT[fmt](range(1, 101)))
    write(b, TEXT[fmt](range(1001, 1021)))
    source = tl.sources.files(str(folder / f"*.{fmt}"), name="rows", batch_size=10)
    after_batches(warehouse, 2, lambda: write(a, TEXT[fmt](after, " v2"), atomic=atomic))
    try:
        run_pipeline("files", source, warehouse)
        b_loaded = True
    except tl.SourceError as error:  # a torn line (the rewrite landed mid-row) is refused
        assert_names(error, f"a.{fmt}", "line")
        b_loaded = False
    run = run_pipeline("files", source, warehouse)
    # a is loaded again whole; b only if the first run did not get to it.
    assert run.row_counts["rows"] == len(after) + (0 if b_loaded else 20)
    want = expect({f"a.{fmt}": after, f"b.{fmt}": range(1001, 1021)}, {f"a.{fmt}": " v2"})
    assert held(warehouse, "rows") == want
    # A third run finds nothing new.
    assert run_pipeline("files", source, warehouse).row_counts == {}
    assert held(warehouse, "rows") == want


# -- cut short


@pytest.mark.parametrize("fmt", ["csv", "ndjson", "json"])
@pytest.mark.parametrize("cut", ["half", "trailer"], ids=["half-the-bytes", "no-crc-trailer"])
def test_a_truncated_gzip_fails_naming_the_file_and_loads_once_it_is_whole(tmp_path, warehouse, fmt, cut):
    """A ``.gz`` export cut short: half its bytes, or only its last 8 bytes
    (the CRC and length trailer, with every record still inside). It fails
    with a SourceError naming it; other files load; once the transfer is
    redone the rerun loads exactly the whole file."""
    folder = tmp_path / "drop"
    folder.mkdir()
    whole, other = TEXT[fmt](range(1, 3001)), TEXT[fmt](range(5001, 5011))
    write(folder / f"a.{fmt}.gz", other, gz=True)
    full = gzip.compress(whole.encode(), mtime=0)
    target = folder / f"b.{fmt}.gz"
    target.write_bytes(full[: len(full) // 2] if cut == "half" else full[:-8])
    source = tl.sources.files(str(folder / f"*.{fmt}.gz"), name="rows", batch_size=500)
    error = fails(tl.SourceError, lambda: run_pipeline("files", source, warehouse))
    assert_names(error, f"b.{fmt}.gz")
    assert load_statuses(warehouse) == ["failed"]
    target.write_bytes(full)
    run_pipeline("files", source, warehouse)
    assert held(warehouse, "rows") == expect(
        {f"a.{fmt}.gz": range(5001, 5011), f"b.{fmt}.gz": range(1, 3001)}
    )


def test_data_after_a_json_array_is_an_error_not_records_dropped(tmp_path, warehouse):
    """Two writers appended to one export: the file holds an array, then a
    second one. Loading the first and ignoring the rest would lose records."""
    path = tmp_path / "orders.json"
    path.write_text(json_text(range(1, 11)) + json_text(range(11, 16)))
    source = tl.sources.files(str(path), name="rows")
    error = fails(tl.SourceError, lambda: run_pipeline("files", source, warehouse))
    assert_names(error, "orders.json", "after the JSON array")
    assert "rows" not in warehouse.tables()
    path.write_text(json_text(range(1, 16)))
    run_pipeline("files", source, warehouse)
    assert held(warehouse, "rows") == expect({"orders.json": range(1, 16)})


# -- gone before it is read


def test_a_file_deleted_between_listing_and_reading_fails_naming_it_and_the_rest_loads(tmp_path, warehouse):
    """The run lists a, b and c; b is deleted (a cleanup job, a move) while a
    is being loaded. The run stops at b with a SourceError naming it, a stays
    committed, and the rerun loads c (b is no longer listed). When b comes
    back, the next run loads it."""
    folder = tmp_path / "exports"
    folder.mkdir()
    files = {"a.csv": range(1, 31), "b.csv": range(31, 61), "c.csv": range(61, 91)}
    for name, ids in files.items():
        write(folder / name, csv_text(ids))
    source = tl.sources.files(str(folder / "*.csv"), name="rows", batch_size=10)
    after_batches(warehouse, 1, lambda: (folder / "b.csv").unlink())
    error = fails(tl.SourceError, lambda: run_pipeline("files", source, warehouse))
    assert_names(error, "b.csv")
    assert held(warehouse, "rows") == expect({"a.csv": files["a.csv"]})
    run_pipeline("files", source, warehouse)
    assert held(warehouse, "rows") == expect({"a.csv": files["a.csv"], "c.csv": files["c.csv"]})
    write(folder / "b.csv", csv_text(files["b.csv"]))
    run_pipeline("files", source, warehouse)
    assert held(warehouse, "rows") == expect(files)
    assert load_statuses(warehouse) == ["failed", "completed", "completed"]
