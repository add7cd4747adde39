"""``tillflow contract convert``: a contract from dbt, Great Expectations,
Soda or ODCS into tillflow rules files, tillflow rules into a contract, or
one contract format into another."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tillflow._core import exits
from tillflow._core.errors import config_error

_RULE_SUFFIXES = (".yaml", ".yml", ".toml", ".json")


def add_commands(sub: Any) -> None:
    from tillflow.rules.contracts import FORMATS

    contract = sub.add_parser(
        "contract", help="read and write contracts of dbt, Great Expectations, Soda, ODCS"
    )
    verbs = contract.add_subparsers(dest="verb", required=True)
    convert = verbs.add_parser(
        "convert",
        help="convert a contract or a tillflow rules file; nothing it cannot say exactly is dropped: "
        "such an item stops the conversion, named",
    )
    convert.add_argument("source", type=Path, help="a contract (.yml/.yaml/.json) or a tillflow rules file")
    convert.add_argument(
        "output", type=Path,
        help="the file to write; for --to tillflow and several tables, a folder that gets TABLE.yaml each",
    )  # fmt: skip
    convert.add_argument("--to", required=True, choices=("tillflow", *FORMATS), help="the format to write")
    convert.add_argument(
        "--from", dest="source_format", default=None, choices=("tillflow", *FORMATS),
        help="the source's format (default: told from its keys)",
    )  # fmt: skip
    convert.add_argument(
        "--table", default=None,
        help="the table: which of the contract's, or the one a tillflow rules file is for",
    )  # fmt: skip
    convert.set_defaults(func=_convert)


def _convert(args: argparse.Namespace) -> int:
    from tillflow.rules import contracts

    tables = contracts.read(args.source, format=args.source_format, table=args.table)
    if args.table is not None and args.table in tables:
        tables = {args.table: tables[args.table]}
    elif args.table is not None:
        raise config_error(f"--table: no table {args.table!r} in {args.source}; it has {', '.join(tables)}")
    out: Path = args.output
    written: list[Path] = []
    if args.to != "tillflow":
        written.append(contracts.write(tables, out, format=args.to))
    elif len(tables) == 1 and out.suffix.lower() in _RULE_SUFFIXES:
        written.append(next(iter(tables.values())).save(out))
    else:
        for name in tables:
            if Path(name).name != name or name in (".", ".."):
                raise config_error(f"table {name!r}: not a file name; convert it alone, to a file (--table)")
        out.mkdir(parents=True, exist_ok=True)
        for name, rules in tables.items():
            written.append(rules.save(out / f"{name}.yaml"))
    rules_total = sum(len(t.rules) for t in tables.values())
    print(f"{rules_total} rules of {len(tables)} table(s) written to {', '.join(str(p) for p in written)}")
    return exits.OK
