"""A rule set's file form: ``{key, sample_size, rules: [...]}`` read from a
mapping or a ``.yaml``/``.yml``, ``.toml`` or ``.json`` file, and written
back so that a file read comes back unchanged (its keys in their order,
``key`` as it was written, unset options left out).

[RuleSet][tillflow.rules.RuleSet] takes these methods from `FileForm`; each
rule's own entry is [Rule.from_dict][tillflow.rules.Rule.from_dict]'s.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tillflow._core.documents import DocumentError, open_document
from tillflow._core.errors import config_error
from tillflow.exceptions import RuleError
from tillflow.rules._rule import Rule

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["FileForm"]

_FILE_KEYS = ("key", "sample_size", "rules")


class FileForm:
    """Reading and writing a rule set's file form (see the module)."""

    rules: list[Rule]
    key: tuple[str, ...]
    sample_size: int
    _explicit: dict[str, bool]  # whether key and sample_size were given
    _order: tuple[str, ...] | None  # the keys in the order a file wrote them
    _key_form: Any  # `key` as a file wrote it (text or list)

    if TYPE_CHECKING:

        def __init__(
            self, rules: Iterable[Rule] = (), *, key: str | Sequence[str] | None = None, sample_size: int = 10
        ) -> None: ...

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> Self:
        """A rule set from its file form: ``{key, sample_size, rules: [...]}``
        or just the list of rules.

        Parameters
        ----------
        data
            The mapping, or the list of rule entries (each as
            [Rule.from_dict][tillflow.rules.Rule.from_dict] reads it).

        Returns
        -------
        RuleSet
            The rules, remembering the form they were read in.

        Raises
        ------
        RuleError
            If ``data`` has an unknown key, ``rules`` is not a list, or an
            entry is invalid (the message names ``rules[i]``).
        """
        if isinstance(data, Sequence) and not isinstance(data, (str, bytes)):
            data = {"rules": list(data)}
        if not isinstance(data, Mapping):
            raise RuleError(f"rules: expected a mapping with a 'rules' list, got {type(data).__name__}")
        unknown = [k for k in data if k not in _FILE_KEYS]
        if unknown:
            raise RuleError(f"rules: {unknown[0]}: unknown key; a rules file has {', '.join(_FILE_KEYS)}")
        entries = data.get("rules")
        if not isinstance(entries, list):
            raise RuleError(f"rules: rules: expected a list of rules, got {entries!r}")
        rules = []
        for i, entry in enumerate(entries):
            try:
                rules.append(Rule.from_dict(entry))
            except RuleError as exc:
                raise RuleError(f"rules[{i}]: {exc}") from None
        kwargs: dict[str, Any] = {}
        if "key" in data:
            kwargs["key"] = data["key"]
        if "sample_size" in data:
            kwargs["sample_size"] = data["sample_size"]
        rs = cls(rules, **kwargs)
        rs._explicit = {"key": "key" in data, "sample_size": "sample_size" in data}
        rs._key_form = data.get("key")
        rs._order = tuple(data)
        return rs

    def to_dict(self) -> dict[str, Any]:
        """The file form; a file read with [from_file][tillflow.rules.RuleSet.from_file] comes back unchanged.

        Returns
        -------
        dict[str, Any]
            ``{key, sample_size, rules}``; ``key`` and ``sample_size`` only
            when they were given.

        Raises
        ------
        RuleError
            If a rule holds a Polars expression or a frame reference, which a
            file cannot.
        """
        out: dict[str, Any] = {}
        if self._explicit["key"]:
            out["key"] = self._key_form if self._key_form is not None else list(self.key)
        if self._explicit["sample_size"]:
            out["sample_size"] = self.sample_size
        out["rules"] = [r.to_dict() for r in self.rules]
        if self._order is not None:
            rank = {k: i for i, k in enumerate(self._order)}
            out = dict(sorted(out.items(), key=lambda kv: rank.get(kv[0], len(rank))))
        return out

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Self:
        """Read ``.yaml``/``.yml``, ``.toml`` or ``.json`` rules.

        Parameters
        ----------
        path
            The rules file; its suffix says its format. An empty YAML file
            holds no rules.

        Returns
        -------
        RuleSet
            The rules in the file.

        Raises
        ------
        RuleError
            If the file cannot be read or parsed, has another suffix, or holds
            invalid rules; the message names the file and, where it can, the
            line.
        """
        p = Path(path)
        try:
            document = open_document(p)
        except DocumentError as exc:
            raise RuleError(f"rules file {str(p)!r}: {exc}") from None
        data = document.data
        try:
            return cls.from_dict(data if data is not None else {"rules": []})
        except RuleError as exc:
            raise RuleError(f"rules file {document.where(_error_keys(str(exc)))}: {exc}") from None

    @classmethod
    def coerce(cls, rules: Any, where: str = "rules", *, key: str | Sequence[str] | None = None) -> Self:
        """A rule set from what a caller was given: a rule set, a rule or rules,
        their file form (a mapping, or a list of mappings) or a rules file's path.
        ``where`` names the argument in the error for anything else.

        Parameters
        ----------
        rules
            A [RuleSet][tillflow.rules.RuleSet] (returned as it is), a
            [Rule][tillflow.rules.Rule], an iterable of rules, a mapping or a
            list of mappings in the file form, or a path (``str`` or
            ``os.PathLike``) to a rules file.
        where
            The name of the argument, for the error message.
        key
            The key columns, for a rule set made from rules; ignored for a
            rule set, a file form or a file.

        Returns
        -------
        RuleSet
            The rule set.

        Raises
        ------
        ConfigError
            If ``rules`` is none of those.
        RuleError
            If the rules, their file form or the file are invalid.
        """
        if isinstance(rules, cls):
            return rules
        if isinstance(rules, Rule):
            return cls([rules], key=key)
        if isinstance(rules, (str, os.PathLike)):
            return cls.from_file(rules)
        if isinstance(rules, Mapping):
            return cls.from_dict(rules)
        if isinstance(rules, Iterable):
            items = list(rules)
            if items and all(isinstance(r, Mapping) for r in items):
                return cls.from_dict(items)
            return cls(items, key=key)
        raise config_error(f"{where}: expected a RuleSet, rules or a rules file, got {rules!r}")

    def to_yaml(self) -> str:
        """The file form as YAML text (needs PyYAML).

        Returns
        -------
        str
            The YAML document; keys keep their order (no sorting).

        Raises
        ------
        RuleError
            If a rule holds a Polars expression or a frame reference (see
            [to_dict][tillflow.rules.RuleSet.to_dict]).
        """
        import yaml  # type: ignore[import-untyped,unused-ignore]

        return str(
            yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True, default_flow_style=None)
        )

    def to_toml(self) -> str:
        """The file form as TOML text (needs ``tomli-w``); unset options are left out.

        Returns
        -------
        str
            The TOML document, without the options left unset (TOML has no null).

        Raises
        ------
        RuleError
            As [to_dict][tillflow.rules.RuleSet.to_dict] raises it, for a
            rule a file cannot hold.
        """
        import tomli_w

        return tomli_w.dumps(_toml_ready(self.to_dict()))

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the rules to ``.yaml``/``.yml``, ``.toml`` or ``.json``.

        Parameters
        ----------
        path
            The file to write (replaced if it exists); its suffix picks the
            format.

        Returns
        -------
        pathlib.Path
            The path written.

        Raises
        ------
        RuleError
            If the suffix is none of those, or a rule cannot be written to a
            file (see [to_dict][tillflow.rules.RuleSet.to_dict]).
        """
        p = Path(path)
        suffix = p.suffix.lower()
        if suffix in (".yaml", ".yml"):
            text = self.to_yaml()
        elif suffix == ".toml":
            text = self.to_toml()
        elif suffix == ".json":
            text = json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"
        else:
            raise RuleError(f"rules file {str(p)!r}: use .yaml, .yml, .toml or .json")
        p.write_text(text, encoding="utf-8")
        return p


def _toml_ready(value: Any) -> Any:
    """TOML has no null: drop None entries."""
    if isinstance(value, Mapping):
        return {k: _toml_ready(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_toml_ready(v) for v in value if v is not None]
    return value


_RULE_AT = re.compile(r"^rules\[(\d+)\]: rule [^:]*: ([\w.]+):")
_ENTRY_AT = re.compile(r"^rules\[(\d+)\]")
_TOP_AT = re.compile(r"^rules: (\w+):")


def _error_keys(message: str) -> list[Any]:
    """Where a rules error points in the file: ``rules[i]`` and the option
    it names, or a top-level key."""
    if m := _RULE_AT.match(message):
        return ["rules", int(m.group(1)), m.group(2)]
    if m := _ENTRY_AT.match(message):
        return ["rules", int(m.group(1))]
    if m := _TOP_AT.match(message):
        return [m.group(1)]
    return []
