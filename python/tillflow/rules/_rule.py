"""Rules as analysts write them, and their two other forms: the mapping of a
rules file, and the canonical checks the native engine runs.

A rule remembers exactly what it was given (and in which order), so a rules
file read into Python and written back is the same file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import polars as pl

from tillflow.exceptions import RuleError
from tillflow.rules._catalog import CATALOG, by_names
from tillflow.rules._values import (
    bound_text,
    expr_roots,
    json_value,
    parse_duration,
    schema_type,
    to_plain,
    tolerance_spec,
)

__all__ = ["KINDS", "Rule"]

KINDS = (
    "not_null",
    "unique",
    "between",
    "matches",
    "is_in",
    "relationships",
    "compare",
    "expression",
    "row_count",
    "freshness",
    "schema",
    *CATALOG,
)
# The options each kind takes, besides the common name/severity/tolerance.
_OPTIONS: dict[str, tuple[str, ...]] = {
    "not_null": (),
    "unique": ("count", "nulls"),
    "between": ("min", "max", "min_inclusive", "max_inclusive"),
    "matches": ("pattern",),
    "is_in": ("values",),
    "relationships": ("to", "field"),
    "compare": (),
    "expression": ("columns",),
    "row_count": (),
    "freshness": ("max_age",),
    "schema": ("strict",),
    **{k.name: k.options for k in CATALOG.values()},
}
_COMMON = ("name", "severity", "tolerance", "when", "by")
_OPS = {"<": "lt", "<=": "le", ">": "gt", ">=": "ge", "==": "eq", "!=": "ne"}


class Rule:
    """One rule: a kind, what it applies to, and its options.

    Build rules with the functions of `tillflow.rules` (``not_null``,
    ``between``, ...) or read them from a file with [Rule.from_dict][tillflow.rules.Rule.from_dict].

    Every rule takes these options (each constructor documents only what it
    adds, such as its default name):

    - ``name``: the check's name in reports and in ``_tf_failed_rules``. By
      default it is derived from the kind and the columns (``unique_id``,
      ``between_total_price``); ``row_count`` and ``schema`` are named after
      their kind.
    - ``severity``: ``"error"`` (the default: a failure fails the report,
      and in a pipeline the failing rows go to quarantine) or ``"warn"``
      (reported only).
    - ``tolerance``: how many failing rows still pass: a count (``5``), a
      fraction below 1 (``0.01``) or a percentage (``"1%"``), inclusive. A
      fraction is a share of the rows the check applies to: every row, or
      with ``when=``, the rows it admits (so ``when="email IS NOT NULL"``
      and ``"5%"`` allow 5% of the non-null emails, as GX's ``mostly``). By
      default none. Row checks only: ``row_count``, ``freshness`` and
      ``schema`` judge the whole dataset and take no tolerance.

    Parameters
    ----------
    kind
        One of `KINDS`: ``not_null``, ``unique``,
        ``between``, ``matches``, ``is_in``, ``relationships``, ``compare``,
        ``expression``, ``row_count``, ``freshness`` or ``schema``.
    target
        What the rule applies to, in its kind's form: a column name (or a
        list of them for ``not_null`` and ``unique``), ``[left, op, right]``
        for ``compare``, the predicate for ``expression``, ``{min, max}`` for
        ``row_count``, ``{column: type}`` for ``schema``.
    options
        The kind's options and the common ``name``, ``severity`` and
        ``tolerance``; options set to ``None`` are dropped.

    Raises
    ------
    RuleError
        If ``kind`` is unknown, or the target or an option does not suit it.
    """

    __slots__ = ("_order", "kind", "options", "target")

    def __init__(self, kind: str, target: Any, options: Mapping[str, Any] | None = None) -> None:
        if kind not in KINDS:
            raise RuleError(f"rule {kind}: kind: unknown rule kind; use one of {', '.join(KINDS)}")
        self.kind = kind
        self.target = target
        self.options = {k: v for k, v in (options or {}).items() if v is not None}
        self._order: tuple[str, ...] | None = None
        self._check()

    # -- what it is

    @property
    def name(self) -> str:
        """The rule's name: given, or derived from its kind and columns."""
        given = self.options.get("name")
        return str(given) if given is not None else self._default_name()

    @property
    def severity(self) -> str:
        return str(self.options.get("severity", "error"))

    @property
    def tolerance(self) -> int | float | str | None:
        value = self.options.get("tolerance")
        return value if value is None or isinstance(value, (int, float, str)) else None

    @property
    def columns(self) -> list[str]:
        """The columns the rule reads (for an expression given as a Polars
        expression or SQL: the columns it refers to)."""
        t = self.target
        kind = CATALOG.get(self.kind)
        if kind is not None:
            cols = [] if kind.shape == "none" else [t] if isinstance(t, str) else list(t)
            for key in ("columns", "key", "other"):
                extra = self.options.get(key)
                if extra is not None:
                    cols += [extra] if isinstance(extra, str) else list(extra)
            return list(dict.fromkeys(cols))
        if self.kind in ("not_null", "unique", "relationships"):
            return [t] if isinstance(t, str) else list(t)
        if self.kind == "compare":
            return [t[0], t[2]]
        if self.kind == "schema":
            return list(t)
        if self.kind == "row_count":
            return []
        if self.kind == "expression":
            given = self.options.get("columns")
            return list(given) if given else expr_roots(self._expr())
        return [t]

    def with_options(self, **options: Any) -> Rule:
        """A copy with options changed (``None`` removes one).

        Parameters
        ----------
        **options
            Options to set, as the constructors take them (``severity="warn"``,
            ``tolerance="1%"``, ``name=...``).

        Returns
        -------
        Rule
            A new rule; this one is unchanged.

        Raises
        ------
        RuleError
            If the changed options do not suit the rule's kind.
        """
        merged = {**self.options, **options}
        out = Rule(self.kind, self.target, {k: v for k, v in merged.items() if v is not None})
        out._order = self._order
        return out

    # -- the file form

    @classmethod
    def from_dict(cls, entry: Mapping[str, Any]) -> Rule:
        """A rule from its file form: ``{kind: target, option: value, ...}``.

        Parameters
        ----------
        entry
            One entry of a rules file, naming exactly one kind, e.g.
            ``{"between": "total_price", "min": 0, "severity": "warn"}``.
            An option named like a kind (``within``, ``schema``) is read as
            the option when exactly one kind of the entry takes it:
            ``{"sum_equals": "total", "columns": ["a", "b"], "within": 0.01}``.

        Returns
        -------
        Rule
            The rule, remembering the order of the entry's keys.

        Raises
        ------
        RuleError
            If ``entry`` is not a mapping, names no kind or several (that
            are not one kind and its options), has an option its kind does
            not take, or is otherwise invalid.
        """
        if not isinstance(entry, Mapping):
            raise RuleError(f"rule {entry!r}: must be a mapping such as {{not_null: id}}")
        kinds = [k for k in entry if k in KINDS]
        if len(kinds) > 1:
            # Some options are named like kinds (sum_equals' `within`, matches_json_schema's
            # `schema`): the entry is the one kind found that takes every other one as an option.
            fits = [k for k in kinds if all(o == k or o in _OPTIONS[k] for o in kinds)]
            if len(fits) == 1:
                kinds = fits
        if len(kinds) != 1:
            what = "no rule kind" if not kinds else f"several kinds ({', '.join(kinds)})"
            raise RuleError(
                f"rule {dict(entry)!r}: kind: {what}; each entry names exactly one of {', '.join(KINDS)}"
            )
        kind = kinds[0]
        target = entry[kind]
        if kind == "row_count":
            if target is None:
                target = {}
            if not isinstance(target, Mapping):
                raise RuleError(
                    f"rule row_count: row_count: expected a mapping like {{min: 1}}, got {target!r}"
                )
        options = {k: v for k, v in entry.items() if k != kind}
        allowed = set(_OPTIONS[kind]) | set(_COMMON)
        for key in options:
            if key not in allowed:
                name = entry.get("name", kind)
                raise RuleError(
                    f"rule {name}: {key}: unknown option for {kind}; it takes {', '.join(sorted(allowed))}"
                )
        rule = cls(kind, target, options)
        rule._order = tuple(entry)
        return rule

    def to_dict(self) -> dict[str, Any]:
        """The file form; what [from_dict][tillflow.rules.Rule.from_dict] read comes back unchanged.

        Returns
        -------
        dict[str, Any]
            ``{kind: target, option: value, ...}``; tuples become lists,
            durations text and decimals strings.

        Raises
        ------
        RuleError
            If the rule holds what a file cannot: a Polars expression, or a
            frame or Series as a ``relationships`` reference.
        """
        if self.kind == "expression" and isinstance(self.target, pl.Expr):
            raise RuleError(
                f"rule {self.name}: expression: a Polars expression cannot be written to a file; "
                f"give the predicate as SQL text"
            )
        to = self.options.get("to")
        if isinstance(self.options.get("when"), pl.Expr):
            raise RuleError(
                f"rule {self.name}: when: a Polars expression cannot be written to a file; "
                f"give it as SQL text"
            )
        if self.kind in ("relationships", "reconcile", "row_count_matches", "aggregate_compare") and not (
            to is None or isinstance(to, str)
        ):
            raise RuleError(
                f"rule {self.name}: to: a frame cannot be written to a file; give the warehouse "
                f"table as 'table.column'"
            )
        out: dict[str, Any] = {self.kind: to_plain(self.target)}
        for key, value in self.options.items():
            if not key.startswith("_"):
                out[key] = to_plain(value)
        if self._order is not None:
            rank = {k: i for i, k in enumerate(self._order)}
            out = dict(sorted(out.items(), key=lambda kv: rank.get(kv[0], len(rank))))
        return out

    # -- the native form

    def checks(
        self, mask_of: Mapping[int, str] | None = None, when_of: Mapping[int, str] | None = None
    ) -> list[dict[str, Any]]:
        """The canonical checks for the native engine. ``mask_of`` maps this
        rule's expression to the boolean column computed for it; ``when_of``
        its ``when=`` condition.

        Parameters
        ----------
        mask_of
            For an ``expression`` rule: ``{id(rule): column}``, the boolean
            column computed for the predicate. Other kinds ignore it.
        when_of
            For a rule with ``when=``: ``{id(rule): column}``, the boolean
            column computed for the condition.

        Returns
        -------
        list[dict[str, Any]]
            One check per column for a several-column ``not_null``, else
            one: ``{"name", "severity", "tolerance", "rule"}``.

        Raises
        ------
        RuleError
            If an option cannot be put in the engine's form, or an
            ``expression`` rule is not in ``mask_of``.
        """
        common: dict[str, Any] = {"severity": self.severity}
        tol = tolerance_spec(self.name, self.options.get("tolerance"))
        if tol is not None:
            common["tolerance"] = tol
        k, t, o = self.kind, self.target, self.options
        if "when" in o:
            when = (when_of or {}).get(id(self))
            if when is None:
                raise RuleError(f"rule {self.name}: when: was not evaluated")  # a bug, not user error
            common["when"] = when
        if "by" in o:
            common["by"] = by_names(o["by"])
        kind = CATALOG.get(k)
        if kind is not None:
            return [{"name": self.name, **common, "label": k, "rule": kind.engine(self)}]
        if k == "not_null":
            cols = self.columns
            custom = o.get("name")
            out = []
            for c in cols:
                if custom is None:
                    name = f"not_null_{c}"
                else:
                    name = str(custom) if len(cols) == 1 else f"{custom}[{c}]"
                out.append({"name": name, **common, "rule": {"kind": k, "column": c}})
            return out
        rule: dict[str, Any]
        if k == "unique":
            rule = {"columns": self.columns, "count": o.get("count", "keys"),
                    "nulls_equal": o.get("nulls", "distinct") == "equal"}  # fmt: skip
        elif k == "between":
            rule = {"column": t, "min": bound_text(self.name, "min", o.get("min")),
                    "max": bound_text(self.name, "max", o.get("max")),
                    "min_inclusive": o.get("min_inclusive", True),
                    "max_inclusive": o.get("max_inclusive", True)}  # fmt: skip
        elif k == "matches":
            rule = {"column": t, "pattern": o["pattern"]}
        elif k == "is_in":
            rule = {"column": t, "values": [json_value(v) for v in o["values"]]}
        elif k == "relationships":
            rule = {"columns": self.columns, "reference": self.name}
        elif k == "compare":
            rule = {"left": t[0], "op": t[1], "right": t[2]}
        elif k == "expression":
            mask = (mask_of or {}).get(id(self))
            if mask is None:
                raise RuleError(f"rule {self.name}: expression: was not evaluated")  # a bug, not user error
            rule = {"kind": "mask", "column": mask}
            common["show"] = self.columns
        elif k == "row_count":
            rule = dict(t)
        elif k == "freshness":
            rule = {"column": t, "max_age_seconds": parse_duration(self.name, o["max_age"])}
        else:  # schema
            rule = {"columns": [[c, schema_type(self.name, c, ty)] for c, ty in t.items()],
                    "strict": o.get("strict", False)}  # fmt: skip
        rule.setdefault("kind", k)
        return [{"name": self.name, **common, "rule": rule}]

    def expression(self) -> pl.Expr:
        """The predicate of an ``expression`` rule as a Polars expression.

        Returns
        -------
        polars.Expr
            The expression given, or the SQL text parsed into one.

        Raises
        ------
        RuleError
            If the SQL text is not a valid predicate.
        """
        return self._expr()

    # -- internals

    def _expr(self) -> pl.Expr:
        if isinstance(self.target, pl.Expr):
            return self.target
        try:
            return pl.sql_expr(self.target)
        except Exception as exc:
            raise RuleError(f"rule {self.name}: expression: not a valid SQL predicate: {exc}") from None

    def _default_name(self) -> str:
        k, t = self.kind, self.target
        if k in ("row_count", "schema") or (k in CATALOG and CATALOG[k].shape == "none"):
            return k
        if k == "not_null":
            cols = self.columns
            return f"not_null_{cols[0]}" if len(cols) == 1 else "not_null"
        # A malformed target still gets a name, for the error that says so.
        if k == "unique":
            cols = [t] if isinstance(t, str) else t
            ok = isinstance(cols, (list, tuple)) and all(isinstance(c, str) for c in cols)
            return "unique_" + "_".join(cols) if ok else k
        if k == "compare":
            if not (isinstance(t, (list, tuple)) and len(t) == 3):
                return k
            op = _OPS.get(t[1], t[1]) if isinstance(t[1], str) else t[1]
            return f"compare_{t[0]}_{op}_{t[2]}"
        if k == "expression":
            text = t if isinstance(t, str) else str(t)
            slug = re.sub(r"\W+", "_", text).strip("_")[:48] or "predicate"
            return f"expression_{slug}"
        if isinstance(t, (list, tuple)) and all(isinstance(c, str) for c in t):
            return f"{k}_" + "_".join(t)  # a compound target names each column, never a Python list
        return f"{k}_{t}"

    def _check(self) -> None:
        from tillflow.rules._rule_args import check_rule

        check_rule(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Rule):
            return NotImplemented
        return (
            self.kind == other.kind
            and _same(self.target, other.target)
            and _same(self.options, other.options)
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        opts = "".join(f", {k}={v!r}" for k, v in self.options.items())
        return f"{self.kind}({self.target!r}{opts})"


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (pl.Expr, pl.DataFrame, pl.LazyFrame, pl.Series)) or isinstance(
        b, (pl.Expr, pl.DataFrame, pl.LazyFrame, pl.Series)
    ):
        return a is b
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


# -- constructors
