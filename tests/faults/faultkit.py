"""What the fault matrix shares: loopback HTTP servers that inject faults (a
paged JSON API and a forwarding proxy, for the demo shop or moto's S3), the
records they serve and the rows a warehouse must then hold, hooks that fail
or kill a run at a chosen point, and the checks every scenario ends with.

A fault is chosen per request by a plan (``server.faults``): a callable that
sees the request and returns a :class:`Fault` or None. Faults act on the
wire: a status instead of the answer, a stall, a connection reset part way
through the body, a 200 cut short with a matching Content-Length, or a body
that trickles out slower than the client's timeout.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.utils
import http.client
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

import tillflow as tl

# Retries that give a fault storm room to pass without slowing the suite.
PATIENT_RETRY = {"max_attempts": 6, "initial_backoff_secs": 0.01, "max_backoff_secs": 0.05,
                 "max_retry_after_secs": 0.05}  # fmt: skip
BASE_TIME = dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc)


# -- what a server answers


@dataclasses.dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    #: 1 for the server's first request, and so on.
    number: int


@dataclasses.dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    @classmethod
    def json(cls, value: Any, status: int = 200, headers: Iterable[tuple[str, str]] = ()) -> Response:
        body = json.dumps(value).encode()
        return cls(status, [("Content-Type", "application/json"), *headers], body)


class Fault:
    """What a server does instead of answering plainly."""

    name = "fault"

    def serve(self, handler: _Handler, answer: Callable[[], Response]) -> None:
        raise NotImplementedError


@dataclasses.dataclass
class Status(Fault):
    """This status (429, 5xx) with these headers, the request not passed on."""

    code: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    @property
    def name(self) -> str:  # type: ignore[override]
        return str(self.code)

    def serve(self, handler: _Handler, answer: Callable[[], Response]) -> None:
        handler.send(Response(self.code, list(self.headers), self.body))


def too_many(retry_after: str | None = None) -> Status:
    headers = (("Retry-After", retry_after),) if retry_after is not None else ()
    return Status(429, headers, b'{"errors": "Exceeded 2 calls per second for api client"}')


def retry_after_date(seconds_ahead: float) -> str:
    """An HTTP-date ``seconds_ahead`` from now (RFC 9110 section 10.2.3)."""
    return email.utils.formatdate(time.time() + seconds_ahead, usegmt=True)


def slow_down() -> Status:
    """S3's answer when a client should back off (a retryable 503)."""
    body = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
            b"<Message>Please reduce your request rate.</Message></Error>")  # fmt: skip
    return Status(503, (("Content-Type", "application/xml"),), body)


def internal_error() -> Status:
    body = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code>'
            b"<Message>We encountered an internal error. Please try again.</Message></Error>")  # fmt: skip
    return Status(500, (("Content-Type", "application/xml"),), body)


@dataclasses.dataclass
class Stall(Fault):
    """Say nothing for ``seconds`` (longer than the client waits), then hang up."""

    seconds: float
    name = "stall"

    def serve(self, handler: _Handler, answer: Callable[[], Response]) -> None:
        handler.server.wait(self.seconds)
        handler.reset()


@dataclasses.dataclass
class Reset(Fault):
    """The answer's headers and the first ``fraction`` of its body, then a TCP reset."""

    fraction: float = 0.5
    name = "reset"

    def serve(self, handler: _Handler, answer: Callable[[], Response]) -> None:
        response = answer()
        handler.send_head(response.status, response.headers, len(response.body))
        handler.wfile.write(response.body[: int(len(response.body) * self.fraction)])
        handler.wfile.flush()
        handler.reset()


@dataclasses.dataclass
class Truncate(Fault):
    """A 200 whose body is cut after ``fraction`` of it, with a Content-Length
    that matches the cut body: the transfer looks complete, the JSON is not."""

    fraction: float = 0.5
    name = "truncate"

    def serve(self, handler: _Handler, answer: Callable[[], Response]) -> None:
        response = answer()
        handler.send(
            dataclasses.replace(response, body=response.body[: int(len(response.body) * self.fraction)])
        )


@dataclasses.dataclass
class Trickle(Fault):
    """The answer, its body a few bytes at a time with ``delay`` between them
    (slow-loris): the whole takes longer than the client's timeout."""

    delay: float
    chunk: int = 32
    name = "trickle"

    def serve(self, handler: _Handler, answer: Callable[[], Response]) -> None:
        response = answer()
        handler.send_head(response.status, response.headers, len(response.body))
        for i in range(0, len(response.body), self.chunk):
            if handler.server.wait(self.delay):
                break
            try:
                handler.wfile.write(response.body[i : i + self.chunk])
                handler.wfile.flush()
            except OSError:  # the client gave up, as it should
                break
        handler.reset()


@dataclasses.dataclass
class Hangup(Fault):
    """Close the connection without a word (a crashed or restarting server)."""

    name = "hangup"

    def serve(self, handler: _Handler, answer: Callable[[], Response]) -> None:
        handler.reset()


Plan = Callable[[Request], "Fault | None"]


def no_faults(request: Request) -> Fault | None:
    return None


class Schedule:
    """A plan of faults per kind of request: ``Schedule({"page=3": [Reset(), Reset()]})``
    answers the first two requests whose query has ``page=3`` with a reset,
    later ones plainly. A key is ``"*"`` (every request), ``"name=value"``
    (a query parameter, exactly) or ``"/path"`` (a path prefix), optionally
    after a method (``"PUT /bucket"``)."""

    def __init__(self, faults: dict[str, list[Fault]]) -> None:
        self.pending = {k: list(v) for k, v in faults.items()}
        self.lock = threading.Lock()

    @staticmethod
    def matches(key: str, request: Request) -> bool:
        method, _, rest = key.partition(" ")
        if rest and method.isupper():
            if request.method != method:
                return False
            key = rest
        if key == "*":
            return True
        if key.startswith("/"):
            return request.path.startswith(key)
        name, _, value = key.partition("=")
        return request.query.get(name) == value

    def __call__(self, request: Request) -> Fault | None:
        with self.lock:
            for key, queue in self.pending.items():
                if queue and self.matches(key, request):
                    return queue.pop(0)
        return None

    @property
    def left(self) -> int:
        return sum(len(q) for q in self.pending.values())


class FirstAttempts:
    """A plan that answers the first request for each of the first
    ``len(faults)`` distinct URLs (among those ``only`` accepts) with the
    next fault, and every later request plainly: each request is retried at
    most once, whatever the concurrency."""

    def __init__(self, faults: list[Fault], *, only: Callable[[Request], bool] | None = None) -> None:
        self.pending = list(faults)
        self.only = only
        self.seen: set[str] = set()
        self.lock = threading.Lock()

    def __call__(self, request: Request) -> Fault | None:
        if self.only is not None and not self.only(request):
            return None
        target = (
            request.method + " " + request.path + "?" + urllib.parse.urlencode(sorted(request.query.items()))
        )
        with self.lock:
            if target in self.seen or not self.pending:
                return None
            self.seen.add(target)
            return self.pending.pop(0)

    @property
    def left(self) -> int:
        return len(self.pending)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: LoopbackServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = self._read_chunked()
        else:
            body = self.rfile.read(length) if length else b""
        parts = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
        request = self.server.record(self.command, parts.path, query, dict(self.headers.items()), body)
        fault = self.server.faults(request)
        self.server.log.append((request, fault.name if fault else None))

        def answer() -> Response:
            return self.server.app(request)

        try:
            if fault is None:
                self.send(answer())
            else:
                fault.serve(self, answer)
        except OSError:
            self.close_connection = True

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _serve

    def _read_chunked(self) -> bytes:
        out = bytearray()
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return bytes(out)
            out += self.rfile.read(size)
            self.rfile.readline()

    def send_head(self, status: int, headers: list[tuple[str, str]], length: int) -> None:
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(length))
        self.end_headers()

    def send(self, response: Response) -> None:
        length = len(response.body)
        if self.command == "HEAD":  # no body: the length is the one a GET would have
            given = [v for k, v in response.headers if k.lower() == "content-length"]
            length = int(given[0]) if given else 0
        self.send_head(response.status, response.headers, length)
        if self.command != "HEAD":
            self.wfile.write(response.body)
        self.wfile.flush()

    def reset(self) -> None:
        """Drop the connection with a TCP reset, as a crashed peer does."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class LoopbackServer(ThreadingHTTPServer):
    """An HTTP/1.1 server on 127.0.0.1 that answers with ``app`` unless the
    plan ``faults`` picks a fault. ``restart()`` stops it (dropping open
    connections) and starts it again on the same port."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, app: Callable[[Request], Response], faults: Plan = no_faults, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.app = app
        self.faults = faults
        self.log: list[tuple[Request, str | None]] = []
        self.errors: list[BaseException] = []
        self._count = 0
        self._count_lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def record(self, method: str, path: str, query: dict[str, str], headers: dict[str, str],
               body: bytes) -> Request:  # fmt: skip
        with self._count_lock:
            self._count += 1
            return Request(method, path, query, headers, body, self._count)

    def faults_served(self, name: str | None = None) -> int:
        return sum(1 for _, fault in self.log if fault is not None and (name is None or fault == name))

    def wait(self, seconds: float) -> bool:
        """Sleeps up to ``seconds``; True when the server is stopping."""
        return self._stopping.wait(seconds)

    def process_request(self, request: Any, client_address: Any) -> None:
        self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        error = sys.exc_info()[1]
        if error is not None and not isinstance(error, OSError):
            self.errors.append(error)

    def start(self) -> LoopbackServer:
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stops listening and drops every open connection."""
        self._stopping.set()
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
            self._thread = None
        for conn in list(self._connections):
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.socket.close()

    def restart(self, until: Callable[[], object]) -> None:
        """Stops, stays down (connections are refused) until ``until()`` is
        true, then listens on the same port again."""
        port = self.port
        self.stop()
        while not until():
            time.sleep(0.01)
        self.socket = socket.socket(self.address_family, self.socket_type)
        self.server_address = ("127.0.0.1", port)
        self.server_bind()
        self.server_activate()
        self.start()

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.server_close()
        close = getattr(self.app, "close", None)
        if close is not None:
            close()
        assert not self.errors, f"the test server itself failed: {self.errors!r}"


# -- a paged JSON API


def make_records(n: int, *, start: int = 1) -> list[dict[str, Any]]:
    """``n`` records with a nested list (a child table), ids from ``start``,
    ``updated_at`` one second apart in id order."""
    return [
        {
            "id": i,
            "name": f"item {i} ✓",
            "qty": i * 3 % 17,
            "price": f"{i}.{i % 100:02d}",
            "updated_at": _stamp(BASE_TIME + dt.timedelta(seconds=i)),
            "tags": [f"t{i % 3}", f"t{i % 5}"][: 1 + i % 2],
        }
        for i in range(start, start + n)
    ]


def _stamp(at: dt.datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


class PagedApi:
    """``GET /items``: the records sorted by ``(updated_at, id)``, from
    ``updated_since`` (inclusive) when given, one page per request.

    Paging (``paginator``): ``page`` (``?page=N&per_page=K``), ``offset``
    (``?offset=&limit=``), ``cursor`` (``?cursor=`` and ``next_cursor`` in
    the body) or ``link`` (a ``Link: rel="next"`` header with an opaque
    ``page_info``). Pathologies on demand: ``cursor_back`` (page ``a``
    names page ``b < a`` as next), ``repeat_page`` (page ``k`` is served
    again as the next page before ``k + 1``)."""

    def __init__(
        self, records: list[dict[str, Any]], *, page_size: int = 10, paginator: str = "page"
    ) -> None:
        self.records = records
        self.page_size = page_size
        self.paginator = paginator
        self.cursor_back: tuple[int, int] | None = None
        self.repeat_page: int | None = None
        self.lock = threading.Lock()
        self.base_url = ""

    def spec(self) -> dict[str, Any]:
        """The spec's paginator for this API."""
        return {
            "page": {"type": "page_number", "param": "page", "start": 1, "page_size": self.page_size,
                     "page_size_param": "per_page"},
            "offset": {"type": "offset", "limit": self.page_size},
            "cursor": {"type": "cursor", "param": "cursor", "cursor_path": "next_cursor"},
            "link": {"type": "link_header"},
        }[self.paginator]  # fmt: skip

    def update(self, record_id: int, **fields: Any) -> None:
        """Changes a record now; its ``updated_at`` moves past every other record's."""
        with self.lock:
            latest = max(
                dt.datetime.fromisoformat(r["updated_at"].replace("Z", "+00:00")) for r in self.records
            )
            for r in self.records:
                if r["id"] == record_id:
                    r.update(fields)
                    if "updated_at" not in fields:
                        r["updated_at"] = _stamp(latest + dt.timedelta(seconds=1))

    def snapshot(self) -> list[dict[str, Any]]:
        with self.lock:
            return json.loads(json.dumps(self.records))

    def _selected(self, since: str | None) -> list[dict[str, Any]]:
        with self.lock:
            rows = sorted(self.records, key=lambda r: (r["updated_at"], r["id"]))
            if since:
                rows = [r for r in rows if _instant(r["updated_at"]) >= _instant(since)]
            return json.loads(json.dumps(rows))

    def __call__(self, request: Request) -> Response:
        if request.path != "/items":
            return Response.json({"errors": "Not Found"}, status=404)
        q = request.query
        rows = self._selected(q.get("updated_since"))
        size = int(q.get("per_page") or q.get("limit") or self.page_size)
        if self.paginator in ("page", "offset"):
            first = (
                (int(q.get("page", 1)) - 1) * size if self.paginator == "page" else int(q.get("offset", 0))
            )
            return Response.json({"items": rows[first : first + size]})
        token = q.get("cursor") if self.paginator == "cursor" else q.get("page_info")
        page = int(token[1:]) if token else 1
        shown = page
        if self.repeat_page is not None and page == self.repeat_page + 1 and token and token.startswith("r"):
            shown = self.repeat_page  # the repeated copy of page k, served under k+1's token
        items = rows[(shown - 1) * size : shown * size]
        next_page: int | None = page + 1 if shown * size < len(rows) else None
        next_token = f"p{next_page}" if next_page else None
        if self.repeat_page is not None and page == self.repeat_page and not (token or "").startswith("r"):
            next_token = f"r{page + 1}"
        elif token and token.startswith("r"):
            next_token = f"p{page}"
        if self.cursor_back is not None and page == self.cursor_back[0]:
            next_token = f"p{self.cursor_back[1]}"
        if self.paginator == "cursor":
            return Response.json({"items": items, "next_cursor": next_token})
        headers = []
        if next_token:
            extra = {k: v for k, v in q.items() if k not in ("page_info",)}
            link = f"{self.base_url}/items?{urllib.parse.urlencode({**extra, 'page_info': next_token})}"
            headers.append(("Link", f'<{link}>; rel="next"'))
        return Response.json({"items": items}, headers=headers)


def _instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


@contextmanager
def paged_api(records: list[dict[str, Any]], *, faults: Plan = no_faults, **options: Any) -> Iterator[
        tuple[PagedApi, LoopbackServer]]:  # fmt: skip
    api = PagedApi(records, **options)
    with LoopbackServer(api, faults) as server:
        api.base_url = server.url
        yield api, server


def rest_spec(api: PagedApi, server: LoopbackServer, *, retry: dict[str, Any] | None = None,
              timeout: float = 5.0, incremental: dict[str, Any] | None = None, concurrency: int = 2,
              write_mode: str = "append", **spec: Any) -> dict[str, Any]:  # fmt: skip
    """A spec for the paged API, one page per batch: every page is a commit
    a resumed run must walk past. Append by default, where nothing hides a
    duplicate."""
    from support import FAST_RETRY

    resource: dict[str, Any] = {
        "name": "items", "base_url": server.url, "path": "items", "records": "items",
        "primary_key": "id", "paginator": api.spec(), "retry": retry or FAST_RETRY,
        "timeout_secs": timeout, "batch_size": api.page_size, "concurrency": concurrency,
        "params": {"limit": api.page_size} if api.paginator in ("cursor", "link") else {},
        **spec,
    }  # fmt: skip
    if incremental is not None:
        resource["cursor_field"] = "updated_at"
        resource["incremental"] = {"param": "updated_since", **incremental}
    resource["write_mode"] = write_mode
    return resource


def rest_source(api: PagedApi, server: LoopbackServer, **options: Any) -> tl.sources.Source:
    """``tl.sources.rest`` over the paged API (see :func:`rest_spec`)."""
    return tl.sources.rest(rest_spec(api, server, **options))


# -- a forwarding proxy (the demo shop, moto's S3)


class Proxy:
    """Passes each request on to ``upstream`` (``http://host:port``) and
    returns its answer; faults chosen by the server's plan replace or mangle it."""

    def __init__(self, upstream: str) -> None:
        parts = urllib.parse.urlsplit(upstream)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.local = threading.local()
        self.opened: list[http.client.HTTPConnection] = []

    def __call__(self, request: Request) -> Response:
        target = request.path + (("?" + urllib.parse.urlencode(request.query)) if request.query else "")
        hop = ("connection", "transfer-encoding", "content-length", "expect")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in hop}
        for attempt in range(2):  # a pooled connection the upstream closed is opened again
            conn = getattr(self.local, "conn", None)
            if conn is None:
                conn = self.local.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
                self.opened.append(conn)
            try:
                conn.request(request.method, target, body=request.body or None, headers=headers)
                reply = conn.getresponse()
                body = reply.read()
                break
            except (http.client.HTTPException, OSError):
                conn.close()
                self.local.conn = None
                if attempt:
                    raise
        return Response(reply.status, list(reply.getheaders()), body)

    def close(self) -> None:
        for conn in self.opened:
            conn.close()


@contextmanager
def proxy(upstream: str, faults: Plan = no_faults, port: int = 0) -> Iterator[LoopbackServer]:
    with LoopbackServer(Proxy(upstream), faults, port=port) as server:
        yield server


# -- warehouses


@pytest.fixture(params=["duckdb", "postgres"])
def each_warehouse(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Any]:
    """A DuckDB file, then a PostgreSQL schema of its own (never the schema a
    PostgreSQL source's tables live in), dropped afterwards."""
    if request.param == "duckdb":
        with tl.warehouse.duckdb(str(tmp_path / "wh.duckdb")) as wh:
            yield wh
        return
    from support.services import drop_schema

    url = request.getfixturevalue("postgres_url")
    schema = f"tf_wh_{uuid.uuid4().hex[:10]}"
    try:
        with tl.warehouse.postgres(url, schema=schema) as wh:
            yield wh
    finally:
        drop_schema(url, schema)


# -- hooks into a run


def after_batches(wh: Any, k: int, action: Callable[[], None]) -> list[int]:
    """Calls ``action`` once the warehouse's ``k``-th batch is committed;
    returns the list of batch numbers written, filled as the run goes."""
    written: list[int] = []
    write = wh.write_batch

    def write_batch(*args: Any, **kwargs: Any) -> Any:
        out = write(*args, **kwargs)
        written.append(len(written) + 1)
        if len(written) == k:
            action()
        return out

    wh.write_batch = write_batch
    return written


def starved(written: list[int], quiet: float = 0.3) -> Callable[[], bool]:
    """A test that turns true once no batch was written for ``quiet``
    seconds: the engine has used up the pages it read ahead and is now
    asking a server that is down."""
    seen = [len(written), time.monotonic()]

    def check() -> bool:
        if len(written) != seen[0]:
            seen[:] = [len(written), time.monotonic()]
        return time.monotonic() - seen[1] > quiet

    return check


# -- a loader in a process of its own


# A pipeline run in a child process, to be killed or starved. The config
# (JSON, argv[1]) names the warehouse, the source and, optionally, where to
# stop: "point" is a method to hook, the call to stop at and whether before
# or after it runs, and the signal the process then sends itself (without
# one, PostgreSQL terminates the warehouse's session instead). "fsize"
# caps the size of any file it writes (RLIMIT_FSIZE: a full disk, as the
# writer sees it). A run that raises prints "error <class>: <message>" and
# exits 3; one stopped by a signal it handles exits with the exit code the
# exception carries (128 + the signal), as a script that runs pipelines would.
LOADER = r"""
import json, os, resource, signal, sys
import tillflow as tl

cfg = json.loads(sys.argv[1])
if cfg.get("fsize"):
    resource.setrlimit(resource.RLIMIT_FSIZE, (cfg["fsize"], cfg["fsize"]))
w, s = cfg["warehouse"], cfg["source"]
if w["kind"] == "duckdb":
    wh = tl.warehouse.duckdb(w["path"])
elif w["kind"] == "postgres":
    wh = tl.warehouse.postgres(w["url"], schema=w["schema"])
else:
    wh = tl.warehouse.delta(w["path"], **w.get("options", {}))
if s["kind"] == "rest":
    source = tl.sources.rest(s["spec"])
elif s["kind"] == "files":
    source = tl.sources.files(s["path"], **s["options"])
else:
    source = tl.sources.sql_database(s["url"], **s["options"])

point = cfg.get("point")
if point:
    owner = type(wh)
    original = getattr(owner, point["method"])
    calls = [0]
    def stop():
        print("stopping at", point["method"], calls[0], flush=True)
        if point.get("signal"):
            os.kill(os.getpid(), getattr(signal, "SIG" + point["signal"]))
        else:  # the server drops the warehouse's session, as a restart does
            import psycopg
            with psycopg.connect(w["url"], autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", [wh.connection.info.backend_pid])
    def hooked(*args, **kwargs):
        calls[0] += 1
        here = calls[0] == point["call"]
        if here and not point["after"]:
            stop()
        out = original(*args, **kwargs)
        if here and point["after"]:
            stop()
        return out
    setattr(owner, point["method"], hooked)
try:
    tl.pipeline(cfg["pipeline"], source, wh).run(write_mode=cfg.get("write_mode"))
except BaseException as exc:
    code = getattr(exc, "exit_code", None)
    if isinstance(code, int):
        print("stopped", code, flush=True)
        sys.exit(code)
    if isinstance(exc, Exception):
        print(f"error {type(exc).__name__}: {exc}", flush=True)
        sys.exit(3)
    raise
finally:
    try:
        wh.close()
    except Exception:
        pass
print("done", flush=True)
"""


def run_loader(cfg: dict[str, Any], *, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Runs the loader in a child process; its exit code and output."""
    try:
        return subprocess.run(
            [sys.executable, "-c", LOADER, json.dumps(cfg)], capture_output=True, text=True, timeout=timeout,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the loader ran past {timeout} s; its output:\n{exc.stdout!r}\n{exc.stderr!r}")


# -- what a warehouse must hold


def expected_rows(records: Iterable[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """(id, name, qty, tag count) of each record, by id."""
    return sorted((r["id"], r["name"], r["qty"], len(r["tags"])) for r in records)


def warehouse_rows(wh: Any, table: str = "items") -> list[tuple[Any, ...]]:
    """The same shape read back: every root row with the count of its child rows."""
    if table not in wh.tables():
        return []
    children = f"{table}__tags"
    if children in wh.tables():
        frame = wh.query(
            f'SELECT t.id, t.name, t.qty, (SELECT count(*) FROM "{children}" c '
            f'WHERE c._tf_parent_id = t._tf_id) AS tags FROM "{table}" t ORDER BY t.id'
        )
    else:
        frame = wh.query(f'SELECT id, name, qty, 0 AS tags FROM "{table}" ORDER BY id')
    return [(int(i), n, int(q), int(c)) for i, n, q, c in frame.rows()]


def assert_exact(wh: Any, records: Iterable[dict[str, Any]], table: str = "items") -> None:
    """The warehouse holds each record exactly once, with its values and
    its child rows: nothing lost, nothing duplicated."""
    want = expected_rows(records)
    got = warehouse_rows(wh, table)
    ids = [r[0] for r in got]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    assert not dupes, f"{len(got) - len(set(ids))} duplicated rows in {table}, ids {dupes[:10]}"
    missing = sorted({r[0] for r in want} - set(ids))
    assert not missing, f"{len(missing)} rows lost from {table}, ids {missing[:10]}"
    assert got == want
    children = f"{table}__tags"
    if children in wh.tables():
        orphans = wh.query(
            f'SELECT count(*) FROM "{children}" c WHERE NOT EXISTS '
            f'(SELECT 1 FROM "{table}" t WHERE t._tf_id = c._tf_parent_id)'
        ).item()
        assert orphans == 0, f"{orphans} child rows of {table} without their parent"


def load_statuses(wh: Any) -> list[str]:
    return [str(s) for s in wh.loads()["status"].to_list()]


def run_statuses(wh: Any, pipeline: str) -> list[str]:
    return [str(s) for s in tl.monitor.runs(wh, pipeline)["status"].to_list()]


def assert_names(error: BaseException, *needles: str) -> None:
    """The error the user sees names what failed (the URL, table or file)."""
    text = str(error)
    for needle in needles:
        assert needle in text, f"{type(error).__name__} does not name {needle!r}: {text}"


def run_pipeline(name: str, source: Any, wh: Any, **kwargs: Any) -> Any:
    return tl.pipeline(name, source, wh).run(**kwargs)


def fails(exc_type: type[BaseException], fn: Callable[[], Any]) -> BaseException:
    with pytest.raises(exc_type) as info:
        fn()
    return info.value
