"""What the secrets tests share: a canary credential, every form it takes on
the wire, a search for those forms in any text, and loopback HTTP servers
that echo what they were sent back in their error bodies.

The forms are computed here independently of tillflow's own redactor, so the
tests check the redactor rather than repeat it."""

from __future__ import annotations

import base64
import json
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# '/', '+', '=' and '~' make its encodings differ from each other (quote
# keeps '~', form encoding does not), and its Basic credentials differ
# between the two base64 alphabets ('+' against '-').
CANARY = "tfCanary/9Q+x=~k4"
CANARY_USER = "canary-user"
# What any cut-short copy of the canary still starts with.
CANARY_STEM = "tfCanary"


def _form_urlencoded(value: str) -> str:
    """application/x-www-form-urlencoded as browsers and Rust's ``url`` crate
    write it: only ``*-._`` and alphanumerics stay, a space becomes ``+``."""
    out = []
    for byte in value.encode():
        char = chr(byte)
        if char.isascii() and (char.isalnum() or char in "*-._"):
            out.append(char)
        elif char == " ":
            out.append("+")
        else:
            out.append(f"%{byte:02X}")
    return "".join(out)


def wire_forms(secret: str, username: str | None = None) -> dict[str, str]:
    """Every form ``secret`` takes on the wire, by name: as it is,
    percent-encoded (upper and lower case hex, with and without ``/`` kept),
    form-encoded, JSON-escaped (also with ``\\/``, as PHP writes it), and,
    with a ``username``, as HTTP Basic credentials in both base64 alphabets,
    with and without padding, and the start of those that a copy cut short
    keeps."""
    forms = {
        "raw": secret,
        "quote": urllib.parse.quote(secret, safe=""),
        "quote-keeping-slash": urllib.parse.quote(secret),
        "quote_plus": urllib.parse.quote_plus(secret, safe=""),
        "form-urlencoded": _form_urlencoded(secret),
        "json": json.dumps(secret)[1:-1],
        "json-unicode": json.dumps(secret, ensure_ascii=False)[1:-1],
        "json-slash-escaped": json.dumps(secret)[1:-1].replace("/", "\\/"),
    }
    forms["quote-lowercase"] = _lower_hex(forms["quote"])
    if username is not None:
        pair = f"{username}:{secret}".encode()
        standard = base64.b64encode(pair).decode()
        urlsafe = base64.urlsafe_b64encode(pair).decode()
        # What a copy cut short still holds: the user and the first six bytes of the secret.
        cut = 4 * ((len(username.encode()) + 1 + 6) // 3)
        forms.update(
            {
                "basic-base64": standard,
                "basic-base64-unpadded": standard.rstrip("="),
                "basic-base64url": urlsafe,
                "basic-base64url-unpadded": urlsafe.rstrip("="),
                "basic-base64-fragment": standard[:cut],
                "basic-base64url-fragment": urlsafe[:cut],
            }
        )
    return forms


def _lower_hex(text: str) -> str:
    parts = text.split("%")
    return parts[0] + "".join("%" + p[:2].lower() + p[2:] for p in parts[1:])


def leaks(text: str, secret: str = CANARY, username: str | None = CANARY_USER) -> list[str]:
    """The names of the forms of ``secret`` found in ``text``, sorted; a
    copy cut short (the canary's stem) counts as ``fragment``."""
    found = {name for name, form in wire_forms(secret, username).items() if form in text}
    if secret == CANARY and CANARY_STEM in text:
        found.add("fragment")
    return sorted(found)


@dataclass
class Findings:
    """Where a secret was found: place -> the forms found there."""

    secret: str = CANARY
    username: str | None = CANARY_USER
    places: dict[str, list[str]] = field(default_factory=dict)
    searched: list[str] = field(default_factory=list)

    def search(self, place: str, text: Any) -> None:
        self.searched.append(place)
        found = leaks(str(text), self.secret, self.username)
        if found:
            self.places[place] = found

    def exception(self, place: str, exc: BaseException) -> None:
        """An exception, its repr, its notes and every exception it was raised from or during."""
        seen: set[int] = set()
        depth = 0
        current: BaseException | None = exc
        while current is not None and id(current) not in seen:
            seen.add(id(current))
            name = place if depth == 0 else f"{place} <- {type(current).__name__}"
            self.search(f"{name} str", str(current))
            self.search(f"{name} repr", repr(current))
            self.search(f"{name} args", repr(current.args))
            self.search(f"{name} notes", "\n".join(getattr(current, "__notes__", [])))
            current = current.__cause__ or current.__context__
            depth += 1


# -- loopback HTTP servers


@dataclass
class Seen:
    """One request a server received."""

    method: str
    path: str
    headers: dict[str, str]

    @property
    def query(self) -> dict[str, list[str]]:
        return urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query, keep_blank_values=True)


# Request headers an echo puts back in its body (lower case).
_ECHOED = ("authorization", "x-api-key", "x-shopify-access-token", "cookie", "referer")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, owner: Any) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.owner = owner


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        owner = self.server.owner
        seen = Seen("GET", self.path, {k.lower(): v for k, v in self.headers.items()})
        with owner.lock:
            owner.requests.append(seen)
        status, headers, body = owner.answer(seen)
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Base:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[Seen] = []
        self.server = _Server(self)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class Landing(_Base):
    """The other origin a redirect points at: records what it is sent and
    answers with one record."""

    def answer(self, seen: Seen) -> tuple[int, list[tuple[str, str]], bytes]:
        body = b'[{"id": 1, "name": "landed"}]'
        if "/customers.json" in seen.path:  # Shopify's shape
            body = b'{"customers": [{"id": 1, "name": "landed"}]}'
        return 200, [("Content-Type", "application/json")], body


class EchoServer(_Base):
    """Answers according to the first two segments of the path:

    - ``/json/<statuses>/...`` and ``/text/<statuses>/...``: the statuses in
      turn (``500,429,401``; the last repeats), every error echoing the URL
      and the credential headers it was sent, as JSON with ``\\/``-escaped
      slashes (as PHP writes it) or as plain text; 429 says ``Retry-After: 0``;
    - ``/pad/<status>/...``: the plain text echo after enough filler that an
      engine keeping the first 300 bytes of an error body cuts the
      credential short, six characters before its end;
    - ``/words/<status>/...``: an error with the canary nowhere, in words
      that contain short credentials (``wrong``, ``key``);
    - ``/redirect/...``: 302 to the same path and query on ``landing``, a
      server on another port (another origin);
    - ``/ok/...``: one record.
    """

    def __init__(self, landing: Landing | None = None) -> None:
        self.landing = landing
        self.hits: dict[str, int] = {}
        super().__init__()

    def answer(self, seen: Seen) -> tuple[int, list[tuple[str, str]], bytes]:
        parts = urllib.parse.urlsplit(seen.path).path.strip("/").split("/")
        mode = parts[0]
        if mode == "ok":
            return 200, [("Content-Type", "application/json")], b'[{"id": 1}]'
        if mode == "redirect":
            assert self.landing is not None, "a redirecting echo server needs a landing server"
            rest = seen.path[len("/redirect") :]
            return 302, [("Location", self.landing.url + rest)], b""
        statuses = [int(s) for s in parts[1].split(",")]
        with self.lock:
            key = seen.path
            attempt = self.hits.get(key, 0)
            self.hits[key] = attempt + 1
        status = statuses[min(attempt, len(statuses) - 1)]
        headers = [("Retry-After", "0")] if status == 429 else []
        echoed = {name: seen.headers[name] for name in _ECHOED if name in seen.headers}
        if mode == "json":
            body = json.dumps({"error": "request refused", "url": seen.path, "headers": echoed})
            body = body.replace("/", "\\/")
            return status, [*headers, ("Content-Type", "application/json")], body.encode()
        if mode == "text":
            lines = [f"refused {seen.path}", *(f"{k}: {v}" for k, v in echoed.items())]
            return status, [*headers, ("Content-Type", "text/plain")], " | ".join(lines).encode()
        if mode == "pad":
            # The first 300 bytes end six characters before the end of the first echoed credential.
            credential = next(iter(echoed.values()), seen.path)
            filler = "x" * max(0, 300 - len("refused: ") - (len(credential) - 6))
            return status, [("Content-Type", "text/plain")], f"refused: {filler}{credential}".encode()
        if mode == "words":
            text = "something went wrong: the key you sent is not known here; token rejected"
            return status, [("Content-Type", "text/plain")], text.encode()
        return 404, [], b"no such mode"

    def sent(self, prefix: str) -> list[Seen]:
        with self.lock:
            return [r for r in self.requests if r.path.startswith(prefix)]
