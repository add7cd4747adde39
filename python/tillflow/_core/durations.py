"""Durations as tillflow's files write them: ``"90s"``, ``"30m"``, ``"6h"``,
``"2d"``, ``"1w"``, or a sum such as ``"1d12h"`` (decimals allowed:
``"1.5h"``), or seconds as a number. The text's grammar is the engine's, so
a duration means the same in a REST spec, a rules file and an alerts file."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from tillflow._native import duration_seconds


def seconds(value: Any) -> float | None:
    """The non-negative, finite seconds ``value`` stands for (a timedelta, a
    number or duration text), or ``None`` when it is none of those; the caller
    names the setting in its error."""
    if isinstance(value, dt.timedelta):
        out: float | None = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        out = float(value)
    elif isinstance(value, str):
        out = duration_seconds(value)
    else:
        return None
    return out if out is not None and math.isfinite(out) and out >= 0 else None
