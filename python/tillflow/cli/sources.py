"""``tillflow sources``, ``tillflow check`` and ``tillflow discover``: what
presets there are, whether a source's credentials work, and what its
resources hold, from one page each."""

from __future__ import annotations

import argparse
import copy
import os
import time
from pathlib import Path
from typing import Any

from tillflow._core.errors import config_error
from tillflow.exceptions import TillflowError

__all__ = ["add_commands", "open_source"]


def add_commands(sub: Any) -> None:
    ls = sub.add_parser("sources", help="list the vendor presets and their resources")
    ls.add_argument("name", nargs="?", help="show one preset's parameters and resources")
    ls.set_defaults(func=_sources)

    for name, what in (
        ("check", "connect and authenticate, reporting what is wrong in one line"),
        ("discover", "list each resource's tables and inferred columns, from one page"),
    ):
        p = sub.add_parser(name, help=what)
        p.add_argument("source", help="a preset's name (see `tillflow sources`) or a spec file")
        p.add_argument(
            "--param",
            "-p",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="a preset parameter; unset ones are read from <PRESET>_<NAME> in the environment "
            "(STRIPE_API_KEY, QUICKBOOKS_REFRESH_TOKEN, …)",
        )
        p.add_argument("--resource", "-r", action="append", default=None, help="only this resource")
        p.set_defaults(func=_check if name == "check" else _discover)


def open_source(target: str, params: list[str], resources: list[str] | None = None) -> Any:
    """A source from a preset name or a spec file. A preset's parameters come
    from ``NAME=VALUE`` pairs, else from ``<PRESET>_<NAME>`` variables."""
    import tillflow as tl
    from tillflow import sources as presets_

    if Path(target).suffix in (".toml", ".yaml", ".yml", ".json") or os.sep in target:
        source = tl.sources.rest(target)
        return source.with_resources(*resources) if resources else source
    preset = presets_.preset(target)
    values: dict[str, Any] = {}
    for p in preset.params.values():
        env = f"{preset.name.upper()}_{p.name.upper()}"
        if env in os.environ:
            values[p.name] = _typed(os.environ[env], p.default)
    for pair in params:
        name, sep, value = pair.partition("=")
        if not sep:
            raise config_error(f"--param: expected NAME=VALUE, got {pair!r}")
        key = name.strip()
        values[key] = _typed(value, preset.params[key].default if key in preset.params else None)
    return preset.source(resources=resources, **values)


def _typed(text: str, default: Any) -> Any:
    """A parameter given as text, as the type of its default."""
    if isinstance(default, bool):
        return text.lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        try:
            return int(text)
        except ValueError:
            return text
    return text


def _sample(resource: Any) -> Any:
    """The resource reading one page of each chain."""
    import dataclasses

    spec = copy.deepcopy(resource.spec)
    spec["max_pages"] = 1
    if isinstance(spec.get("parent"), dict):
        spec["parent"]["resource"]["max_pages"] = 1
    return dataclasses.replace(resource, spec=spec, rules=None)


def _sources(args: argparse.Namespace) -> int:
    from tillflow import sources as presets_

    if args.name:
        p = presets_.preset(args.name)
        print(f"{p.name}: {p.title}")
        print("parameters:")
        for param in p.params.values():
            if param.required:
                flag = " (required)"
            else:
                flag = f" (default {param.default!r})" if param.default is not None else ""
            secret = " [secret]" if param.secret else ""
            print(f"  {param.name}{flag}{secret}{': ' + param.help if param.help else ''}")
        print("resources:")
        for name, what in p.resources.items():
            print(f"  {name}: {what}")
        print("docs:")
        for url in p.docs:
            print(f"  {url}")
        return 0
    for name in presets_.presets():
        p = presets_.preset(name)
        print(f"{p.name:<12} {p.title:<22} {', '.join(p.resources)}")
    return 0


def _check(args: argparse.Namespace) -> int:
    source = open_source(args.source, args.param, args.resource)
    first = source.resources[0]
    started = time.monotonic()
    stream = _sample(first).open()
    try:
        records = sum(batch["records"] for batch in stream)
    finally:
        stream.close()
    took = time.monotonic() - started
    print(
        f"ok: {source.name}: authenticated; {first.name} answered with {records} records "
        f"on its first page ({took:.2f} s)"
    )
    return 0


def _discover(args: argparse.Namespace) -> int:
    import polars as pl

    source = open_source(args.source, args.param, args.resource)
    failed = 0
    for resource in source.resources:
        stream = _sample(resource).open()
        tables: dict[str, Any] = {}
        records = 0
        try:
            for batch in stream:
                records += batch["records"]
                for name, frame in batch["tables"].items():
                    tables.setdefault(name, []).append(frame)
        except TillflowError as exc:
            failed += 1
            print(f"{resource.name}: {type(exc).__name__}: {exc}")
            continue
        finally:
            stream.close()
        print(f"{resource.name}: {records} records on the first page")
        for name, frames in tables.items():
            frame = pl.concat(frames, how="diagonal_relaxed")
            print(f"  {name} ({frame.height} rows)")
            for column, dtype in frame.schema.items():
                print(f"    {column}: {dtype}")
    return 1 if failed else 0
