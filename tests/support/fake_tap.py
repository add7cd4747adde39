"""A Singer tap for tests, run as a real process: two streams from a
bookmark on, as a tap resumes from ``--state``, and a hostile mode per
``FAKE_TAP_MODE`` (a record before its schema, a line that is not a
message, a 10 MB record, a STATE that is not JSON, a crash after a state).

``--discover`` prints its catalog; ``--catalog`` selects streams as the
Singer SDK does (the root breadcrumb's ``selected``). Every run appends its
argv and the state it got to ``FAKE_TAP_LOG``."""

from __future__ import annotations

import json
import os
import sys

ORDERS = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "zip": {"type": ["null", "string"]},
        "total": {"type": ["null", "number"], "multipleOf": 0.01},
        "created_at": {"type": "string", "format": "date-time"},
        "customer": {"type": "object", "properties": {"email": {"type": ["null", "string"]}}},
        "lines": {"type": "array", "items": {"type": "object", "properties": {
            "sku": {"type": "string"}, "qty": {"type": "integer"}}}},
        "note": {"type": ["null", "string"]},
    },
}  # fmt: skip
EVENTS = {"type": "object", "properties": {"seq": {"type": "integer"}, "kind": {"type": "string"}}}


def out(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")


def catalog() -> dict:
    def entry(name: str, schema: dict, key: list[str]) -> dict:
        md = [{"breadcrumb": [], "metadata": {"table-key-properties": key, "selected-by-default": True}}]
        return {"tap_stream_id": name, "stream": name, "schema": schema, "metadata": md}

    return {"streams": [entry("orders", ORDERS, ["id"]), entry("events", EVENTS, [])]}


def selected(path: str | None) -> set[str]:
    if path is None:
        return {"orders", "events"}
    chosen = set()
    for e in json.load(open(path))["streams"]:
        root = next(m for m in e["metadata"] if m["breadcrumb"] == [])
        if root["metadata"].get("selected"):
            chosen.add(e["tap_stream_id"])
    return chosen


def order(i: int) -> dict:
    return {
        "id": i, "zip": f"0{2100 + i}", "total": round(i * 10.25, 2),
        "created_at": f"2024-03-{1 + i % 28:02d}T10:00:00Z",
        "customer": {"email": f"c{i}@example.com"},
        "lines": [{"sku": f"SKU-{i}-{j}", "qty": j + 1} for j in range(i % 3)],
    }  # fmt: skip


def main() -> int:
    args = sys.argv[1:]
    opt = {args[i]: args[i + 1] for i in range(0, len(args) - 1) if args[i].startswith("--")}
    if "--discover" in args:
        out_text = json.dumps(catalog())
        sys.stdout.write(out_text + "\n")
        return 0
    state = json.load(open(opt["--state"])) if "--state" in opt else None
    log = os.environ.get("FAKE_TAP_LOG")
    if log:
        with open(log, "a") as f:
            f.write(json.dumps({"argv": args, "state": state}) + "\n")
    config = json.load(open(opt["--config"])) if "--config" in opt else {}
    total = int(config.get("orders", 10))
    mode = os.environ.get("FAKE_TAP_MODE", "")
    streams = selected(opt.get("--catalog"))
    start = (state or {}).get("bookmarks", {}).get("orders", {}).get("id", 0)
    print("fake tap starting", file=sys.stderr)
    if mode == "record_first":
        out({"type": "RECORD", "stream": "orders", "record": order(1)})
    if "orders" in streams:
        out({"type": "SCHEMA", "stream": "orders", "schema": ORDERS, "key_properties": ["id"]})
    if "events" in streams:
        out({"type": "SCHEMA", "stream": "events", "schema": EVENTS, "key_properties": []})
    for i in range(start + 1, total + 1):
        if "orders" in streams:
            extracted = "2024-03-01T00:00:00Z"
            out({"type": "RECORD", "stream": "orders", "record": order(i), "time_extracted": extracted})
        if "events" in streams:
            out({"type": "RECORD", "stream": "events", "record": {"seq": i, "kind": "order_created"}})
        if i % 4 == 0 or i == total:
            out({"type": "STATE", "value": {"bookmarks": {"orders": {"id": i}}}})
        if mode == "crash" and i == 6:
            print("lost the connection to the server", file=sys.stderr)
            print("Traceback: ConnectionResetError", file=sys.stderr)
            return 2
        if mode == "garbage" and i == 5:
            sys.stdout.write("INFO this is a log line on stdout\n")
        if mode == "bad_state" and i == 5:
            sys.stdout.write('{"type": "STATE", "value": {"bookmarks": \n')
        if mode == "huge" and i == 5:
            out({"type": "RECORD", "stream": "orders", "record": {**order(10_000), "note": "x" * (10 << 20)}})
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
