"""Data checks inside a pytest suite.

``assert_valid(df, rules)`` fails a test with a readable message: which
checks failed, how many rows, and sample keys. tillflow registers this
module as a pytest plugin (entry point ``pytest11``), which adds the
``assert_valid`` fixture and reports the tillflow version in the header.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

try:
    import pytest
except ImportError:  # assert_valid works without pytest; the plugin needs it
    pytest = None  # type: ignore[assignment]

if TYPE_CHECKING:
    import polars as pl

    from tillflow.rules import Report, Rule, RuleSet

__all__ = ["assert_valid"]


def assert_valid(
    data: pl.DataFrame | pl.LazyFrame | Iterable[pl.DataFrame],
    rules: RuleSet | Rule | Iterable[Rule] | str | os.PathLike[str],
    *,
    key: str | list[str] | None = None,
    warnings: bool = False,
    **validate: Any,
) -> Report:
    """Validate ``data`` and raise ``AssertionError`` when an error-severity
    check fails (with ``warnings=True``, a failed warning too). ``rules`` is a
    [RuleSet][tillflow.rules.RuleSet], rules, or a rules file. Extra keyword
    arguments go to [RuleSet.validate][tillflow.rules.RuleSet.validate]. Returns the report.

    Parameters
    ----------
    data
        A DataFrame, a LazyFrame or an iterable of DataFrames.
    rules
        A [RuleSet][tillflow.rules.RuleSet], a [Rule][tillflow.rules.Rule],
        an iterable of rules, or the path of a rules file (as
        [RuleSet.coerce][tillflow.rules.RuleSet.coerce] takes them).
    key
        The key columns shown for failing rows, when ``rules`` are rules;
        a rule set or a rules file keeps its own.
    warnings
        Whether failed ``warn`` checks fail the assertion too.
    **validate
        Passed to [RuleSet.validate][tillflow.rules.RuleSet.validate]:
        ``mode``, ``now``, ``warehouse``, ``references``, ``on_batch``.

    Returns
    -------
    Report
        The report, when the data passed.

    Raises
    ------
    AssertionError
        If a check failed; the message lists each failed check with up to
        five sample rows.
    ConfigError
        If ``rules`` is none of the accepted forms, or a validation option
        is invalid.
    RuleError
        If the rules are invalid or cannot be applied to ``data``.
    """
    __tracebackhide__ = True
    from tillflow.rules import RuleSet

    report = RuleSet.coerce(rules, key=key).validate(data, **validate)
    bad = report.failed if warnings else report.errors
    if bad:
        lines = [
            f"data is not valid: {len(bad)} of {len(report.results)} checks failed over {report.rows:,} rows"
        ]
        for r in bad:
            lines.append(f"  - {r.describe(report.key)}")
            if r.sample.height:
                shown = r.sample.head(5)
                lines.extend("      " + line for line in str(shown).splitlines())
        raise AssertionError("\n".join(lines))
    return report


# -- the pytest plugin

if pytest is not None:

    @pytest.fixture(name="assert_valid")
    def _assert_valid_fixture() -> Callable[..., Report]:
        """``assert_valid(data, rules)`` as a fixture."""
        return assert_valid


def pytest_report_header(config: pytest.Config) -> str:
    try:
        from importlib.metadata import version

        return f"tillflow: {version('tillflow')}"
    except Exception:
        return "tillflow: (version unknown)"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "tillflow_data: a test that checks data with tillflow rules")
