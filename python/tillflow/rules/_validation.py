"""A validation in progress: a rule set applied batch by batch by the native
engine, one pass per batch, with expression masks, references and the
warehouse read where rules need them."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import polars as pl

from tillflow._core.errors import config_error
from tillflow.exceptions import ConfigError, RuleError
from tillflow.rules._report import Report, build_report
from tillflow.rules._rule import Rule

if TYPE_CHECKING:
    from tillflow.rules._ruleset import RuleSet
    from tillflow.warehouse import Warehouse

MODES = ("collect_all", "fail_fast")
MASK_PREFIX = "__tf_mask_"
WHEN_PREFIX = "__tf_when_"
# Types the engine reads as they are; others are cast (or stood in for) first.
_NATIVE_TYPES = (pl.Int32, pl.Int64, pl.UInt32, pl.UInt64, pl.Float32, pl.Float64, pl.String, pl.Boolean,
                 pl.Date, pl.Null)  # fmt: skip

Data = pl.DataFrame | pl.LazyFrame | Iterable[pl.DataFrame]


@dataclasses.dataclass(frozen=True)
class Plan:
    checks: list[dict[str, Any]]
    exprs: list[tuple[str, Rule]]
    derived: list[tuple[str, pl.Expr]]  # when= conditions and by= time buckets
    has_schema: bool
    tolerances: dict[str, Any]
    columns: list[str]


class Validation:
    """A rule set being applied batch by batch (see [RuleSet.validation][tillflow.rules.RuleSet.validation]).

    Parameters
    ----------
    ruleset
        The rules to apply.
    mode
        ``"collect_all"`` or ``"fail_fast"`` (see `MODES`).
    now
        When freshness is measured from; ``None`` for the current time. A
        naive datetime is taken as UTC.
    warehouse
        Where ``relationships`` rules naming a table read it.
    references
        Reference frames by table name, read before the warehouse.
    missing_columns
        ``"error"``: a batch without a checked column raises ``RuleError``;
        ``"null"``: the column is read as nulls.

    Raises
    ------
    ConfigError
        If ``mode`` or ``missing_columns`` is not one of its values.
    RuleError
        If a ``relationships`` reference cannot be read.
    """

    def __init__(
        self,
        ruleset: RuleSet,
        mode: str,
        now: dt.datetime | None,
        warehouse: Warehouse | None,
        references: Mapping[str, pl.DataFrame] | None,
        missing_columns: str,
    ) -> None:
        from tillflow._native import Validator

        if mode not in MODES:
            raise config_error(f"mode: must be one of {', '.join(MODES)}, got {mode!r}")
        if missing_columns not in ("error", "null"):
            raise config_error(f"missing_columns: must be 'error' or 'null', got {missing_columns!r}")
        self.ruleset = ruleset
        self._lenient = missing_columns == "null"
        plan = ruleset._plan()
        self._checks = plan.checks
        self._exprs = plan.exprs
        self._has_schema = plan.has_schema
        self._tolerances = plan.tolerances
        self.needed_columns = plan.columns
        refs = {rule.name: _reference(rule, warehouse, references) for rule in ruleset.rules
                if rule.kind in ("relationships", "reconcile")}  # fmt: skip
        self._derived = plan.derived
        self._checks = _resolved(ruleset, self._checks, warehouse, references)
        when = now or dt.datetime.now(dt.timezone.utc)
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.timezone.utc)
        spec = {
            "checks": self._checks,
            "key": list(ruleset.key),
            "sample_size": ruleset.sample_size,
            "mode": mode,
            "missing_columns": missing_columns,
            "now_us": int((when - _EPOCH) / dt.timedelta(microseconds=1)),
        }
        self._native = Validator(json.dumps(spec), refs)

    @property
    def stopped(self) -> bool:
        """``fail_fast`` met a failing error check; later batches are ignored."""
        return self._native.stopped

    @property
    def rows(self) -> int:
        return self._native.rows

    def push(self, frame: pl.DataFrame, *, want_rows: bool = False, schema: pl.Schema | None = None) -> Any:
        """Check one batch; with ``want_rows``, return which rows broke which
        checks (``.mask(severity)``, ``.rules(severity)``). ``schema`` is the
        full data's, when ``frame`` holds only the checked columns.

        Parameters
        ----------
        frame
            The batch.
        want_rows
            Whether to return the failing rows.
        schema
            The full data's schema, for ``schema`` rules.

        Returns
        -------
        Any
            With ``want_rows``, the rows that broke checks; else nothing of use.

        Raises
        ------
        ConfigError
            If ``frame`` is not a DataFrame.
        RuleError
            If a checked column is missing (unless ``missing_columns="null"``),
            has a type its check cannot read, or an expression cannot be
            evaluated.
        """
        if not isinstance(frame, pl.DataFrame):
            raise ConfigError(f"validate: expected polars DataFrames, got {type(frame).__name__}")
        # At least one column, so the batch keeps its row count.
        present = [c for c in self.needed_columns if c in frame.columns] or frame.columns[:1]
        if not self._lenient:
            missing = [c for c in self.needed_columns if c not in frame.columns]
            if missing:
                reader = self._rule_reading(missing[0])
                have = ", ".join(repr(c) for c in frame.columns)
                raise RuleError(
                    f"rule {reader}: column: no column {missing[0]!r} in the data (columns: {have})"
                )
        exprs = [rule.expression().alias(mask) for mask, rule in self._exprs]
        exprs += [expr.alias(name) for name, expr in self._derived]
        try:
            cut = frame.select(*(pl.col(c) for c in present), *exprs) if exprs else frame.select(present)
        except pl.exceptions.PolarsError as exc:
            raise RuleError(_expression_error(self._exprs, frame, exc)) from None
        cut = _native_types(cut, self._checks)
        full = None
        if self._has_schema:
            full = [(name, str(dtype.base_type())) for name, dtype in (schema or frame.schema).items()]
        return self._native.push(cut, full, want_rows)

    def finish(self) -> Report:
        """The report over every batch pushed.

        Returns
        -------
        Report
            One result per check, with samples of failing rows.
        """
        rows = self._native.rows
        results, samples = self._native.finish()
        rs = self.ruleset
        return build_report(results, samples, rows, self._tolerances, rs.key, rs.sample_size)

    def _rule_reading(self, column: str) -> str:
        for check in self._checks:
            rule = check["rule"]
            cols = [rule.get("column"), rule.get("left"), rule.get("right"), *rule.get("columns", []),
                    *check.get("show", [])]  # fmt: skip
            if column in cols:
                return str(check["name"])
        return "key"


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def batches(data: Data) -> Iterator[pl.DataFrame]:
    if isinstance(data, pl.DataFrame):
        yield data
    elif isinstance(data, pl.LazyFrame):
        collect_batches = getattr(data, "collect_batches", None)
        if collect_batches is not None:
            yield from collect_batches()
        else:
            yield data.collect(engine="streaming")
    elif isinstance(data, Iterable) and not isinstance(data, (str, bytes, Mapping)):
        yield from data
    else:
        raise ConfigError(
            f"validate: expected a polars DataFrame, LazyFrame or an iterable of DataFrames, "
            f"got {type(data).__name__}"
        )


def _native_types(frame: pl.DataFrame, checks: list[dict[str, Any]]) -> pl.DataFrame:
    """Casts columns the engine does not read as they are: categoricals to
    text, small integers up; a nested column under ``not_null`` becomes a
    boolean column with the same nulls. Other checks on such a column are a
    ``RuleError``."""
    not_null_only: set[str] = set()
    judged: dict[str, dict[str, Any]] = {}
    for c in checks:
        rule = c["rule"]
        cols = [rule.get("column"), rule.get("left"), rule.get("right"), *rule.get("columns", [])]
        for col in cols:
            if not isinstance(col, str) or rule["kind"] == "schema":
                continue
            if rule["kind"] == "not_null":
                not_null_only.add(col)
            else:
                judged.setdefault(col, c)
    casts = []
    for name, dtype in frame.schema.items():
        if isinstance(dtype, pl.Decimal | pl.Datetime) or dtype in _NATIVE_TYPES:
            continue
        col = pl.col(name)
        if isinstance(dtype, pl.Categorical | pl.Enum):
            casts.append(col.cast(pl.String))
        elif dtype in (pl.Int8, pl.Int16, pl.UInt8, pl.UInt16):
            casts.append(col.cast(pl.Int32))
        elif name in judged:
            check = judged[name]
            raise RuleError(
                f"rule {check['name']}: column: {name!r} has type {dtype}, which {check['rule']['kind']} "
                f"cannot check"
            )
        elif name in not_null_only:
            casts.append(pl.when(col.is_null()).then(None).otherwise(True).alias(name))
        else:
            casts.append(col.cast(pl.String))  # a key column, shown in samples
    return frame.with_columns(casts) if casts else frame


def _expression_error(exprs: list[tuple[str, Rule]], frame: pl.DataFrame, exc: Exception) -> str:
    for _, rule in exprs:
        try:
            frame.head(0).select(rule.expression())
        except pl.exceptions.PolarsError as inner:
            return f"rule {rule.name}: expression: cannot evaluate it: {inner}"
    return f"rules: cannot select the checked columns: {exc}"


def _reference(
    rule: Rule, warehouse: Warehouse | None, references: Mapping[str, pl.DataFrame] | None
) -> pl.DataFrame:
    """What a relationships rule looks its keys up in (the reference's key
    columns; the engine's set keeps each key once), or a reconcile rule's
    totals per key."""
    to = rule.options["to"]
    if rule.kind == "reconcile":
        key = [rule.options["key"]] if isinstance(rule.options["key"], str) else list(rule.options["key"])
        to_key = rule.options.get("to_key") or key
        to_key = [to_key] if isinstance(to_key, str) else list(to_key)
        value = rule.options.get("to_column") or str(rule.target)
        frame = _table(rule, to, [*to_key, value], warehouse, references)
        if len(to_key) != len(key):
            raise RuleError(f"rule {rule.name}: to_key: give as many columns as key ({len(key)})")
        summed = pl.col(value).fill_nan(None) if frame.schema[value].is_float() else pl.col(value)
        return frame.group_by(to_key).agg(summed.sum())
    field = rule.options.get("field") or rule.target
    fields = [field] if isinstance(field, str) else list(field)
    if isinstance(to, pl.Series):
        return to.to_frame()
    label = to
    if isinstance(to, str) and "." in to:
        to, _, column = to.partition(".")
        fields = [column]
    return _table(rule, to, fields, warehouse, references, label)


def _table(
    rule: Rule,
    to: Any,
    columns: list[str],
    warehouse: Warehouse | None,
    references: Mapping[str, pl.DataFrame] | None,
    label: Any = None,
) -> pl.DataFrame:
    """``columns`` of a reference: a frame, or a table of ``references`` or the warehouse."""
    label = to if label is None else label
    if isinstance(to, str) and references is not None and to in references:
        to = references[to]
    if isinstance(to, (pl.DataFrame, pl.LazyFrame)):
        lf = to.lazy()
        have = lf.collect_schema().names()
        for c in columns:
            if c not in have:
                raise RuleError(f"rule {rule.name}: field: the reference frame has no column {c!r}")
        return lf.select(columns).collect()
    if warehouse is None:
        raise RuleError(
            f"rule {rule.name}: to: {label!r} names a warehouse table; "
            f"pass warehouse= (or references=) to validate"
        )
    from tillflow.warehouse.sql import quote_identifier

    cols = ", ".join(quote_identifier(c) for c in columns)
    try:
        return warehouse.query(f"SELECT {cols} FROM {quote_identifier(to)}")
    except Exception as exc:
        raise RuleError(f"rule {rule.name}: to: cannot read {label!r} from the warehouse: {exc}") from None


_AGGS = {"sum": pl.Expr.sum, "mean": pl.Expr.mean, "stddev": pl.Expr.std, "min": pl.Expr.min,
         "max": pl.Expr.max, "median": pl.Expr.median}  # fmt: skip


def _resolved(
    ruleset: RuleSet,
    checks: list[dict[str, Any]],
    warehouse: Warehouse | None,
    references: Mapping[str, pl.DataFrame] | None,
) -> list[dict[str, Any]]:
    """The checks, with what another table says filled in: its row count for
    ``row_count_matches``, its aggregate for ``aggregate_compare(to=...)``."""
    out = list(checks)
    value: Any
    for i, rule in enumerate(ruleset.rules):
        if rule.kind == "row_count_matches":
            to = rule.target
            if isinstance(to, str) and (references is None or to not in references):
                if warehouse is None:
                    raise RuleError(f"rule {rule.name}: to: {to!r} names a warehouse table; pass warehouse=")
                from tillflow.warehouse.sql import quote_identifier

                n = int(warehouse.query(f"SELECT count(*) AS n FROM {quote_identifier(to)}")["n"][0])
            else:
                frame = references[to] if isinstance(to, str) and references else to
                n = int(frame.lazy().select(pl.len()).collect().item())
            value = n
        elif rule.kind == "aggregate_compare" and rule.options.get("to") is not None:
            column = rule.options.get("to_column") or str(rule.target)
            series = (
                _table(rule, rule.options["to"], [column], warehouse, references).to_series().fill_nan(None)
            )
            agg = rule.options.get("other_agg") or rule.options.get("agg") or "sum"
            spec: dict[str, Any] = {"name": agg} if isinstance(agg, str) else dict(agg)
            if spec["name"] == "quantile":
                value = series.quantile(float(spec["q"]), interpolation="linear")
            else:
                value = series.to_frame().select(_AGGS[str(spec["name"])](pl.col(series.name))).item()
        else:
            continue
        copy = rule.with_options(_value=value)
        out[_index(out, rule.name)] = copy.checks(None, {id(copy): f"{WHEN_PREFIX}{i}"})[0]
    return out


def _index(checks: list[dict[str, Any]], name: str) -> int:
    return next(i for i, c in enumerate(checks) if c["name"] == name)
