"""A canary credential, for every source kind and auth kind, made to fail
in every way a source fails (retries then a refusal, retries running out,
servers echoing the credentials back, a cross-origin redirect), then searched
for, in every form it takes on the wire, everywhere tillflow writes: the
exception (str, repr, args, notes and the exceptions it was raised from),
stdout and stderr, the JSON logs and pytest's log capture, every ``_tf_``
table, the HTML report, the Prometheus text, and the ``tillflow`` command's
output. It must be found nowhere.

The servers are real, on loopback (``support.secrets``); PostgreSQL and
MariaDB are the local ones; S3 is moto's server."""

from __future__ import annotations

import copy
import io
import json
import logging
import os
import pickle
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tillflow as tl
from support.secrets import (
    CANARY,
    CANARY_USER,
    EchoServer,
    Findings,
    Landing,
    leaks,
    wire_forms,
)
from tillflow.monitor import configure_logging, redact, register_secret

# Tiny backoffs: the retries happen, the test does not wait for them.
FAST = {"max_attempts": 3, "initial_backoff_secs": 0.001, "max_backoff_secs": 0.002}

AUTH_KINDS = ["bearer", "basic", "api_key_header", "api_key_query", "shopify"]
AUTHS: dict[str, dict[str, Any]] = {
    "bearer": {"type": "bearer", "token": CANARY},
    "basic": {"type": "basic", "username": CANARY_USER, "password": CANARY},
    "api_key_header": {"type": "api_key", "name": "x-api-key", "value": CANARY},
    "api_key_query": {"type": "api_key", "name": "api_key", "value": CANARY, "location": "query"},
}

# How each path fails, and the error it must end in.
FAILURES: dict[str, tuple[str, type[BaseException] | None]] = {
    # 500 and 429 retried, then a 401 whose JSON body echoes the credentials (slashes as \/).
    "retried-then-refused": ("/json/500,429,401", tl.AuthError),
    # 500, 503 and 429 until the attempts run out.
    "retries-run-out": ("/text/500,503,429", tl.HttpError),
    # A 401 and a 400 echoing the credentials and the URL as plain text.
    "refused-echoing": ("/text/401", tl.AuthError),
    "bad-request-echoing": ("/text/400", tl.HttpError),
    # A 302 to another origin, which answers one record.
    "cross-origin-redirect": ("/redirect/ok", None),
}


def rest_source(kind: str, base: str) -> tl.sources.Source:
    if kind == "shopify":
        return tl.sources.shopify(base, CANARY, resources=["customers"], retry=FAST)
    spec = {"name": "things", "base_url": base, "path": "things", "params": {"page": 1},
            "auth": AUTHS[kind], "retry": FAST, "primary_key": "id"}  # fmt: skip
    return tl.sources.rest(spec)


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """tillflow's logs as JSON lines, at DEBUG, for the test's length."""
    stream = io.StringIO()
    log = logging.getLogger("tillflow")
    level = log.level
    handler = configure_logging("DEBUG", stream=stream)
    try:
        yield stream
    finally:
        log.removeHandler(handler)
        log.setLevel(level)


def tf_tables(wh: Any) -> dict[str, str]:
    """Every ``_tf_`` table of the warehouse, as text: a row a line, values tab-separated."""
    if isinstance(wh, tl.warehouse.PostgresWarehouse):
        names = wh.query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 "
            "AND starts_with(table_name, '_tf_')",
            [wh.schema],
        )["table_name"].to_list()
    else:
        names = wh.query(
            "SELECT DISTINCT table_name FROM information_schema.tables WHERE starts_with(table_name, '_tf_')"
        )["table_name"].to_list()
    assert "_tf_runs" in names and "_tf_loads" in names, names
    out = {}
    for name in sorted(names):
        frame = wh.query(f'SELECT * FROM "{name}"')
        lines = ["\t".join(frame.columns)]
        lines += ["\t".join("" if v is None else str(v) for v in row) for row in frame.rows()]
        out[name] = "\n".join(lines)
    return out


def search_warehouse(findings: Findings, wh: Any, tmp_path: Path, label: str = "") -> dict[str, str]:
    """The ``_tf_`` tables, the HTML report and the Prometheus text of ``wh``."""
    tables = tf_tables(wh)
    for name, text in tables.items():
        findings.search(f"{label}table {name}", text)
    report = tl.monitor.write_report(wh, tmp_path / f"report{label.strip()}.html")
    findings.search(f"{label}HTML report", report.read_text())
    findings.search(f"{label}Prometheus text", tl.monitor.prometheus_text(wh))
    with tl.monitor.serve_metrics(wh, "127.0.0.1", 0) as server:
        with urllib.request.urlopen(server.url, timeout=10) as scraped:
            findings.search(f"{label}Prometheus scrape", scraped.read().decode())
    findings.search(f"{label}repr of the warehouse", repr(wh))
    return tables


def run_failing(
    findings: Findings, name: str, source: Any, wh: Any, expected: type[BaseException] | None
) -> Any:
    """Runs a pipeline that is to fail with ``expected`` (or complete), and
    searches its error."""
    findings.search(f"{name}: repr of the source", repr(source))
    for resource in source.resources:
        findings.search(f"{name}: repr of {resource.name}", repr(resource))
    pipeline = tl.pipeline(name, source, wh, monitor=tl.monitor.Monitor())
    if expected is None:
        return pipeline.run()
    with pytest.raises(expected) as caught:
        pipeline.run()
    assert type(caught.value) is expected, repr(caught.value)
    findings.exception(f"{name}: the exception", caught.value)
    return caught.value


def search_output(
    findings: Findings,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    logs: io.StringIO,
) -> None:
    out, err = capsys.readouterr()
    findings.search("stdout", out)
    findings.search("stderr", err)
    findings.search("caplog", caplog.text)
    findings.search("caplog messages", "\n".join(r.getMessage() for r in caplog.records))
    findings.search("JSON logs", logs.getvalue())
    assert logs.getvalue(), "the JSON logs got nothing"


# -- REST: every auth kind x every failure


@pytest.mark.parametrize("kind", AUTH_KINDS)
def test_a_rest_credential_is_found_nowhere_after_failures_retries_and_redirects(
    kind: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    json_logs: io.StringIO,
) -> None:
    caplog.set_level(logging.DEBUG, logger="tillflow")
    findings = Findings()
    errors: dict[str, Any] = {}
    with Landing() as landing, EchoServer(landing) as echo:
        with tl.warehouse.duckdb(str(tmp_path / "wh.duckdb")) as wh:
            for name, (path, expected) in FAILURES.items():
                errors[name] = run_failing(findings, name, rest_source(kind, echo.url + path), wh, expected)
            tables = search_warehouse(findings, wh, tmp_path)
        sent = {name: echo.sent(path) for name, (path, _) in FAILURES.items()}
        landed = list(landing.requests)
    search_output(findings, capsys, caplog, json_logs)

    # The failures happened as planned: retries, then the error the path ends in.
    assert len(sent["retried-then-refused"]) == 3
    assert len(sent["retries-run-out"]) == FAST["max_attempts"]
    assert errors["retried-then-refused"].status == 401
    assert errors["retries-run-out"].status == 429
    assert errors["bad-request-echoing"].status == 400
    assert "_tf_runs" in tables and "failed" in tables["_tf_runs"]
    # Every request to the configured origin carried the credential: the echoes had something to echo.
    assert all(leaks(_request_text(r)) for r in sent["retried-then-refused"]), sent["retried-then-refused"]

    # Across the redirect to another origin: no credential in any header, the URL or a Referer.
    assert len(landed) == 1, landed
    assert _credential_headers(landed[0].headers) == {}
    assert "referer" not in landed[0].headers
    assert leaks(_request_text(landed[0])) == []
    assert errors["cross-origin-redirect"].total_rows == 1

    assert findings.places == {}, f"the canary leaked: {findings.places}"
    assert len(findings.searched) > 40


@pytest.mark.parametrize("kind", AUTH_KINDS)
def test_an_echo_cut_short_by_the_error_body_limit_keeps_no_part_of_the_credential(
    kind: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    json_logs: io.StringIO,
) -> None:
    """An error keeps the start of the body a server refused with; when that
    cut falls inside an echoed credential, what is left of it is still
    masked (the body is masked before it is cut, not after)."""
    caplog.set_level(logging.DEBUG, logger="tillflow")
    findings = Findings()
    with EchoServer() as echo, tl.warehouse.duckdb(str(tmp_path / "wh.duckdb")) as wh:
        error = run_failing(findings, "cut", rest_source(kind, echo.url + "/pad/401"), wh, tl.AuthError)
        search_warehouse(findings, wh, tmp_path)
    search_output(findings, capsys, caplog, json_logs)
    assert "refused: xxxx" in str(error)
    assert findings.places == {}, f"the canary leaked: {findings.places}"


def _request_text(seen: Any) -> str:
    return seen.path + "\n" + "\n".join(f"{k}: {v}" for k, v in seen.headers.items())


def _credential_headers(headers: dict[str, str]) -> dict[str, str]:
    words = ("auth", "token", "key", "secret", "cookie", "password")
    return {k: v for k, v in headers.items() if any(w in k for w in words)}


def test_a_short_credential_is_masked_where_it_stands_and_nowhere_else(tmp_path: Path) -> None:
    """``wrong`` is a bearer token here: masked after ``Bearer``, left alone in
    "something went wrong"."""
    with EchoServer() as echo, tl.warehouse.duckdb(str(tmp_path / "wh.duckdb")) as wh:
        words = tl.sources.rest({"name": "things", "base_url": echo.url + "/words/401", "path": "x",
                                 "auth": {"type": "bearer", "token": "wrong"}})  # fmt: skip
        echoed = tl.sources.rest({"name": "things", "base_url": echo.url + "/text/401", "path": "x",
                                  "auth": {"type": "bearer", "token": "wrong"}})  # fmt: skip
        with pytest.raises(tl.AuthError) as plain:
            tl.pipeline("words", words, wh).run()
        with pytest.raises(tl.AuthError) as bearer:
            tl.pipeline("echoed", echoed, wh).run()
    assert str(plain.value).endswith(
        ": something went wrong: the key you sent is not known here; token rejected"
    ), str(plain.value)
    assert "authorization: Bearer ***" in str(bearer.value), str(bearer.value)
    assert "wrong" not in str(bearer.value).split("refused /text/401/x", 1)[1], str(bearer.value)


# -- the tillflow command


# Runs each command given as a JSON list of argument lists in one process, as
# `tillflow` runs it, with tillflow's logs as JSON lines at DEBUG on stderr;
# prints each exit code.
_COMMANDS = """
import json, sys
from tillflow.cli import main
from tillflow.monitor import configure_logging
configure_logging("DEBUG")
for args in json.loads(sys.argv[1]):
    code = main(args)
    sys.stdout.flush()
    print(f"exit {args[0]} {code}", flush=True)
"""


def test_the_command_shows_no_credential_from_a_spec_file(tmp_path: Path) -> None:
    """``tillflow run`` on spec files whose credentials come from the
    environment, each failing after retries on a server that echoes them;
    then ``health``, ``report`` and ``metrics-textfile`` on that warehouse,
    all in one process logging JSON lines at DEBUG; and ``run`` and
    ``health`` as the ``tillflow`` command, with its own stderr logging."""
    findings = Findings()
    env = {**os.environ, "TF_CANARY_SECRET": CANARY, "TF_CANARY_USER": CANARY_USER}
    env.pop("PYTHONWARNINGS", None)
    specs = {}
    with Landing() as landing, EchoServer(landing) as echo:
        for kind, auth in AUTHS.items():
            secret_auth = {k: "${TF_CANARY_SECRET}" if v == CANARY else v for k, v in auth.items()}
            if kind == "basic":
                secret_auth["username"] = "${TF_CANARY_USER}"
            defaults = {"base_url": echo.url + "/json/500,429,401", "auth": secret_auth, "retry": FAST}
            spec = {"name": kind, "defaults": defaults, "resources": [{"name": "things", "path": "things"}]}
            specs[kind] = tmp_path / f"{kind}.json"
            specs[kind].write_text(json.dumps(spec))
            assert CANARY not in specs[kind].read_text()

        def after_runs(warehouse: str, report: str) -> list[list[str]]:
            return [
                ["health", "--warehouse", warehouse],
                ["health", "--warehouse", warehouse, "--json"],
                ["report", "--warehouse", warehouse, "-o", str(tmp_path / report)],
                ["metrics-textfile", "--warehouse", warehouse, "-o", "-"],
            ]

        plain = str(tmp_path / "plain.duckdb")
        for args in [["run", str(specs["basic"]), "--warehouse", plain], after_runs(plain, "plain.html")[0]]:
            done = _command(["-m", "tillflow.cli", *args], env)
            assert done.returncode == (5 if args[0] == "run" else 1 if args[0] == "health" else 0), (
                done.stderr
            )
            findings.search(f"tillflow {args[0]}: stdout", done.stdout)
            findings.search(f"tillflow {args[0]}: stderr", done.stderr)

        logged = str(tmp_path / "logged.duckdb")
        runs = [["run", str(path), "--warehouse", logged] for path in specs.values()]
        done = _command(["-c", _COMMANDS, json.dumps([*runs, *after_runs(logged, "logged.html")])], env)
    assert done.returncode == 0, done.stderr
    codes = [line for line in done.stdout.splitlines() if line.startswith("exit ")]
    assert codes == ["exit run 5"] * 4 + [
        "exit health 1",
        "exit health 1",
        "exit report 0",
        "exit metrics-textfile 0",
    ]
    assert done.stderr.count('"level": "ERROR"') >= 4  # the JSON logs are there
    findings.search("JSON-logging process: stdout", done.stdout)
    findings.search("JSON-logging process: stderr", done.stderr)
    html = (tmp_path / "logged.html").read_text()
    assert "AuthError" in html
    findings.search("report file", html)
    assert findings.places == {}, f"the canary leaked: {findings.places}"


def _command(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=120, check=False, env=env
    )


# -- databases


def _quoted() -> str:
    return urllib.parse.quote(CANARY, safe="")


def test_a_postgres_source_password_is_found_nowhere(
    postgres_url: str,
    unique_name: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    json_logs: io.StringIO,
) -> None:
    """The local server trusts loopback, so the password is accepted where
    the role and database exist; it still travels in every URL."""
    import psycopg

    caplog.set_level(logging.DEBUG, logger="tillflow")
    findings = Findings()
    parts = urllib.parse.urlsplit(postgres_url)
    user = parts.username or "postgres"
    url = f"postgresql://{user}:{_quoted()}@{parts.hostname}:{parts.port or 5432}{parts.path}"
    refused = {
        "unknown database": url.rsplit("/", 1)[0] + "/tf_no_such_database",
        "unknown role": url.replace(f"//{user}:", "//tf_no_such_role:"),
        "nothing listening": url.replace(f":{parts.port or 5432}/", f":{_closed_port()}/"),
        "unknown table": url,
    }
    for name, bad in refused.items():
        with pytest.raises(tl.TillflowError) as caught:
            tl.sources.postgres(bad, schema=unique_name if name == "unknown table" else None, tables=["nope"])
        findings.exception(f"{name}: the exception", caught.value)

    with psycopg.connect(postgres_url, autocommit=True) as con:
        con.execute(f'CREATE SCHEMA "{unique_name}"')
        con.execute(f'CREATE TABLE "{unique_name}".items (id int PRIMARY KEY, name text)')
        con.execute(f"INSERT INTO \"{unique_name}\".items VALUES (1, 'a'), (2, 'b')")
    try:
        source = tl.sources.postgres(url, schema=unique_name, tables=["items"])
        with psycopg.connect(postgres_url, autocommit=True) as con:
            con.execute(f'DROP TABLE "{unique_name}".items')
        with tl.warehouse.duckdb(str(tmp_path / "wh.duckdb")) as wh:
            run_failing(findings, "table dropped before the read", source, wh, tl.ConfigError)
            search_warehouse(findings, wh, tmp_path)
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as con:
            con.execute(f'DROP SCHEMA IF EXISTS "{unique_name}" CASCADE')
    search_output(findings, capsys, caplog, json_logs)
    assert findings.places == {}, f"the canary leaked: {findings.places}"


def test_a_mariadb_source_password_is_found_nowhere(
    mariadb_url: str,
    unique_name: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    json_logs: io.StringIO,
) -> None:
    """A user whose password is the canary reads a table that is dropped
    before the run; root, which has no password, refuses the canary."""
    import pymysql

    caplog.set_level(logging.DEBUG, logger="tillflow")
    findings = Findings()
    parts = urllib.parse.urlsplit(mariadb_url)
    host, port, database = parts.hostname or "127.0.0.1", parts.port or 3306, parts.path.lstrip("/")
    admin = pymysql.connect(
        host=host, port=port, user=parts.username or "root", password=parts.password or "",
        database=database, autocommit=True,
    )  # fmt: skip
    user, table = unique_name, f"{unique_name}_items"
    try:
        with admin.cursor() as cur:
            cur.execute(f"CREATE USER '{user}'@'%%' IDENTIFIED BY %s", (CANARY,))
            cur.execute(f"CREATE USER '{user}'@'localhost' IDENTIFIED BY %s", (CANARY,))
            cur.execute(f"GRANT ALL ON `{database}`.* TO '{user}'@'%'")
            cur.execute(f"GRANT ALL ON `{database}`.* TO '{user}'@'localhost'")
            cur.execute(f"CREATE TABLE `{table}` (id int PRIMARY KEY, name text)")
            cur.execute(f"INSERT INTO `{table}` VALUES (1, 'a'), (2, 'b')")
        url = f"mysql://{user}:{_quoted()}@{host}:{port}/{database}"
        refused = {
            "refused password": f"mysql://root:{_quoted()}@{host}:{port}/{database}",
            "unknown database": f"mysql://{user}:{_quoted()}@{host}:{port}/tf_no_such_database",
            "nothing listening": f"mysql://{user}:{_quoted()}@{host}:{_closed_port()}/{database}",
            "unknown table": url,
        }
        for name, bad in refused.items():
            with pytest.raises(tl.TillflowError) as caught:
                tl.sources.mysql(bad, tables=["nope"])
            findings.exception(f"{name}: the exception", caught.value)

        source = tl.sources.mysql(url, tables=[table])
        with admin.cursor() as cur:
            cur.execute(f"DROP TABLE `{table}`")
        with tl.warehouse.duckdb(str(tmp_path / "wh.duckdb")) as wh:
            run_failing(findings, "table dropped before the read", source, wh, tl.ConfigError)
            search_warehouse(findings, wh, tmp_path)
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS `{table}`")
            cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")
            cur.execute(f"DROP USER IF EXISTS '{user}'@'localhost'")
        admin.close()
    search_output(findings, capsys, caplog, json_logs)
    assert findings.places == {}, f"the canary leaked: {findings.places}"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- warehouses


def test_a_postgres_warehouse_password_is_found_nowhere(
    postgres_url: str,
    unique_name: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    json_logs: io.StringIO,
) -> None:
    from support.services import drop_schema

    caplog.set_level(logging.DEBUG, logger="tillflow")
    findings = Findings()
    parts = urllib.parse.urlsplit(postgres_url)
    user = parts.username or "postgres"
    url = f"postgresql://{user}:{_quoted()}@{parts.hostname}:{parts.port or 5432}{parts.path}"
    for name, bad in {
        "unknown database": url.rsplit("/", 1)[0] + "/tf_no_such_database",
        "nothing listening": url.replace(f":{parts.port or 5432}/", f":{_closed_port()}/"),
    }.items():
        with pytest.raises(tl.WarehouseError) as caught:
            tl.warehouse.postgres(bad, schema=unique_name)
        findings.exception(f"{name}: the exception", caught.value)
    try:
        with EchoServer() as echo, tl.warehouse.postgres(url, schema=unique_name) as wh:
            source = rest_source("bearer", echo.url + "/json/500,429,401")
            run_failing(findings, "a failing source", source, wh, tl.AuthError)
            search_warehouse(findings, wh, tmp_path)
    finally:
        drop_schema(postgres_url, unique_name)
    search_output(findings, capsys, caplog, json_logs)
    assert findings.places == {}, f"the canary leaked: {findings.places}"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on loopback; it takes any keys, so the canary is the secret key."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = _closed_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def test_an_s3_lake_secret_key_is_found_nowhere(
    s3_endpoint: str,
    unique_name: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    json_logs: io.StringIO,
) -> None:
    import pyarrow.fs as pafs

    caplog.set_level(logging.DEBUG, logger="tillflow")
    findings = Findings()
    keys = {"access_key": "tf-canary-access", "secret_key": CANARY, "region": "us-east-1"}
    bucket = unique_name.replace("_", "-")
    fs = pafs.S3FileSystem(endpoint_override=s3_endpoint.removeprefix("http://"), scheme="http",
                           allow_bucket_creation=True, **keys)  # fmt: skip
    fs.create_dir(bucket)
    with pytest.raises(tl.WarehouseError) as caught:
        tl.warehouse.delta(f"s3://{bucket}-missing/lake", endpoint_url=s3_endpoint, create=False, **keys)
    findings.exception("no such lake: the exception", caught.value)
    with EchoServer() as echo:
        lake = tl.warehouse.delta(f"s3://{bucket}/lake", endpoint_url=s3_endpoint, **keys)
        with lake:
            source = rest_source("basic", echo.url + "/text/500,429,401")
            run_failing(findings, "a failing source", source, lake, tl.AuthError)
            search_warehouse(findings, lake, tmp_path)
    search_output(findings, capsys, caplog, json_logs)
    assert findings.places == {}, f"the canary leaked: {findings.places}"


# -- the Python side: specs hold Secrets, logs mask every wire form


def test_a_spec_holds_its_credentials_as_secrets() -> None:
    for kind in AUTH_KINDS:
        source = rest_source(kind, "http://127.0.0.1:9/json/401")
        (resource,) = source.resources
        auth = resource.spec["auth"]
        held = [v for v in auth.values() if isinstance(v, tl.monitor.Secret)]
        assert [s.reveal() for s in held] == [CANARY], auth
        assert leaks(repr(resource)) == []
        assert copy.deepcopy(resource.spec)["auth"] == auth
        with pytest.raises(TypeError, match="cannot be pickled"):
            pickle.dumps(resource)
    # The native engine gets the value itself.
    assert CANARY in tl.sources.native_json(rest_source("bearer", "http://127.0.0.1:9").resources[0].spec)


def test_a_secret_serializes_as_a_mask_through_pydantic() -> None:
    from pydantic import TypeAdapter

    secret = tl.monitor.Secret(CANARY)
    adapter = TypeAdapter(tl.monitor.Secret)
    assert adapter.dump_python(secret) == "***"
    assert adapter.dump_json(secret) == b'"***"'
    assert adapter.validate_python(CANARY) == secret
    nested = TypeAdapter(dict[str, Any]).dump_json({"auth": {"token": secret}}, fallback=str)
    assert leaks(nested.decode()) == []


def test_logs_mask_every_wire_form_of_a_registered_secret(json_logs: io.StringIO) -> None:
    register_secret(CANARY, username=CANARY_USER)
    forms = wire_forms(CANARY, CANARY_USER)
    # A fragment is what a copy cut short keeps: no redactor can know it, so nothing may cut before masking.
    line = " | ".join(f"{name}: {form}" for name, form in forms.items() if not name.endswith("fragment"))
    logging.getLogger("tillflow.sources").error("server said: %s", line)
    assert leaks(redact(line)) == []
    assert leaks(json_logs.getvalue()) == []
    assert redact(f"Authorization: Basic {forms['basic-base64']}") == "Authorization: Basic ***"


def test_logs_mask_a_short_secret_only_where_it_stands_as_a_credential() -> None:
    register_secret("wrong")
    text = (
        'something went wrong | Bearer wrong | token=wrong | "password": "wrong" | X-Api-Key: wrong '
        '| \\"token\\": \\"wrong\\" | wrongly | Bearer wrongly | xwrong | key=xwrong'
    )
    assert redact(text) == (
        'something went wrong | Bearer *** | token=*** | "password": "***" | X-Api-Key: *** '
        '| \\"token\\": \\"***\\" | wrongly | Bearer wrongly | xwrong | key=xwrong'
    )
    # Linear in the text: no pattern tries every word as a marker.
    long = "a." * 200_000 + " Bearer wrong"
    started = time.perf_counter()
    assert redact(long).endswith(" Bearer ***")
    assert time.perf_counter() - started < 1.0


def test_the_wire_forms_differ_for_the_canary() -> None:
    """The canary was picked so that no two encodings coincide: each form is searched for on its own."""
    forms = wire_forms(CANARY, CANARY_USER)
    distinct = {
        forms[name]
        for name in ("raw", "quote", "quote-keeping-slash", "quote-lowercase", "form-urlencoded",
                     "json-slash-escaped", "basic-base64", "basic-base64url", "basic-base64-unpadded")
    }  # fmt: skip
    assert len(distinct) == 9, forms
    assert all(leaks(form) for form in forms.values())
    assert leaks("nothing to see") == []


@pytest.mark.parametrize(
    ("value", "username"),
    [(CANARY, CANARY_USER), ("p@ss wörd \"q\" <&> 'x' *!()", "u"), ("short", None), ("a\\b\tc/é😀", None)],
)
def test_the_python_forms_cover_the_native_engines(value: str, username: str | None) -> None:
    """Logs mask what the native engine masks in errors, whichever computes the forms."""
    from tillflow import _native
    from tillflow._core.secrets import _python_forms, secret_forms

    native = set(_native.secret_forms(value, username))
    assert native <= set(_python_forms(value, username))
    assert set(secret_forms(value, username)) == native
    assert value in native
