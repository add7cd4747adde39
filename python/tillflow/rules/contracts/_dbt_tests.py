"""The generic tests tillflow reads from a ``schema.yml``: for each, the
arguments it takes, where it sits (a column, the model, either), what its
failure count counts, and the rule it becomes. The counts matter because
``error_if``/``warn_if`` compare against them: ``rows`` counts as the
rule's tolerance does (failing rows, or repeated keys for ``unique``),
``values`` counts distinct values (no tolerance counts so), ``once`` is 0
or 1 and ``difference`` the rows between two tables' counts."""

from __future__ import annotations

import dataclasses
import decimal
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tillflow.rules.contracts._common import Key, fraction_of, invalid, non_null_when, quote, unsupported
from tillflow.rules.contracts._dbt_terms import BLANK, FMT, UNITS, is_template, relation

_NUMBER = re.compile(r"^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$")
_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LITERAL = re.compile(r"^\s*'((?:[^']|'')*)'\s*$")

Parts = tuple[str, Any, dict[str, Any]]  # a rule's kind, target and options


class Args:
    """A test's arguments with where each is written, for its errors."""

    def __init__(self, test: str, values: Mapping[str, Any], at: Mapping[str, Sequence[Key]]) -> None:
        self.test, self.values, self._at = test, dict(values), dict(at)

    def at(self, key: str) -> list[Key]:
        return list(self._at[key])

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def text(self, key: str) -> str:
        value = self.values.get(key)
        if not isinstance(value, str) or not value.strip():
            raise invalid(FMT, self.at(key), f"{key}: expected text, got {value!r}")
        if is_template(value):
            raise unsupported(FMT, self.at(key), f"{key} {value!r}", "Jinja is rendered only by dbt")
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.values.get(key, default)
        if not isinstance(value, bool):
            raise invalid(FMT, self.at(key), f"{key}: expected true or false, got {value!r}")
        return value

    def no_groups(self) -> None:
        if self.values.get("group_by_columns"):
            raise unsupported(
                FMT, self.at("group_by_columns"), f"{self.test} group_by_columns",
                "a group with no rows at all fails it, which tillflow's by= cannot see",
            )  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Spec:
    """One generic test: its arguments (``required`` among them), where it
    sits, what its failure count counts, and the rule it becomes."""

    args: tuple[str, ...]
    required: tuple[str, ...]
    scope: str  # "column", "model" or "either"
    counts: str  # "rows", "values", "once" or "difference"
    build: Callable[[str | None, Args], Parts]


def _number(text: str) -> int | decimal.Decimal:
    value = decimal.Decimal(text.strip())
    return (
        int(value) if value == value.to_integral_value() and re.fullmatch(r"\s*[-+]?\d+\s*", text) else value
    )


def _values(a: Args) -> list[Any]:
    values, quoted = a.get("values"), a.flag("quote", True)
    if not isinstance(values, list) or not values:
        raise invalid(FMT, a.at("values"), f"values: expected a list of values, got {values!r}")
    out: list[Any] = []
    for i, v in enumerate(values):
        at = [*a.at("values"), i]
        if isinstance(v, (bool, int, str)) or (isinstance(v, float) and v == v):
            if quoted or not isinstance(v, str):
                out.append(v)  # dbt quotes it; the warehouse reads the text as the column's type
                continue
            if _NUMBER.match(v):
                out.append(_number(v))
                continue
            raise unsupported(
                FMT, at, f"value {v!r}", "with quote: false a value is SQL; tillflow reads numbers"
            )
        raise invalid(FMT, at, f"values: expected text, numbers or booleans, got {v!r}")
    return out


def _bound(a: Args, key: str) -> Any:
    v = a.get(key)
    if v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)):
        return v
    if isinstance(v, str) and _NUMBER.match(v):
        return _number(v)
    m = _LITERAL.match(v) if isinstance(v, str) else None
    if m:
        return m.group(1).replace("''", "'")
    raise unsupported(
        FMT, a.at(key), f"{key} {v!r}",
        "dbt writes it into SQL as it is; tillflow reads a number or a quoted literal ('2024-01-01')",
    )  # fmt: skip


def _target(a: Args, key: str) -> tuple[str, str | None]:
    found = relation(a.get(key))
    if found is None:
        raise unsupported(
            FMT,
            a.at(key),
            f"{key} {a.get(key)!r}",
            "tillflow reads a model as ref('name') or source('s', 't')",
        )
    return found


def _field(a: Args, key: str = "field") -> str:
    field = a.text(key)
    if "." in field:
        raise unsupported(FMT, a.at(key), f"{key} {field!r}", "a reference column with a dot in its name")
    return field


def _relationships(column: str | None, a: Args) -> Parts:
    model, table = _target(a, "to")
    if table is not None:
        raise unsupported(
            FMT, a.at("to"), f"to {a.get('to')!r}",
            "a relationships rule names its reference as 'table.column', and a source's table has a dot",
        )  # fmt: skip
    return "relationships", column, {"to": f"{model}.{_field(a)}"}


def _relationships_where(column: str | None, a: Args) -> Parts:
    kind, target, options = _relationships(column, a)
    to_condition = a.get("to_condition", "1=1")
    if not (isinstance(to_condition, str) and re.sub(r"\s", "", to_condition) == "1=1"):
        raise unsupported(
            FMT,
            a.at("to_condition"),
            "relationships_where to_condition",
            "tillflow cannot filter the reference",
        )
    if "from_condition" in a.values and re.sub(r"\s", "", a.text("from_condition")) != "1=1":
        options["when"] = a.text("from_condition")
    return kind, target, options


def _accepted_range(column: str | None, a: Args) -> Parts:
    low, high = _bound(a, "min_value"), _bound(a, "max_value")
    if low is None and high is None:
        raise invalid(
            FMT, a.at("min_value") if "min_value" in a.values else [], "give min_value or max_value"
        )
    inclusive = a.flag("inclusive", True)
    opts: dict[str, Any] = {"min": low, "max": high}
    if not inclusive:
        opts.update({"min_inclusive": False if low is not None else None,
                     "max_inclusive": False if high is not None else None})  # fmt: skip
    return "between", column, opts


def _combination(column: str | None, a: Args) -> Parts:
    cols = a.get("combination_of_columns")
    if not isinstance(cols, list) or not cols or not all(isinstance(c, str) and c for c in cols):
        raise invalid(FMT, a.at("combination_of_columns"), f"expected a list of column names, got {cols!r}")
    if not a.flag("quote_columns", False):
        for c in cols:
            if not _PLAIN.match(c):
                raise unsupported(
                    FMT, a.at("combination_of_columns"), f"column {c!r}",
                    "unquoted (quote_columns: false) it is SQL, not a column name",
                )  # fmt: skip
    return "unique", cols[0] if len(cols) == 1 else list(cols), {"count": "keys", "nulls": "equal"}


def _expression(column: str | None, a: Args) -> Parts:
    text = a.text("expression")
    if column is None:
        return "expression", text, {}
    return "expression", f"{quote(column)} {text}", {"columns": [column]}


def _not_empty(column: str | None, a: Args) -> Parts:
    if a.flag("trim_whitespace", True):
        return "not_matches", column, {"pattern": BLANK}
    return "length_between", column, {"min": 1}


def _at_least_one(column: str | None, a: Args) -> Parts:
    a.no_groups()
    return "row_count", {"min": 1}, {"when": non_null_when(str(column))}


def _recency(column: str | None, a: Args) -> Parts:
    a.no_groups()
    field = a.text("field")
    if not _PLAIN.match(field):
        raise unsupported(FMT, a.at("field"), f"field {field!r}", "an SQL expression, not a column")
    part, interval = a.get("datepart"), a.get("interval")
    if not isinstance(part, str) or part.lower() not in UNITS:
        raise unsupported(
            FMT, a.at("datepart"), f"datepart {part!r}", "months and years have no fixed length; "
            f"tillflow's max_age is one of {', '.join(UNITS)}",
        )  # fmt: skip
    if isinstance(interval, bool) or not isinstance(interval, int) or interval < 0:
        raise invalid(FMT, a.at("interval"), f"interval: expected a whole number, got {interval!r}")
    if a.flag("ignore_time_component", False):
        raise unsupported(
            FMT, a.at("ignore_time_component"), "recency ignore_time_component", "it compares dates"
        )
    return "freshness", field, {"max_age": f"{interval}{UNITS[part.lower()]}"}


def _equal_rowcount(column: str | None, a: Args) -> Parts:
    a.no_groups()
    model, table = _target(a, "compare_model")
    return "row_count_matches", model if table is None else f"{model}.{table}", {}


def _proportion(column: str | None, a: Args) -> Parts:
    a.no_groups()
    at_most = a.get("at_most", 1)
    if at_most != 1:
        raise unsupported(FMT, a.at("at_most"), "not_null_proportion at_most", "a most share of values")
    least = a.get("at_least")
    if isinstance(least, bool) or not isinstance(least, (int, float)) or not 0 <= least <= 1:
        raise invalid(FMT, a.at("at_least"), f"at_least: expected a number from 0 to 1, got {least!r}")
    return "not_null", column, {"tolerance": fraction_of(least, FMT, a.at("at_least"))}


SPECS: dict[str, Spec] = {
    "not_null": Spec((), (), "column", "rows", lambda c, a: ("not_null", c, {})),
    "unique": Spec((), (), "column", "rows", lambda c, a: ("unique", c, {"count": "keys"})),
    "accepted_values": Spec(
        ("values", "quote"),
        ("values",),
        "column",
        "values",
        lambda c, a: ("is_in", c, {"values": _values(a)}),
    ),
    "relationships": Spec(("to", "field"), ("to", "field"), "column", "rows", _relationships),
    "dbt_utils.accepted_range": Spec(
        ("min_value", "max_value", "inclusive"), (), "column", "rows", _accepted_range
    ),
    "dbt_utils.not_accepted_values": Spec(
        ("values", "quote"),
        ("values",),
        "column",
        "values",
        lambda c, a: ("not_in", c, {"values": _values(a)}),
    ),
    "dbt_utils.unique_combination_of_columns": Spec(
        ("combination_of_columns", "quote_columns"),
        ("combination_of_columns",),
        "model",
        "rows",
        _combination,
    ),
    "dbt_utils.expression_is_true": Spec(("expression",), ("expression",), "either", "rows", _expression),
    "dbt_utils.not_empty_string": Spec(("trim_whitespace",), (), "column", "rows", _not_empty),
    "dbt_utils.at_least_one": Spec(("group_by_columns",), (), "column", "once", _at_least_one),
    "dbt_utils.recency": Spec(
        ("field", "datepart", "interval", "ignore_time_component", "group_by_columns"),
        ("field", "datepart", "interval"),
        "model",
        "once",
        _recency,
    ),
    "dbt_utils.equal_rowcount": Spec(
        ("compare_model", "group_by_columns"), ("compare_model",), "model", "difference", _equal_rowcount
    ),
    "dbt_utils.not_null_proportion": Spec(
        ("at_least", "at_most", "group_by_columns"), ("at_least",), "column", "once", _proportion
    ),
    "dbt_utils.relationships_where": Spec(
        ("to", "field", "from_condition", "to_condition"),
        ("to", "field"),
        "column",
        "rows",
        _relationships_where,
    ),
}

# Tests tillflow knows but cannot check the same way, and why.
NOT_EXACT = {
    "dbt_utils.sequential_values": "it fails every row that is not the previous value plus the interval "
    "(repeated values too); tillflow's no_sequence_gaps and no_gaps count the missing values",
    "dbt_utils.not_constant": "it passes a column without values, which tillflow's distinct_count fails",
    "dbt_utils.equality": "tillflow does not compare two tables row by row",
    "dbt_utils.fewer_rows_than": "tillflow compares row counts only as equal within a fraction",
    "dbt_utils.cardinality_equality": "tillflow does not compare the counts of each value across two tables",
    "dbt_utils.mutually_exclusive_ranges": "tillflow does not compare ranges across rows",
}
