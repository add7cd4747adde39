"""The catalog's kinds beyond the first eleven: for each, what it applies to,
the options it takes, and the engine's form it becomes.

A kind here is checked like every other (its arguments by the engine, when
the rule is made); its constructor lives with its family (``_texts``,
``_formats``, ``_codes``, ``_crosses``, ``_measures``, ``_aggregates``,
``_sequences``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from tillflow.exceptions import RuleError
from tillflow.rules._values import bound_text, json_value, parse_duration, signed_duration

if TYPE_CHECKING:
    from tillflow.rules._rule import Rule

__all__ = ["CATALOG", "WEEKDAYS", "Kind", "by_items", "by_names"]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclasses.dataclass(frozen=True)
class Kind:
    """One kind of check: ``shape`` is what its target is (``"column"``,
    ``"columns"`` for one or more, ``"pair"`` for two, ``"none"``). Whether
    it judges rows or the whole data (and so takes ``by=``) is the engine's
    to say, from the form it becomes."""

    name: str
    shape: str
    options: tuple[str, ...]
    engine: Callable[[Any], dict[str, Any]]  # Rule -> the engine's form
    required: tuple[str, ...] = ()


def _fmt(name: str, *args: str) -> Callable[[Rule], dict[str, Any]]:
    def build(r: Rule) -> dict[str, Any]:
        fmt: dict[str, Any] = {"name": name}
        for a in args:
            if r.options.get(a) is not None:
                fmt[a] = r.options[a]
        return {"kind": "format", "column": r.target, "format": fmt}

    return build


def _text(name: str, *args: str) -> Callable[[Rule], dict[str, Any]]:
    def build(r: Rule) -> dict[str, Any]:
        test: dict[str, Any] = {"name": name}
        for a in args:
            if r.options.get(a) is not None:
                test["type" if a == "type" else a] = r.options[a]
        return {"kind": "text", "column": r.target, "test": test}

    return build


def _cols(r: Rule) -> list[str]:
    return [r.target] if isinstance(r.target, str) else list(r.target)


def _bounds(r: Rule) -> dict[str, Any]:
    o = r.options
    return {
        "min": bound_text(r.name, "min", o.get("min")),
        "max": bound_text(r.name, "max", o.get("max")),
        "min_inclusive": o.get("min_inclusive", True),
        "max_inclusive": o.get("max_inclusive", True),
    }


def _agg(name: str) -> Callable[[Rule], dict[str, Any]]:
    def build(r: Rule) -> dict[str, Any]:
        agg: dict[str, Any] = {"name": name}
        if name == "quantile":
            agg["q"] = r.options.get("q")
        return {"kind": "aggregate", "column": r.target, "agg": agg, **_bounds(r)}

    return build


def _agg_named(r: Rule, key: str) -> dict[str, Any] | None:
    value = r.options.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        return {"name": value}
    if isinstance(value, Mapping):
        return dict(value)
    raise RuleError(f"rule {r.name}: {key}: expected an aggregate such as 'sum', got {value!r}")


def _aggregate_compare(r: Rule) -> dict[str, Any]:
    o = r.options
    agg = _agg_named(r, "agg") or {"name": "sum"}
    cmp: dict[str, Any] = {"op": o.get("op", "==")}
    if o.get("to") is not None:
        # Another table's aggregate: resolved when the rule set is applied.
        cmp["agg"] = agg
        value = o.get("_value", 0)
        cmp["value"] = "NaN" if value is None else str(value)
    else:
        cmp["column"] = o.get("other", r.target)
        other = _agg_named(r, "other_agg")
        if other is not None:
            cmp["agg"] = other
    cmp["within"] = float(o.get("within") or 0)
    return {"kind": "aggregate", "column": r.target, "agg": agg, "compare": cmp}


def _seconds(r: Rule, key: str, signed: bool = False) -> float | None:
    value = r.options.get(key)
    if value is None:
        return None
    return signed_duration(r.name, value, key) if signed else parse_duration(r.name, value, key)


def _weekdays(r: Rule, default: tuple[int, ...]) -> list[int]:
    given = r.options.get("weekdays")
    if given is None:
        return list(default)
    out = []
    for d in [given] if isinstance(given, (str, int)) else given:
        if isinstance(d, str) and d.strip().lower()[:3] in WEEKDAYS:
            out.append(WEEKDAYS.index(d.strip().lower()[:3]))
        elif isinstance(d, int) and not isinstance(d, bool):
            out.append(d)
        else:
            raise RuleError(f"rule {r.name}: weekdays: expected day names such as 'mon', got {d!r}")
    return out


def _gaps(r: Rule, every: float | None, default: tuple[int, ...]) -> dict[str, Any]:
    return {
        "kind": "time_gaps",
        "column": r.target,
        "every_seconds": every,
        "weekdays": _weekdays(r, default),
        "holidays": [bound_text(r.name, "holidays", h) for h in r.options.get("holidays") or []],
    }


def _row_count_matches(r: Rule) -> dict[str, Any]:
    # The other table's count is taken when the rule set is applied (0 until then).
    return {
        "kind": "row_count_matches",
        "other": int(r.options.get("_value") or 0),
        "within": float(r.options.get("within") or 0),
        "table": r.target if isinstance(r.target, str) else None,
    }


_ALL_DAYS = (0, 1, 2, 3, 4, 5, 6)
_WORKDAYS = (0, 1, 2, 3, 4)

_KINDS = [
    # values
    Kind("is_null", "column", (), lambda r: {"kind": "is_null", "column": r.target}),
    Kind(
        "not_in",
        "column",
        ("values",),
        lambda r: {
            "kind": "is_in",
            "column": r.target,
            "negate": True,
            "values": [json_value(v, r.name) for v in r.options["values"]],
        },
        required=("values",),
    ),
    Kind("is_finite", "column", (), lambda r: {"kind": "finite", "column": r.target}),
    Kind(
        "decimal_places",
        "column",
        ("max",),
        lambda r: {"kind": "decimal_places", "column": r.target, "max": r.options["max"]},
        required=("max",),
    ),
    # text
    Kind(
        "not_matches",
        "column",
        ("pattern",),
        lambda r: {"kind": "matches", "column": r.target, "pattern": r.options["pattern"], "negate": True},
        required=("pattern",),
    ),
    Kind("not_empty", "column", (), _text("not_empty")),
    Kind("trimmed", "column", (), _text("trimmed")),
    Kind("length_between", "column", ("min", "max"), _text("length", "min", "max")),
    Kind("starts_with", "column", ("text",), _text("starts_with", "text"), required=("text",)),
    Kind("ends_with", "column", ("text",), _text("ends_with", "text"), required=("text",)),
    Kind("contains", "column", ("text",), _text("contains", "text"), required=("text",)),
    Kind("parses_as", "column", ("type", "format"), _text("parses_as", "type", "format"), required=("type",)),
    # formats
    Kind("is_email", "column", (), _fmt("email")),
    Kind("is_url", "column", ("schemes",), _fmt("url", "schemes")),
    Kind("is_uuid", "column", ("version",), _fmt("uuid", "version")),
    Kind("is_ipv4", "column", (), _fmt("ipv4")),
    Kind("is_ipv6", "column", (), _fmt("ipv6")),
    Kind("is_ip", "column", (), _fmt("ip")),
    Kind("is_ip_in_network", "column", ("networks",), _fmt("ip_network", "networks"), required=("networks",)),
    Kind("is_e164", "column", (), _fmt("e164")),
    Kind("is_currency_code", "column", (), _fmt("currency")),
    Kind("is_country_code", "column", ("alpha",), _fmt("country", "alpha")),
    Kind("is_language_code", "column", ("part",), _fmt("language", "part")),
    Kind("is_iban", "column", (), _fmt("iban")),
    Kind("is_card_number", "column", (), _fmt("card_number")),
    Kind("is_postal_code", "column", ("country",), _fmt("postal_code", "country"), required=("country",)),
    Kind("is_json", "column", (), _fmt("json")),
    Kind("matches_json_schema", "column", ("schema",), _fmt("json_schema", "schema"), required=("schema",)),
    # dates
    Kind(
        "not_in_future",
        "column",
        ("slack",),
        lambda r: {"kind": "not_in_future", "column": r.target, "slack_seconds": _seconds(r, "slack") or 0.0},
    ),
    Kind(
        "not_older_than",
        "column",
        ("max_age",),
        lambda r: {"kind": "not_older_than", "column": r.target, "max_age_seconds": _seconds(r, "max_age")},
        required=("max_age",),
    ),
    Kind(
        "within",
        "pair",
        ("min", "max"),
        lambda r: {
            "kind": "within",
            "left": r.target[0],
            "right": r.target[1],
            "min_seconds": _seconds(r, "min", True),
            "max_seconds": _seconds(r, "max", True),
        },
    ),
    # across columns
    Kind(
        "sum_equals",
        "column",
        ("columns", "within"),
        lambda r: {
            "kind": "sum_equals",
            "columns": list(r.options["columns"]),
            "total": r.target,
            "within": float(r.options.get("within") or 0),
        },
        required=("columns",),
    ),
    Kind("distinct_across", "columns", (), lambda r: {"kind": "distinct_across", "columns": _cols(r)}),
    Kind("complete", "columns", (), lambda r: {"kind": "complete", "columns": _cols(r)}),
    Kind("any_present", "columns", (), lambda r: {"kind": "any_present", "columns": _cols(r)}),
    Kind(
        "reconcile",
        "column",
        ("to", "key", "to_key", "to_column", "within"),
        lambda r: {
            "kind": "reconcile",
            "key": by_names(r.options["key"]),
            "column": r.target,
            "reference": r.name,
            "within": float(r.options.get("within") or 0),
        },
        required=("to", "key"),
    ),
    # sequences and outliers
    Kind(
        "increasing",
        "column",
        ("strict",),
        lambda r: {"kind": "monotonic", "column": r.target, "strict": bool(r.options.get("strict", False))},
    ),
    Kind(
        "decreasing",
        "column",
        ("strict",),
        lambda r: {
            "kind": "monotonic",
            "column": r.target,
            "decreasing": True,
            "strict": bool(r.options.get("strict", False)),
        },
    ),
    Kind(
        "no_outliers",
        "column",
        ("method", "threshold"),
        lambda r: {
            "kind": "outliers",
            "column": r.target,
            "method": r.options.get("method", "iqr"),
            "threshold": r.options.get(
                "threshold", 3.0 if r.options.get("method") in ("zscore", "mad") else 1.5
            ),
        },
    ),
    Kind(
        "no_sequence_gaps",
        "column",
        ("step",),
        lambda r: {"kind": "sequence_gaps", "column": r.target, "step": r.options.get("step", 1)},
    ),
    Kind(
        "no_gaps",
        "column",
        ("every", "weekdays", "holidays"),
        lambda r: _gaps(r, _seconds(r, "every"), _ALL_DAYS),
        required=("every",),
    ),
    Kind("is_daily", "column", ("weekdays", "holidays"), lambda r: _gaps(r, 86400.0, _WORKDAYS)),
    # cardinality and aggregates
    Kind(
        "distinct_count",
        "columns",
        ("min", "max"),
        lambda r: {
            "kind": "distinct_count",
            "columns": _cols(r),
            "min": r.options.get("min"),
            "max": r.options.get("max"),
        },
    ),
    Kind(
        "distinct_ratio",
        "columns",
        ("min", "max"),
        lambda r: {
            "kind": "distinct_ratio",
            "columns": _cols(r),
            "min": r.options.get("min"),
            "max": r.options.get("max"),
        },
    ),
    Kind(
        "contains_values",
        "column",
        ("values",),
        lambda r: {
            "kind": "contains_values",
            "column": r.target,
            "values": [json_value(v, r.name) for v in r.options["values"]],
        },
        required=("values",),
    ),
    *(
        Kind(f"{a}_between", "column", ("min", "max", "min_inclusive", "max_inclusive"), _agg(a))
        for a in ("sum", "mean", "stddev", "min", "max", "median")
    ),
    Kind(
        "quantile_between",
        "column",
        ("q", "min", "max", "min_inclusive", "max_inclusive"),
        _agg("quantile"),
        required=("q",),
    ),
    Kind(
        "aggregate_compare",
        "column",
        ("agg", "op", "other", "other_agg", "to", "to_column", "within"),
        _aggregate_compare,
    ),
    Kind("row_count_matches", "none", ("within",), _row_count_matches),
]
CATALOG: dict[str, Kind] = {k.name: k for k in _KINDS}


def by_items(by: Any) -> list[Any]:
    """``by`` as a list of column names and buckets."""
    return [by] if isinstance(by, (str, Mapping)) else list(by or [])


def by_names(by: Any) -> list[str]:
    """The engine's group columns for ``by``: column names as they are, and
    a time bucket ``{"column": c, "every": "1d"}`` as the column ``c@1d``
    computed before the engine sees the batch."""
    out = []
    for item in by_items(by):
        if isinstance(item, Mapping):
            out.append(f"{item['column']}@{item['every']}")
        else:
            out.append(item)
    return out
