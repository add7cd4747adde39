#!/usr/bin/env python3
"""Write iso_tables.rs from Debian iso-codes JSON files.

usage: gen_iso_tables.py JSON_DIR HEADER_FILE > iso_tables.rs
HEADER_FILE holds the module header (//! lines) and nothing else.
"""
import json
import sys

jdir, header_file = sys.argv[1], sys.argv[2]


def load(name, key):
    with open(f"{jdir}/{name}", encoding="utf-8") as f:
        return json.load(f)[key]


currency = {e["alpha_3"] for e in load("iso_4217.json", "4217")}
countries = load("iso_3166-1.json", "3166-1")
l2 = load("iso_639-2.json", "639-2")
l3 = load("iso_639-3.json", "639-3")
part1 = {e["alpha_2"] for e in l2 + l3 if "alpha_2" in e}
part2 = set()
for e in l2:
    if e["alpha_3"] == "qaa-qtz":
        continue
    part2.add(e["alpha_3"])
    if "bibliographic" in e:
        part2.add(e["bibliographic"])
part3 = {e["alpha_3"] for e in l3}

TABLES = [
    ("CURRENCY", currency,
     "/// ISO 4217 alphabetic codes listed in iso_4217.json (current codes, including\n"
     "/// funds, precious metals and the X-codes XTS and XXX).\n"),
    ("COUNTRY_ALPHA2", {e["alpha_2"] for e in countries}, "/// ISO 3166-1 alpha-2 codes.\n"),
    ("COUNTRY_ALPHA3", {e["alpha_3"] for e in countries}, "/// ISO 3166-1 alpha-3 codes.\n"),
    ("LANGUAGE_PART1", part1,
     "/// ISO 639-1 codes: the `alpha_2` of iso_639-2.json and iso_639-3.json entries.\n"),
    ("LANGUAGE_PART2", part2,
     "/// ISO 639-2 codes: terminology (`alpha_3`) and bibliographic forms, without\n"
     "/// the local-use range qaa-qtz.\n"),
    ("LANGUAGE_PART3", part3, "/// ISO 639-3 codes.\n"),
]

out = [open(header_file, encoding="utf-8").read().rstrip("\n") + "\n"]
for name, codes, doc in TABLES:
    codes = sorted(codes)
    width = {len(c) for c in codes}
    assert len(width) == 1, (name, width)
    (n,) = width
    out.append("\n" + doc + f"pub(super) static {name}: [[u8; {n}]; {len(codes)}] = [\n")
    line = ""
    for code in codes:
        item = f'*b"{code}",'
        candidate = f"{line} {item}" if line else f"    {item}"
        if len(candidate) > 100:
            out.append(line + "\n")
            candidate = f"    {item}"
        line = candidate
    out.append(line + "\n];\n")
sys.stdout.write("".join(out))
