"""A project's [publish] snapshot and [backup], taken at the end of each run
under the run's own lock."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

import tillflow as tl
from tillflow.exceptions import ConfigError

PROJECT = """\
[project]
name = "visits"

[warehouse]
url = "duckdb:wh.duckdb"

[sources.site]
files = "visits.csv"
write_mode = "append"
{extra}
"""


def _project(tmp_path: Path, extra: str) -> Path:
    (tmp_path / "visits.csv").write_text("day,visits\n2024-03-01,10\n2024-03-02,12\n")
    (tmp_path / "tillflow.toml").write_text(PROJECT.format(extra=extra))
    return tmp_path


def test_each_run_publishes_and_backs_up_after_it_loads(tmp_path: Path) -> None:
    root = _project(tmp_path, '[publish]\nto = "bi/site.duckdb"\n[backup]\nto = "backups"\nkeep = 2\n')
    for run in range(3):
        (root / "visits.csv").write_text(f"day,visits\n2024-03-0{run + 1},{run}\n")  # a changed file
        result = tl.project.run(root)
        assert result.status == "ok", result
        assert [s.kind for s in result.steps[-2:]] == ["publish", "backup"]
    with duckdb.connect(str(root / "bi" / "site.duckdb"), read_only=True) as con:
        # The snapshot holds what the last run loaded: the file's rows, replaced on each change.
        assert con.execute("SELECT day::VARCHAR, visits FROM visits").fetchall() == [("2024-03-03", 2)]
    kept = tl.warehouse.backups(root / "backups")
    assert len(kept) == 2 and kept[-1].tables["visits"] == 1
    # Steps of other kinds only: no upkeep.
    quiet = tl.project.run(root, kinds=["source"])
    assert [s.kind for s in quiet.steps] == ["source"]


def test_a_failed_publish_fails_its_step_and_keeps_what_loaded(tmp_path: Path) -> None:
    root = _project(tmp_path, '[publish]\nto = "wh.duckdb"\n')  # the warehouse itself
    result = tl.project.run(root)
    assert result.status == "failed"
    step = result.steps[-1]
    assert step.kind == "publish" and step.status == "failed" and "itself" in step.message
    with tl.warehouse.duckdb(str(root / "wh.duckdb"), create=False) as wh:
        assert wh.row_counts()["visits"] == 2


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('[publish]\nformat = "parquet"\n', "publish: say where"),
        ('[publish]\nto = "bi"\nformat = "csv"\n', "publish.format: expected 'duckdb' or 'parquet'"),
        ('[backup]\nto = "b"\nkeep = 0\n', "backup.keep: expected a whole number >= 1"),
        ('[backup]\nto = "b"\nkeeep = 3\n', "did you mean 'keep'"),
    ],
)
def test_bad_upkeep_settings_are_named_with_their_line(tmp_path: Path, extra: str, message: str) -> None:
    root = _project(tmp_path, extra)
    with pytest.raises(ConfigError, match=message) as err:
        tl.project.run(root)
    assert "tillflow.toml:" in str(err.value)
    assert not (root / "wh.duckdb").exists()
