"""A rule set: rules plus how to report them, applied to a frame, a lazy
frame or a stream of batches by the native engine in one pass per batch."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from tillflow._native import check_rules
from tillflow.exceptions import ConfigError, RuleError
from tillflow.rules._catalog import by_items, by_names
from tillflow.rules._file_form import FileForm
from tillflow.rules._report import Report
from tillflow.rules._rule import Rule
from tillflow.rules._validation import MASK_PREFIX, MODES, WHEN_PREFIX, Data, Plan, Validation, batches
from tillflow.rules._values import bucket_every, expr_roots

if TYPE_CHECKING:
    from tillflow.warehouse import Warehouse

__all__ = ["MODES", "RuleSet", "Validation"]


class RuleSet(FileForm):
    """Rules to check data against, the key columns shown beside failing
    rows, and how many failing rows each check keeps as a sample.

    >>> from tillflow import rules as r
    >>> rs = RuleSet([r.not_null("id"), r.unique("id")], key=["id"])
    >>> rs.validate(frame).raise_for_errors()  # doctest: +SKIP

    Parameters
    ----------
    rules
        The rules, each a [Rule][tillflow.rules.Rule]; their names must be
        unique.
    key
        The key column (or columns) shown beside failing rows in samples and
        messages.
    sample_size
        How many failing rows each check keeps as a sample (0 for none).

    Raises
    ------
    RuleError
        If an item of ``rules`` is not a rule, two checks have the same name,
        ``key`` is not a column name or a list of them, or ``sample_size`` is
        not a non-negative integer.
    """

    def __init__(
        self, rules: Iterable[Rule] = (), *, key: str | Sequence[str] | None = None, sample_size: int = 10
    ) -> None:
        self.rules = list(rules)
        for i, rule in enumerate(self.rules):
            if not isinstance(rule, Rule):
                raise RuleError(
                    f"rules[{i}]: expected a rule such as tillflow.rules.not_null('id'), got {rule!r}"
                )
        if not (
            key is None
            or isinstance(key, str)
            or (isinstance(key, (list, tuple)) and all(isinstance(k, str) for k in key))
        ):
            raise RuleError(f"rules: key: expected a column name or a list of them, got {key!r}")
        self.key: tuple[str, ...] = (key,) if isinstance(key, str) else tuple(key or ())
        if isinstance(sample_size, bool) or not isinstance(sample_size, int) or sample_size < 0:
            raise RuleError(f"rules: sample_size: must be a non-negative integer, got {sample_size!r}")
        self.sample_size = sample_size
        self._explicit = {"key": key is not None, "sample_size": sample_size != 10}
        self._order: tuple[str, ...] | None = None
        self._key_form: Any = None  # `key` as a file wrote it (text or list)
        # The engine checks the whole set (names must be unique) now, not at the first batch.
        check_rules(json.dumps({"now_us": 0, "checks": self.checks(), "key": list(self.key)}))

    # -- applying it

    def validate(
        self,
        data: Data,
        *,
        mode: str = "collect_all",
        now: dt.datetime | None = None,
        warehouse: Warehouse | None = None,
        references: Mapping[str, pl.DataFrame] | None = None,
        on_batch: Callable[[int], None] | None = None,
    ) -> Report:
        """Check ``data`` (a DataFrame, a LazyFrame read in batches, or any
        iterable of DataFrames) and return the [Report][tillflow.rules.Report].

        ``mode`` is ``"collect_all"`` (every check, the default) or
        ``"fail_fast"`` (stop at the first failing error check; later checks
        are reported as skipped). ``now`` is when freshness is measured from
        (default: the current time). ``relationships`` rules that name a
        table (``"customers.id"``) read it from ``references`` or ``warehouse``.
        ``on_batch`` is called with each checked batch's row count (progress).

        Parameters
        ----------
        data
            A DataFrame, a LazyFrame (only the checked columns are read, in
            batches) or an iterable of DataFrames.
        mode
            ``"collect_all"`` or ``"fail_fast"``.
        now
            When ``freshness`` rules measure age from; by default the current
            time. A naive datetime is taken as UTC.
        warehouse
            Where ``relationships`` rules that name a table (``"customers.id"``)
            read it, when ``references`` does not hold it.
        references
            Reference frames by table name, for ``relationships`` rules that
            name a table.
        on_batch
            Called with each batch's row count after it is checked.

        Returns
        -------
        Report
            One result per check, in the rules' order.

        Raises
        ------
        ConfigError
            If ``mode`` is unknown or ``data`` is not a frame or frames.
        RuleError
            If a checked column is missing or has a type its check cannot
            read, an expression cannot be evaluated, or a ``relationships``
            reference cannot be read (or no ``warehouse`` or ``references``
            was given for a table).
        """
        v = self.validation(mode=mode, now=now, warehouse=warehouse, references=references)
        schema = None
        if isinstance(data, pl.LazyFrame):
            # Read only the checked columns; schema checks see the full schema.
            schema = data.collect_schema()
            # At least one column, so batches keep their row counts.
            data = data.select([c for c in v.needed_columns if c in schema] or list(schema)[:1])
        for batch in batches(data):
            v.push(batch, schema=schema)
            if on_batch is not None:
                on_batch(batch.height)
            if v.stopped:
                break
        return v.finish()

    def failing_rows(
        self,
        data: pl.DataFrame | pl.LazyFrame,
        *,
        severity: str | None = None,
        now: dt.datetime | None = None,
        warehouse: Warehouse | None = None,
        references: Mapping[str, pl.DataFrame] | None = None,
    ) -> pl.DataFrame:
        """The rows of ``data`` that broke a check (of ``severity``, when
        given), each with ``_tf_failed_rules``: the names of the checks it broke.

        Parameters
        ----------
        data
            A DataFrame, or a LazyFrame (collected whole).
        severity
            ``"error"`` or ``"warn"`` for the checks of that severity only;
            ``None`` for all.
        now, warehouse, references
            As [validate][tillflow.rules.RuleSet.validate] takes them: the
            time ``freshness`` counts from, and where tables named by
            ``relationships`` rules are read.

        Returns
        -------
        polars.DataFrame
            The failing rows, in their order in ``data``.

        Raises
        ------
        ConfigError
            If ``data`` is not a DataFrame or LazyFrame.
        RuleError
            As for [validate][tillflow.rules.RuleSet.validate].
        """
        v = self.validation(now=now, warehouse=warehouse, references=references)
        frame = data.collect() if isinstance(data, pl.LazyFrame) else data
        if not isinstance(frame, pl.DataFrame):
            raise ConfigError(
                f"failing_rows: expected a polars DataFrame or LazyFrame, got {type(data).__name__}"
            )
        failures = v.push(frame, want_rows=True)
        rules = failures.rules(severity)
        return frame[rules["_tf_row"]].with_columns(rules["_tf_failed_rules"])

    def export_failures(
        self,
        data: pl.DataFrame | pl.LazyFrame,
        path: str | os.PathLike[str],
        *,
        severity: str | None = None,
        now: dt.datetime | None = None,
        warehouse: Warehouse | None = None,
        references: Mapping[str, pl.DataFrame] | None = None,
    ) -> pl.DataFrame:
        """Write [failing_rows][tillflow.rules.RuleSet.failing_rows] to ``path``: ``.csv`` (the rule names
        joined with ``"; "``), ``.parquet`` or ``.xlsx``. Returns the rows.

        Parameters
        ----------
        data
            A DataFrame, or a LazyFrame (collected whole).
        path
            The file to write, its format chosen by its suffix. In ``.csv``
            and ``.xlsx`` files, nested columns are written as text.
        severity
            ``"error"`` or ``"warn"`` for the checks of that severity only;
            ``None`` for all.
        now, warehouse, references
            As for [failing_rows][tillflow.rules.RuleSet.failing_rows], which
            takes them from [validate][tillflow.rules.RuleSet.validate].

        Returns
        -------
        polars.DataFrame
            The failing rows, as [failing_rows][tillflow.rules.RuleSet.failing_rows] returns them.

        Raises
        ------
        ConfigError
            If ``data`` is not a frame, or ``path`` is not a ``.csv``,
            ``.parquet`` or ``.xlsx`` file.
        RuleError
            As for [validate][tillflow.rules.RuleSet.validate].
        """
        rows = self.failing_rows(data, severity=severity, now=now, warehouse=warehouse, references=references)
        target = Path(path)
        suffix = target.suffix.lower()
        if suffix == ".parquet":
            rows.write_parquet(target)
        elif suffix in (".csv", ".xlsx"):
            flat = rows.with_columns(pl.col("_tf_failed_rules").list.join("; "))
            flat = flat.with_columns(
                pl.col(c).cast(pl.String) for c, t in flat.schema.items() if t.is_nested() or t == pl.Object
            )
            if suffix == ".csv":
                flat.write_csv(target)
            else:
                # Excel keeps no time zone: an aware timestamp is written as its wall-clock time
                # in its own zone (the zone stays in the column's name).
                flat = flat.select(
                    pl.col(c).dt.replace_time_zone(None).alias(f"{c} ({t.time_zone})")
                    if isinstance(t, pl.Datetime) and t.time_zone
                    else pl.col(c)
                    for c, t in flat.schema.items()
                )
                flat.write_excel(target, worksheet="failing rows", autofit=True)
        else:
            raise ConfigError(
                f"export_failures: path: use a .csv, .parquet or .xlsx file, not {target.name!r}"
            )
        return rows

    def validation(
        self,
        *,
        mode: str = "collect_all",
        now: dt.datetime | None = None,
        warehouse: Warehouse | None = None,
        references: Mapping[str, pl.DataFrame] | None = None,
        missing_columns: str = "error",
    ) -> Validation:
        """A validation in progress, to [push][tillflow.rules.Validation.push] batches into
        and `finish`. ``missing_columns="null"`` reads a
        column a batch lacks as nulls (normalized batches leave out columns
        whose values were all null).

        Parameters
        ----------
        mode
            ``"collect_all"`` or ``"fail_fast"``.
        now, warehouse, references
            See [validate][tillflow.rules.RuleSet.validate]; they hold for
            every batch pushed.
        missing_columns
            ``"error"`` (the default) or ``"null"``.

        Returns
        -------
        Validation
            Ready for the first batch.

        Raises
        ------
        ConfigError
            If ``mode`` or ``missing_columns`` is not one of its values.
        RuleError
            If a ``relationships`` reference cannot be read.
        """
        return Validation(self, mode, now, warehouse, references, missing_columns)

    def _plan(self) -> Plan:
        """What a validation needs from the rules, kept while the rules stay
        the same objects (checking many small frames builds it once)."""
        sig = (tuple(id(r) for r in self.rules), self.key, self.sample_size)
        cached = self.__dict__.get("_cached_plan")
        if cached is not None and cached[0] == sig:
            return cached[1]
        checks = self.checks()
        tolerances: dict[str, Any] = {}
        cols: dict[str, None] = dict.fromkeys(self.key)
        derived: dict[str, pl.Expr] = {}
        for i, rule in enumerate(self.rules):
            for c in rule.checks({id(rule): "_"}, {id(rule): "_"}):
                tolerances[c["name"]] = rule.tolerance
            if rule.kind not in ("schema", "row_count"):
                cols.update(dict.fromkeys(rule.columns))
            when = rule.options.get("when")
            if when is not None:
                expr = pl.sql_expr(when) if isinstance(when, str) else when
                derived[f"{WHEN_PREFIX}{i}"] = expr
                cols.update(dict.fromkeys(expr_roots(expr)))
            for item in [] if "by" not in rule.options else by_items(rule.options["by"]):
                if isinstance(item, str):
                    cols[item] = None
                else:
                    name = by_names(item)[0]
                    derived[name] = pl.col(item["column"]).dt.truncate(bucket_every(rule.name, item["every"]))
                    cols[item["column"]] = None
        plan = Plan(
            checks=checks,
            exprs=[(f"{MASK_PREFIX}{i}", r) for i, r in enumerate(self.rules) if r.kind == "expression"],
            derived=list(derived.items()),
            has_schema=any(r.kind == "schema" for r in self.rules),
            tolerances=tolerances,
            columns=list(cols),
        )
        self.__dict__["_cached_plan"] = (sig, plan)
        return plan

    def checks(self) -> list[dict[str, Any]]:
        """The canonical checks the engine runs (one per column of a
        several-column ``not_null``), with their names.

        Returns
        -------
        list[dict[str, Any]]
            The checks, in the rules' order.

        Raises
        ------
        RuleError
            If an option cannot be put in the engine's form.
        """
        out: list[dict[str, Any]] = []
        for i, rule in enumerate(self.rules):
            masks = {id(rule): f"{MASK_PREFIX}{i}"} if rule.kind == "expression" else None
            out.extend(rule.checks(masks, {id(rule): f"{WHEN_PREFIX}{i}"}))
        return out

    # -- plumbing

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RuleSet):
            return NotImplemented
        return (self.rules, self.key, self.sample_size) == (other.rules, other.key, other.sample_size)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"RuleSet({len(self.rules)} rules, key={list(self.key)!r})"
