"""The walkthrough notebook runs top to bottom."""

from __future__ import annotations

import json
from pathlib import Path

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "walkthrough.ipynb"


def test_walkthrough_runs(tmp_path, capsys, monkeypatch):
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    for src in code:
        # Smaller shop, same cells: the notebook's 20k orders are for people.
        exec(
            compile(
                src.replace("20_000", "2_000").replace("progress=True", "progress=False"), "cell", "exec"
            ),
            scope,
        )
    assert "AuthError 401" in capsys.readouterr().out
