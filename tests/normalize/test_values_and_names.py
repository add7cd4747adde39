"""Values and names at the edges: integers past 64 bits, numbers past a
double's range, nesting of any depth, NUL bytes in names, and panics that
must surface as tillflow errors."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import polars as pl
import pytest

import tillflow as tl
from tillflow import _native

BIG = {
    "u64_plus_2": "18446744073709551617",
    "neg_30": "-123456789012345678901234567890",
    "max_38": "99999999999999999999999999999999999999",
    "min_38": "-99999999999999999999999999999999999999",
}
DIGITS_39 = "123456789012345678901234567890123456789"


class Pages:
    """A loopback server answering each path with a fixed JSON body."""

    def __init__(self, bodies: dict[str, bytes]) -> None:
        self.bodies = bodies

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = bodies.get(self.path.split("?")[0])
                if body is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def source(self, path: str, name: str = "things", **spec: Any) -> tl.sources.Source:
        spec = {"name": name, "base_url": self.url, "path": path, "primary_key": "id", **spec}
        return tl.sources.rest(spec)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def pages() -> Iterator[Pages]:
    server = Pages({})
    yield server
    server.close()


def load(pages: Pages, wh: Any, path: str, body: str | bytes, name: str = "things", **spec: Any) -> None:
    pages.bodies[path] = body.encode() if isinstance(body, str) else body
    tl.pipeline(f"p_{name}", pages.source(path, name, **spec), wh).run()


def big_ints_page() -> str:
    rows = [
        f'{{"id": {i}, "x": {v}, "small": {i}, "wide": {v if i % 2 else i}}}'
        for i, v in enumerate(BIG.values())
    ]
    rows.append(f'{{"id": 9, "x": 1, "small": 9, "wide": 9, "huge": {DIGITS_39}}}')
    return "[" + ",".join(rows) + "]"


def exact(values: list[Any]) -> list[str]:
    return [str(v) for v in values]


def test_big_integers_load_exactly_into_duckdb_and_postgres(pages, any_warehouse):
    wh = any_warehouse
    load(pages, wh, "/big", big_ints_page())
    got = wh.query("SELECT x, wide, huge FROM things ORDER BY id")
    assert got.schema["x"] == pl.Decimal(38, 0)
    assert got.schema["wide"] == pl.Decimal(38, 0)
    assert got.schema["huge"] == pl.String
    assert exact(got["x"].to_list()) == [*BIG.values(), "1"]
    assert exact(got["wide"].to_list()) == ["0", BIG["neg_30"], "2", BIG["min_38"], "9"]
    assert got["huge"].to_list() == [None] * 4 + [DIGITS_39]
    # A later load widens with the lattice: a float turns the decimal into a double.
    load(pages, wh, "/float", '[{"id": 20, "x": 2.5, "wide": 3}]')
    assert wh.query("SELECT x FROM things WHERE id = 20")["x"].to_list() == [2.5]
    again = wh.query("SELECT wide FROM things WHERE id = 1")
    assert again.schema["wide"] == pl.Decimal(38, 0)


def test_big_integers_load_exactly_into_the_delta_lake(pages, tmp_path):
    with tl.warehouse.delta(str(tmp_path / "lake")) as lake:
        load(pages, lake, "/big", big_ints_page())
        got = lake.query("SELECT x, huge FROM things ORDER BY id")
    assert got.schema["x"] == pl.Decimal(38, 0)
    assert exact(got["x"].to_list()) == [*BIG.values(), "1"]
    assert got["huge"].to_list()[-1] == DIGITS_39
    stored = pl.read_delta(lake.table_uri("things"))  # as other tools read the table
    assert sorted(exact(stored["x"].drop_nulls().to_list())) == sorted([*BIG.values(), "1"])


def test_a_number_past_a_double_fails_its_record_only(pages, any_warehouse):
    wh = any_warehouse
    body = (
        '[{"id": 1, "x": 1e400}, {"id": 2, "x": 5}, {"id": 3, "x": -1E+400, "l": [1]}, {"id": 4, "l": [2]}]'
    )
    load(pages, wh, "/range", body)
    assert wh.query("SELECT id, x FROM things ORDER BY id").rows() == [(2, 5), (4, None)]
    assert wh.row_counts()["things__l"] == 1
    held = wh.query('SELECT "_tf_raw", "_tf_url", "_tf_reason" FROM things__quarantine ORDER BY "_tf_raw"')
    assert held["_tf_raw"].to_list() == ['{"id":1,"x":1e400}', '{"id":3,"x":-1E+400,"l":[1]}']
    assert held["_tf_url"].to_list() == [f"{pages.url}/range"] * 2
    assert held["_tf_reason"][0] == (
        'field "x" of table things holds the number 1e400, beyond the range of every column type '
        "(a double reaches about 1.8e308)"
    )
    runs = wh.query("SELECT status FROM _tf_runs")["status"].to_list()
    assert runs == ["completed"]


def test_nesting_200_levels_deep_is_kept_as_json_text(pages, warehouse):
    deep = '{"a": ' * 200 + "1" + "}" * 200
    load(pages, warehouse, "/deep", f'[{{"id": 1, "d": {deep}}}, {{"id": 2}}]')
    got = warehouse.query("SELECT * FROM things ORDER BY id")
    assert got.height == 2
    column = "d" + "__a" * 9
    assert json.loads(got[column][0]) == json.loads('{"a": ' * 191 + "1" + "}" * 191)


def test_nul_in_json_keys_becomes_underscore(pages, any_warehouse):
    body = '[{"id": 1, "a\\u0000b": 2, "a_b": 3, "l\\u0000": [{"v\\u0000": 4}]}]'
    load(pages, any_warehouse, "/nul", body)
    got = any_warehouse.query("SELECT * FROM things")
    assert got.select("a_b", "a_b_2").rows() == [(2, 3)]
    assert any_warehouse.query("SELECT v_ FROM things__l_").rows() == [(4,)]


def test_nul_in_names_of_every_file_kind(tmp_path, warehouse):
    import pyarrow as pa
    import pyarrow.parquet as pq
    import xlsxwriter

    (tmp_path / "c.csv").write_bytes(b"id,a\x00b,a_b\n1,2,3\n")
    (tmp_path / "n.ndjson").write_bytes(b'{"id": 1, "a\\u0000b": 2, "a_b": 3}\n')
    pq.write_table(pa.table({"id": [1], "a\x00b": [2], "a_b": [3]}), tmp_path / "p.parquet")
    nested = pa.table({"id": [1], "a\x00b": [2], "l\x00": [[{"v\x00": 4}]]})
    pq.write_table(nested, tmp_path / "q.parquet")
    book = xlsxwriter.Workbook(str(tmp_path / "x.xlsx"))
    book.add_worksheet().write_row(0, 0, ["id", "a\x00b", "a_b"])
    book.worksheets()[0].write_row(1, 0, [1, 2, 3])
    book.close()
    for name in ("c.csv", "n.ndjson", "p.parquet", "x.xlsx"):
        table = name.split(".")[0]
        # A NUL byte makes a text file look binary unless its encoding is given.
        options = {"encoding": "utf-8"} if name == "c.csv" else {}
        tl.pipeline(f"f_{table}", tl.sources.files(tmp_path / name, name=table, **options), warehouse).run()
        got = warehouse.query(f"SELECT a_b, a_b_2 FROM {table}")
        assert got.rows() == [(2, 3)], name
    tl.pipeline("f_q", tl.sources.files(tmp_path / "q.parquet", name="q"), warehouse).run()
    assert warehouse.query("SELECT a_b FROM q").rows() == [(2,)]
    assert warehouse.query("SELECT v_ FROM q__l_").rows() == [(4,)]


def test_normalize_in_memory_keeps_big_numbers_and_names():
    # Normalized directly there is no quarantine to route to: the record's error says why.
    with pytest.raises(tl.SchemaError, match=r'field "k\\0" of table t holds the number 1e400'):
        tl.normalize('[{"id": 1, "k\\u0000": 1e400}]', "t")
    frame = tl.normalize(f'[{{"id": 1, "x": {BIG["neg_30"]}}}]', "t")["t"]
    assert frame.schema["x"] == pl.Decimal(38, 0) and str(frame["x"][0]) == BIG["neg_30"]


def test_a_panic_in_native_code_is_an_internal_error():
    # A frame whose column name holds a NUL cannot cross the Arrow C
    # interface: the import panics inside the binding.
    frame = pl.DataFrame({"a\x00b": [1, 2]})
    kernel = _native.DistinctKernel("a\x00b")
    expected = r"internal error while DistinctKernel.partial: .*a bug in tillflow"
    with pytest.raises(tl.InternalError, match=expected):
        kernel.partial(frame)
    assert issubclass(tl.InternalError, tl.TillflowError) and issubclass(tl.InternalError, Exception)
    # Caught by a plain `except Exception`, as the CLI's handler does.
    try:
        kernel.partial(frame)
    except Exception as exc:
        assert type(exc) is tl.InternalError
    # The binding stays usable afterwards.
    fine = _native.DistinctKernel("x")
    assert round(fine.estimate(fine.partial(pl.DataFrame({"x": [1, 2, 2]})))) == 2


def test_a_number_past_a_double_in_a_file_is_a_bad_row(tmp_path, warehouse):
    path = tmp_path / "r.ndjson"
    path.write_text(
        '{"id": 1, "x": 2}\n{"id": 2, "x": 1e400}\n{"id": 3, "x": 123456789012345678901234567890}\n'
    )
    with pytest.raises(tl.SourceError, match=r'line 2: field "x" of table r holds the number 1e400'):
        tl.pipeline("f_r", tl.sources.files(path, name="r"), warehouse).run()
    source = tl.sources.files(path, name="r", on_bad_row="quarantine")
    tl.pipeline("f_r", source, warehouse).run()
    got = warehouse.query("SELECT id, x FROM r ORDER BY id")
    assert [(i, str(x)) for i, x in got.rows()] == [(1, "2"), (3, "123456789012345678901234567890")]
    held = warehouse.query('SELECT "_tf_line", "_tf_raw" FROM r__quarantine').rows()
    assert held == [(2, '{"id": 2, "x": 1e400}')]
