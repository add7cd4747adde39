"""The validation report: one result per check, totals, and the ways an
analyst reads it (a table, a frame, Jupyter, an exception)."""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Iterator, Sequence
from typing import Any

import polars as pl

from tillflow.exceptions import ValidationError

__all__ = ["CheckResult", "Report"]

_STATUS_STYLE = {
    # (background, text) per status/severity
    ("passed", "error"): ("#e6f4ea", "#137333"),
    ("passed", "warn"): ("#e6f4ea", "#137333"),
    ("failed", "error"): ("#fce8e6", "#a50e0e"),
    ("failed", "warn"): ("#fef7e0", "#8a5300"),
    ("skipped", "error"): ("#f1f3f4", "#5f6368"),
    ("skipped", "warn"): ("#f1f3f4", "#5f6368"),
}


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """The outcome of one check.

    Parameters
    ----------
    rule
        The check's name.
    kind
        The rule's kind (``not_null``, ``between``, ...).
    columns
        The columns it read.
    severity
        ``error`` or ``warn``.
    status
        ``passed``, ``failed`` or ``skipped`` (after a ``fail_fast`` stop).
    failing
        The failing rows, for row checks; ``None`` for dataset checks
        (``row_count``, ``freshness``, ``schema``).
    rows
        The rows the check applied to: every row, or those its ``when=``
        admits. ``fraction`` and a fractional tolerance are shares of these.
    tolerance
        The tolerance the check was given, if any.
    observed
        What a dataset check saw.
    sample
        Up to ``sample_size`` failing rows: ``_tf_row``, the key and the
        checked columns.
    """

    rule: str
    kind: str
    columns: tuple[str, ...]
    severity: str
    status: str  # "passed", "failed" or "skipped"
    failing: int | None  # failing rows (row checks); None for dataset checks
    rows: int  # the rows the check applied to (those when= admits)
    tolerance: int | float | str | None
    observed: str | None  # what a dataset check saw
    sample: pl.DataFrame  # up to sample_size failing rows: _tf_row, key and checked columns

    @property
    def passed(self) -> bool | None:
        """True or False; None when the check was skipped."""
        return None if self.status == "skipped" else self.status == "passed"

    @property
    def fraction(self) -> float | None:
        if self.failing is None:
            return None
        return self.failing / self.rows if self.rows else 0.0

    def sample_keys(self, key: Sequence[str], limit: int = 3) -> list[str]:
        """Up to ``limit`` failing rows as ``col=value`` text (key columns, or
        the row number when there is no key).

        Parameters
        ----------
        key
            The key columns to show; those missing from the sample are left
            out, and ``_tf_row`` is shown when none is there.
        limit
            The most rows to describe.

        Returns
        -------
        list[str]
            One text per row, e.g. ``"id=17, line=2"``; empty when the sample is.
        """
        if self.sample.height == 0:
            return []
        cols = [k for k in key if k in self.sample.columns] or ["_tf_row"]
        out = []
        for row in self.sample.head(limit).select(cols).iter_rows():
            out.append(", ".join(f"{c}={v!r}" for c, v in zip(cols, row, strict=True)))
        return out

    def describe(self, key: Sequence[str] = ()) -> str:
        """One line: what failed, how much, and where.

        Parameters
        ----------
        key
            The key columns that name sample rows (see
            [sample_keys][tillflow.rules.CheckResult.sample_keys]).

        Returns
        -------
        str
            E.g. ``"not_null_email: 3 failing rows (0.60%); e.g. id=4; id=9; id=12"``.
        """
        if self.status == "skipped":
            return f"{self.rule}: skipped"
        if self.failing is None:
            return (
                f"{self.rule}: {self.status} ({self.observed})"
                if self.observed
                else f"{self.rule}: {self.status}"
            )
        frac = self.fraction or 0.0
        line = f"{self.rule}: {self.failing:,} failing row{'s' if self.failing != 1 else ''} ({frac:.2%})"
        if self.tolerance is not None:
            line += f", tolerance {self.tolerance}"
        examples = self.sample_keys(key)
        if examples and self.failing:
            line += "; e.g. " + "; ".join(examples)
        return line


class Report:
    """What a rule set found: `results` per check, in declared order.

    ``passed`` is true when no error-severity check failed (warnings do not
    fail a report). The samples hold at most ``sample_size`` rows per check,
    so a report stays small however many rows fail.

    Parameters
    ----------
    results
        One [CheckResult][tillflow.rules.CheckResult] per check.
    rows
        The rows checked.
    key
        The key columns shown beside failing rows.
    """

    def __init__(self, results: Sequence[CheckResult], rows: int, key: Sequence[str] = ()) -> None:
        self.results = list(results)
        self.rows = rows
        self.key = tuple(key)

    @property
    def passed(self) -> bool:
        return not self.errors

    @property
    def errors(self) -> list[CheckResult]:
        """Failed checks of severity ``error``."""
        return [r for r in self.results if r.status == "failed" and r.severity == "error"]

    @property
    def warnings(self) -> list[CheckResult]:
        """Failed checks of severity ``warn``."""
        return [r for r in self.results if r.status == "failed" and r.severity == "warn"]

    @property
    def failed(self) -> list[CheckResult]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def skipped(self) -> list[CheckResult]:
        return [r for r in self.results if r.status == "skipped"]

    def __getitem__(self, rule: str) -> CheckResult:
        for r in self.results:
            if r.rule == rule:
                return r
        raise KeyError(f"no check named {rule!r}; checks: {', '.join(r.rule for r in self.results)}")

    def __iter__(self) -> Iterator[CheckResult]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def __bool__(self) -> bool:
        return True

    def raise_for_errors(self) -> Report:
        """Raise [ValidationError][tillflow.exceptions.ValidationError] naming every failed
        error-severity check; return the report when there is none.

        Returns
        -------
        Report
            This report, when no error-severity check failed.

        Raises
        ------
        ValidationError
            If one did; its ``report`` attribute is this report.
        """
        if self.passed:
            return self
        lines = [f"{len(self.errors)} of {len(self.results)} checks failed over {self.rows:,} rows:"]
        lines += [f"  - {r.describe(self.key)}" for r in self.errors]
        err = ValidationError("\n".join(lines))
        err.report = self  # type: ignore[attr-defined]
        raise err

    def to_polars(self) -> pl.DataFrame:
        """One row per check: rule, kind, columns, severity, status, passed,
        failing, rows, fraction, tolerance, observed.

        Returns
        -------
        polars.DataFrame
            The results; ``failing`` and ``fraction`` are null for dataset
            checks, ``passed`` is null for skipped ones.
        """
        schema: dict[str, pl.DataType | type[pl.DataType]] = {
            "rule": pl.String,
            "kind": pl.String,
            "columns": pl.List(pl.String),
            "severity": pl.String,
            "status": pl.String,
            "passed": pl.Boolean,
            "failing": pl.Int64,
            "rows": pl.Int64,
            "fraction": pl.Float64,
            "tolerance": pl.String,
            "observed": pl.String,
        }
        rs = self.results
        data = {
            "rule": [r.rule for r in rs],
            "kind": [r.kind for r in rs],
            "columns": [list(r.columns) for r in rs],
            "severity": [r.severity for r in rs],
            "status": [r.status for r in rs],
            "passed": [r.passed for r in rs],
            "failing": [r.failing for r in rs],
            "rows": [r.rows for r in rs],
            "fraction": [r.fraction for r in rs],
            "tolerance": [None if r.tolerance is None else str(r.tolerance) for r in rs],
            "observed": [r.observed for r in rs],
        }
        return pl.DataFrame(data, schema=schema)

    def samples(self) -> pl.DataFrame:
        """Every check's sample rows in one frame, with a ``_tf_rule`` column
        (columns a check did not read are null).

        Returns
        -------
        polars.DataFrame
            ``_tf_rule``, ``_tf_row`` and the sampled columns; no rows when
            no sample holds any.
        """
        frames = [
            r.sample.with_columns(pl.lit(r.rule).alias("_tf_rule")).select("_tf_rule", pl.exclude("_tf_rule"))
            for r in self.results
            if r.sample.height
        ]
        if not frames:
            return pl.DataFrame(schema={"_tf_rule": pl.String, "_tf_row": pl.UInt64})
        return pl.concat(frames, how="diagonal_relaxed")

    def summary(self) -> str:
        """The verdict in one line.

        Returns
        -------
        str
            E.g. ``"FAILED: 3 passed, 1 failed of 4 checks over 500 rows"``.
        """
        passed = sum(r.status == "passed" for r in self.results)
        parts = [f"{passed} passed"]
        if self.errors:
            parts.append(f"{len(self.errors)} failed")
        if self.warnings:
            parts.append(f"{len(self.warnings)} warning{'s' if len(self.warnings) != 1 else ''}")
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped")
        verdict = "PASSED" if self.passed else "FAILED"
        return f"{verdict}: {', '.join(parts)} of {len(self.results)} checks over {self.rows:,} rows"

    def __str__(self) -> str:
        lines = [self.summary()]
        width = max((len(r.rule) for r in self.results), default=4)
        for r in self.results:
            mark = {
                "passed": "ok  ",
                "failed": "FAIL" if r.severity == "error" else "warn",
                "skipped": "skip",
            }[r.status]
            if r.failing is None:
                detail = r.observed or ""
            else:
                detail = f"{r.failing:,} failing ({r.fraction or 0:.2%})"
                if r.tolerance is not None:
                    detail += f", tolerance {r.tolerance}"
                if r.failing and r.status != "skipped":
                    examples = r.sample_keys(self.key)
                    if examples:
                        detail += "; e.g. " + "; ".join(examples)
            lines.append(f"  {mark} {r.rule:<{width}}  {detail}".rstrip())
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Report {self.summary()}>"

    def _repr_html_(self) -> str:
        esc = html.escape
        verdict_bg, verdict_fg = ("#e6f4ea", "#137333") if self.passed else ("#fce8e6", "#a50e0e")
        head = (
            f"<div style='padding:4px 8px;background:{verdict_bg};color:{verdict_fg};font-weight:600'>"
            f"{esc(self.summary())}</div>"
        )
        cell = "padding:2px 8px;border-bottom:1px solid #eee;text-align:left;vertical-align:top"
        rows = []
        for r in self.results:
            bg, fg = _STATUS_STYLE[(r.status, r.severity)]
            badge = (
                f"<span style='background:{bg};color:{fg};padding:0 6px;border-radius:3px'>"
                f"{esc(r.status if r.status != 'failed' or r.severity == 'error' else 'warning')}</span>"
            )
            failing = "" if r.failing is None else f"{r.failing:,}"
            frac = "" if r.fraction is None else f"{r.fraction:.2%}"
            tol = "" if r.tolerance is None else esc(str(r.tolerance))
            if r.failing is None:
                detail = esc(r.observed or "")
            else:
                detail = esc("; ".join(r.sample_keys(self.key))) if r.failing else ""
            rows.append(
                f"<tr><td style='{cell}'>{badge}</td><td style='{cell}'><code>{esc(r.rule)}</code></td>"
                f"<td style='{cell}'>{esc(r.kind)}</td><td style='{cell}'>{esc(', '.join(r.columns))}</td>"
                f"<td style='{cell};text-align:right'>{failing}</td>"
                f"<td style='{cell};text-align:right'>{frac}</td><td style='{cell}'>{tol}</td>"
                f"<td style='{cell}'>{detail}</td></tr>"
            )
        header = "".join(
            f"<th style='{cell}'>{h}</th>"
            for h in ("status", "rule", "kind", "columns", "failing", "fraction", "tolerance", "detail")
        )
        return (
            f"<div style='font-size:13px'>{head}<table style='border-collapse:collapse'>"
            f"<thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
        )


_EMPTY_SAMPLE = pl.DataFrame(schema={"_tf_row": pl.UInt64})


def build_report(
    results: list[dict[str, Any]],
    samples: dict[str, pl.DataFrame],
    rows: int,
    tolerances: dict[str, Any],
    key: Sequence[str],
    sample_size: int,
) -> Report:
    out = []
    for r in results:
        sample = samples.get(r["rule"])
        if sample is None:
            sample = _EMPTY_SAMPLE
        out.append(
            CheckResult(
                rule=r["rule"],
                kind=r["kind"],
                columns=tuple(r["columns"]),
                severity=r["severity"],
                status=r["status"],
                failing=r["failing"],
                rows=r["rows"],
                tolerance=tolerances.get(r["rule"]),
                observed=r["observed"],
                sample=sample if sample.height <= sample_size else sample.head(sample_size),
            )
        )
    return Report(out, rows, key)
