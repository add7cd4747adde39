"""Durations as tillflow's files write them: ``"90s"``, ``"30m"``, ``"6h"``,
``"2d"``, ``"1w"``, or a sum such as ``"1d12h"`` (decimals allowed:
``"1.5h"``), or seconds as a number."""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(w|d|h|m|s)")
_UNIT_SECONDS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}


def seconds(value: Any) -> float | None:
    """The non-negative, finite seconds ``value`` stands for (a timedelta, a
    number or duration text), or ``None`` when it is none of those; the caller
    names the setting in its error."""
    if isinstance(value, dt.timedelta):
        out = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        out = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        parts = _PART.findall(text)
        if not parts or _PART.sub("", text).strip():
            return None
        out = sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    else:
        return None
    return out if math.isfinite(out) and out >= 0 else None
