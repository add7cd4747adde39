"""Vendor presets: declarative specs shipped with tillflow (``presets/*.toml``).

A preset file is an ordinary source spec (``defaults`` and ``resources``, as
[rest][tillflow.sources.rest] reads) plus a ``[params]`` table. Strings in the spec
refer to the params as ``${name}``: a string that is one reference alone
takes the param's value whatever its type, and a key whose param is unset
(``None``) is left out. The typed helpers in `tillflow.sources`
(``stripe(api_key=…)``, ``quickbooks(…)``) fill the params in; a preset can
also be loaded by name with `load`.

Each file cites the vendor documentation it follows in ``docs``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from tillflow._core.errors import config_error

__all__ = ["PRESET_DIR", "Param", "Preset", "load", "names", "preset"]

PRESET_DIR = Path(__file__).parent / "presets"
_REF = re.compile(r"\$\{([a-z_][a-z0-9_]*)\}")
_UNSET = object()


@dataclass(frozen=True)
class Param:
    name: str
    help: str = ""
    default: Any = None
    required: bool = False
    secret: bool = False


@dataclass(frozen=True)
class Preset:
    """A vendor preset as shipped: its params, resources and doc pages.

    Presets are read with [preset][tillflow.sources.preset], not made by hand.

    Parameters
    ----------
    name
        The preset's name (``stripe``).
    title
        Its title, for listings.
    docs
        The vendor documentation pages the preset follows.
    params
        Its parameters by name, with their help, default, whether they are
        required and whether they are secret.
    resources
        Its resources' names, each mapped to a description of what it holds.
    spec
        The spec's ``defaults`` and ``resources``, with ``${param}``
        references not yet filled in.
    path
        The preset file.
    """

    name: str
    title: str
    docs: tuple[str, ...]
    params: dict[str, Param]
    resources: dict[str, str]  # name -> what it holds
    spec: dict[str, Any] = field(repr=False)
    path: Path = field(repr=False)

    def source(self, *, resources: Sequence[str] | None = None, **values: Any) -> Any:
        """The preset as a [Source][tillflow.sources.Source], params filled in
        from ``values``; ``resources`` picks some of them (all by default).

        The vendor helpers ([stripe][tillflow.sources.stripe],
        [quickbooks][tillflow.sources.quickbooks], ...) call this with their
        typed arguments. Where their preset has them, they share:

        - ``resources``: as here, some of the preset's resources by name;
        - ``lookback``: how far before the stored cursor each run starts
          again, as a duration (``"1h"``, ``"2days"``); the records read
          again are merged on their key. None unless the helper says
          otherwise;
        - ``base_url``: another host to call (a regional endpoint, a
          sandbox, the demo estate).

        Parameters
        ----------
        resources
            Names of the resources to load, in that order; ``None`` for all.
        **values
            The params' values by name; a param left out takes its default.

        Returns
        -------
        Source
            The source, named after the preset, its resources labelled
            ``<preset>.<resource>`` in errors.

        Raises
        ------
        ConfigError
            If a value names an unknown param, a required param is unset, a
            resource is unknown or none is chosen, or the filled-in spec is
            invalid.
        """
        from tillflow.sources._rest import _merge, check_spec
        from tillflow.sources._source import Resource, Source

        unknown = sorted(set(values) - set(self.params))
        if unknown:
            raise config_error(
                f"{self.name}: unknown parameters {unknown}; this preset takes {sorted(self.params)}"
            )
        filled: dict[str, Any] = {}
        for p in self.params.values():
            v = values.get(p.name, _UNSET)
            if v is _UNSET:
                v = p.default
            if p.required and (v is None or v == ""):
                raise config_error(f"{self.name}: {p.name} is required ({p.help})")
            filled[p.name] = v
        # A default may be made of other params ("https://${subdomain}.zendesk.com").
        for name, v in list(filled.items()):
            if isinstance(v, str) and _REF.search(v):
                filled[name] = _fill(v, filled, self.name)
        chosen = list(resources) if resources is not None else list(self.resources)
        missing = [r for r in chosen if r not in self.resources]
        if missing:
            raise config_error(f"{self.name}: no resources {missing}; choose from {sorted(self.resources)}")
        if not chosen:
            raise config_error(f"{self.name}: resources: choose at least one")
        defaults = _fill(self.spec.get("defaults", {}), filled, self.name)
        items = {r["name"]: r for r in self.spec["resources"]}
        out = []
        for name in chosen:
            doc = _merge(defaults, _fill(items[name], filled, self.name))
            doc.pop("description", None)
            parent = doc.get("parent")
            if isinstance(parent, Mapping) and isinstance(parent.get("resource"), str):
                # A substream names its parent; the parent's whole spec goes in.
                pname = parent["resource"]
                pdoc = _merge(defaults, _fill(items[pname], filled, self.name))
                for k in ("description", "write_mode", "rules", "schema_contract"):
                    pdoc.pop(k, None)
                doc["parent"] = {**parent, "resource": pdoc}
            write_mode = doc.pop("write_mode", None)
            resource = Resource(doc, write_mode=write_mode, label=f"{self.name}.{name}")
            check_spec(resource.spec)
            out.append(resource)
        return Source(self.name, out)


def _fill(value: Any, params: Mapping[str, Any], preset: str) -> Any:
    """``value`` with ``${param}`` references filled in; keys whose lone
    reference is unset are left out."""
    if isinstance(value, str):
        whole = _REF.fullmatch(value)
        if whole:
            return _lookup(whole.group(1), params, preset)

        def sub(m: re.Match[str]) -> str:
            v = _lookup(m.group(1), params, preset)
            if v is None:
                raise config_error(f"{preset}: {m.group(1)} is needed in {value!r} but is not set")
            return str(v)

        return _REF.sub(sub, value)
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            filled = _fill(v, params, preset)
            if filled is None and isinstance(v, str) and _REF.fullmatch(v):
                continue
            out[k] = filled
        return out
    if isinstance(value, list):
        return [_fill(v, params, preset) for v in value]
    return value


def _lookup(name: str, params: Mapping[str, Any], preset: str) -> Any:
    if name not in params:
        raise config_error(f"{preset}: the preset refers to ${{{name}}}, which it does not declare")
    return params[name]


def _read(path: Path) -> Preset:
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise config_error(f"{path}: {exc}") from None
    params = {
        name: Param(
            name=name,
            help=str(p.get("help", "")),
            default=p.get("default"),
            required=bool(p.get("required", False)),
            secret=bool(p.get("secret", False)),
        )
        for name, p in doc.get("params", {}).items()
    }
    resources = {r["name"]: str(r.get("description", "")) for r in doc.get("resources", [])}
    return Preset(
        name=str(doc.get("name", path.stem)),
        title=str(doc.get("title", path.stem)),
        docs=tuple(doc.get("docs", ())),
        params=params,
        resources=resources,
        spec={k: doc[k] for k in ("defaults", "resources") if k in doc},
        path=path,
    )


def names() -> list[str]:
    """The presets tillflow ships, by name.

    Returns
    -------
    list[str]
        Their names, sorted.
    """
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def preset(name: str) -> Preset:
    """The preset called ``name`` (``stripe``, ``hubspot``, …).

    Parameters
    ----------
    name
        One of [presets][tillflow.sources.presets]'s names.

    Returns
    -------
    Preset
        The preset, read from its file.

    Raises
    ------
    ConfigError
        If tillflow has no such preset, or its file cannot be read.
    """
    path = PRESET_DIR / f"{name}.toml"
    if not path.is_file():
        raise config_error(f"no preset {name!r}; tillflow has {', '.join(names())}")
    return _read(path)


def load(name: str, *, resources: Sequence[str] | None = None, **values: Any) -> Any:
    """The preset ``name`` as a source, its params from ``values``.

    Parameters
    ----------
    name
        The preset's name.
    resources
        Names of the resources to load; ``None`` for all.
    **values
        The params' values by name.

    Returns
    -------
    Source
        As [Preset.source][tillflow.sources.Preset.source] returns it.

    Raises
    ------
    ConfigError
        If there is no such preset, or as for
        [Preset.source][tillflow.sources.Preset.source].
    """
    return preset(name).source(resources=resources, **values)
