"""Web logs as a source: Combined/Common/JSON/regex lines parsed natively,
tailed incrementally, with rotation (rename, copytruncate, gzip) followed
and every line loaded exactly once."""

from __future__ import annotations

import datetime as dt
import gzip
import os
import shutil
from pathlib import Path

import polars as pl
import pytest

import tillflow as tl

UTC = dt.timezone.utc


def line(i: int, status: int = 200, path: str = "/") -> str:
    stamp = (dt.datetime(2024, 3, 1, tzinfo=UTC) + dt.timedelta(seconds=i)).strftime(
        "%d/%b/%Y:%H:%M:%S +0000"
    )
    return f'10.0.0.{i % 250} - - [{stamp}] "GET {path}?n={i} HTTP/1.1" {status} {100 + i} "-" "agent {i}"\n'


def write(path: Path, lines: range, mode: str = "a") -> None:
    with open(path, mode, encoding="utf-8") as f:
        f.writelines(line(i) for i in lines)


def run(wh: tl.warehouse.DuckDBWarehouse, folder: Path) -> int:
    source = tl.sources.logs(str(folder / "access.log*"))
    return tl.pipeline("web", source, wh).run().row_counts.get("access", 0)


def loaded(wh: tl.warehouse.DuckDBWarehouse) -> list[int]:
    frame = wh.query(
        "SELECT CAST(split_part(split_part(path, '?n=', 2), ' ', 1) AS INTEGER) AS n FROM access"
    )
    return sorted(frame.filter(pl.col("n").is_not_null())["n"].to_list())


def test_combined_lines_load_with_their_types(tmp_path, warehouse):
    log = tmp_path / "access.log"
    log.write_text(
        '127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 '
        '"http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)"\n'
        '::1 - - [01/Jan/2024:00:00:00 +0000] "-" 400 - "-" "-"\n'
        "garbage that is no log line\n"
    )
    summary = tl.pipeline("web", tl.sources.logs(str(log)), warehouse).run()
    assert summary.row_counts == {"access": 2, "access__quarantine": 1}
    row = warehouse.query("SELECT * FROM access ORDER BY status").to_dicts()[0]
    assert row["time"] == dt.datetime(2000, 10, 10, 20, 55, 36, tzinfo=UTC)
    assert (row["method"], row["path"], row["protocol"], row["status"], row["bytes"]) == (
        "GET", "/apache_pb.gif", "HTTP/1.0", 200, 2326,
    )  # fmt: skip
    assert (row["remote_user"], row["ident"], row["referer"]) == (
        "frank",
        None,
        "http://www.example.com/start.html",
    )
    types = dict(warehouse.query("DESCRIBE access").select("column_name", "column_type").rows())
    assert (
        types["time"] == "TIMESTAMP WITH TIME ZONE"
        and types["status"] == "INTEGER"
        and types["bytes"] == "BIGINT"
    )
    bad = warehouse.query("SELECT line FROM access__quarantine")["line"].to_list()
    assert bad == ["garbage that is no log line"]


def test_a_rerun_reads_only_new_lines_and_a_partial_line_waits(tmp_path, warehouse):
    log = tmp_path / "access.log"
    write(log, range(0, 100))
    assert run(warehouse, tmp_path) == 100
    write(log, range(100, 130))
    with open(log, "a", encoding="utf-8") as f:
        f.write(line(130)[:40])  # still being written
    assert run(warehouse, tmp_path) == 30
    with open(log, "a", encoding="utf-8") as f:
        f.write(line(130)[40:])
    assert run(warehouse, tmp_path) == 1
    assert run(warehouse, tmp_path) == 0
    assert loaded(warehouse) == list(range(131))


def test_rotation_by_rename_copytruncate_and_gzip_loses_and_repeats_nothing(tmp_path, warehouse):
    log = tmp_path / "access.log"
    write(log, range(0, 50))
    assert run(warehouse, tmp_path) == 50

    # Rename rotation: lines keep arriving in the renamed file until the server reopens, then a new file.
    write(log, range(50, 60))
    os.rename(log, tmp_path / "access.log.1")
    write(tmp_path / "access.log.1", range(60, 65))
    write(log, range(65, 80), mode="w")
    assert run(warehouse, tmp_path) == 30

    # Copytruncate: the copy holds lines not read yet, the original restarts empty and grows.
    write(log, range(80, 90))
    shutil.copyfile(log, tmp_path / "access.log.1.tmp")
    os.replace(tmp_path / "access.log.1", tmp_path / "access.log.2")
    os.replace(tmp_path / "access.log.1.tmp", tmp_path / "access.log.1")
    with open(log, "w", encoding="utf-8"):
        pass
    write(log, range(90, 95))
    assert run(warehouse, tmp_path) == 15

    # Gzip: access.log.2 becomes access.log.2.gz; it was read to its end, so nothing comes again.
    with open(tmp_path / "access.log.2", "rb") as src, gzip.open(tmp_path / "access.log.2.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.remove(tmp_path / "access.log.2")
    write(log, range(95, 100))
    assert run(warehouse, tmp_path) == 5
    assert loaded(warehouse) == list(range(100))


def test_a_gzipped_file_compressed_before_it_was_read_to_its_end(tmp_path, warehouse):
    log = tmp_path / "access.log"
    write(log, range(0, 10))
    assert run(warehouse, tmp_path) == 10
    write(log, range(10, 20))
    with open(log, "rb") as src, gzip.open(tmp_path / "access.log.1.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    write(log, range(20, 25), mode="w")
    assert run(warehouse, tmp_path) == 15
    assert loaded(warehouse) == list(range(25))


def test_json_and_regex_lines(tmp_path, warehouse):
    app = tmp_path / "app.jsonl"
    app.write_text('{"level": "info", "user": {"id": 7}}\n{"level": "warn", "tags": ["a", "b"]}\n[1, 2]\n')
    counts = tl.pipeline("app", tl.sources.logs(str(app), format="json"), warehouse).run().row_counts
    assert counts == {"app": 2, "app__tags": 2, "app__quarantine": 1}
    assert warehouse.query("SELECT user__id FROM app WHERE level = 'info'").item() == 7
    plain = tmp_path / "worker.log"
    plain.write_text("INFO started\nWARN disk at 91%\n\n")
    source = tl.sources.logs(str(plain), format="regex", pattern=r"^(?P<level>[A-Z]+) (?P<message>.*)$")
    assert tl.pipeline("worker", source, warehouse).run().row_counts == {"worker": 2}
    assert warehouse.query("SELECT message FROM worker WHERE level = 'WARN'").item() == "disk at 91%"


def test_bad_options_are_named(tmp_path):
    with pytest.raises(
        tl.ConfigError, match=r"format: must be one of combined, common, json, regex, got 'w3c'"
    ):
        tl.sources.logs(str(tmp_path / "a.log"), format="w3c")
    with pytest.raises(tl.ConfigError, match=r"pattern: give a pattern with format='regex'"):
        tl.sources.logs(str(tmp_path / "a.log"), format="regex")
    with pytest.raises(tl.ConfigError, match=r"on_bad_line: must be one of quarantine, skip, error"):
        tl.sources.logs(str(tmp_path / "a.log"), on_bad_line="ignore")
    log = tmp_path / "access.log"
    log.write_text("nope\n")
    source = tl.sources.logs(str(log), on_bad_line="error")
    with pytest.raises(tl.SourceError, match=r"access\.log.*does not parse as combined: \"nope\""):
        list(source.resources[0].open(None))
