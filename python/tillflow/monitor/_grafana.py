"""The Grafana dashboard tillflow ships for its Prometheus metrics
(`prometheus_text`, ``tillflow serve-metrics``): health, freshness, rows,
runs, errors, rule failures, nulls, anomalies and alerts per pipeline."""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["grafana_dashboard"]


def grafana_dashboard(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The dashboard as Grafana's JSON model, written to ``path`` when given
    (import it under Dashboards → New → Import; Grafana asks for the
    Prometheus data source that scrapes tillflow).

    Parameters
    ----------
    path
        Where to write the JSON, or ``None`` to only return it.

    Returns
    -------
    dict
        The dashboard's JSON model.
    """
    text = resources.files("tillflow.monitor").joinpath("grafana/tillflow.json").read_text()
    if path is not None:
        Path(path).write_text(text)
    loaded: dict[str, Any] = json.loads(text)
    return loaded
