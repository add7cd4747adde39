"""OAuth2 refresh tokens that rotate: the new token survives a run, the next
run, and a SIGKILL between the refresh and the first request that uses it.

The token endpoint and the API run on 127.0.0.1 in this process; each run is
a separate Python process, as a scheduled job is."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

import tillflow as tl

CLIENT = ("qbo-client", "qbo-secret-do-not-log")


class RotatingServer:
    """Rotates refresh tokens the way Intuit and Xero document it: each
    refresh returns a new refresh token and revokes the one it was given.
    Access tokens live ``expires_in`` seconds. ``hold`` makes the API hang
    on its next request (so a test can kill the client mid-run)."""

    def __init__(self, expires_in: int = 2) -> None:
        self.valid = "rt-0"
        self.access = ""
        self.expires_in = expires_in
        self.refreshes: list[str] = []
        self.api_calls = 0
        self.hold = threading.Event()
        self.holding = threading.Event()
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client was killed while it waited

            def do_POST(self) -> None:  # the token endpoint
                form = parse_qs(self.rfile.read(int(self.headers["content-length"])).decode())
                token = form.get("refresh_token", [""])[0]
                outer.refreshes.append(token)
                if token != outer.valid:
                    return self.reply(400, {"error": "invalid_grant"})
                n = int(token.split("-")[1]) + 1
                outer.valid, outer.access = f"rt-{n}", f"access-token-{n}"
                self.reply(
                    200,
                    {
                        "token_type": "bearer",
                        "access_token": outer.access,
                        "expires_in": outer.expires_in,
                        "refresh_token": outer.valid,
                        "x_refresh_token_expires_in": 8726400,
                    },
                )

            def do_GET(self) -> None:  # the API
                outer.api_calls += 1
                if outer.hold.is_set():
                    outer.holding.set()
                    outer.release.wait(30)
                if self.headers.get("authorization") != f"Bearer {outer.access}":
                    return self.reply(401, {"fault": {"error": [{"message": "AuthenticationFailed"}]}})
                self.reply(200, {"items": [{"id": 1}, {"id": 2}]})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def rotating() -> Iterator[RotatingServer]:
    s = RotatingServer()
    yield s
    s.close()


def spec(server: RotatingServer, store: Path) -> dict[str, Any]:
    return {
        "name": "items",
        "base_url": server.url,
        "path": "items",
        "records": "items",
        "auth": {
            "type": "oauth2_refresh_token",
            "token_url": f"{server.url}/token",
            "client_id": CLIENT[0],
            "client_secret": CLIENT[1],
            "refresh_token": "rt-0",
            "token_store": str(store),
        },
        "retry": {"max_attempts": 1},
    }


RUN = """
import json, sys
import tillflow as tl
source = tl.sources.rest(json.loads(sys.argv[1]))
rows = sum(b["records"] for b in source["items"].open())
print(rows)
"""


def until_the_access_token_expires(store: Path) -> None:
    """Waits out the kept access token, so the next run must refresh."""
    expires = json.loads(store.read_text())["expires_at"]
    time.sleep(max(0.0, expires + 1 - time.time()))


def run(server: RotatingServer, store: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", RUN, json.dumps(spec(server, store))],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_a_rotated_token_is_kept_for_the_next_run(rotating: RotatingServer, tmp_path: Path) -> None:
    store = tmp_path / "tokens" / "qbo.json"
    first = run(rotating, store)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "2"
    assert json.loads(store.read_text())["refresh_token"] == "rt-1"
    until_the_access_token_expires(store)
    second = run(rotating, store)
    assert second.returncode == 0, second.stderr
    # The second run refreshed with the rotated token, not the configured one.
    assert rotating.refreshes == ["rt-0", "rt-1"]
    assert json.loads(store.read_text())["refresh_token"] == "rt-2"
    assert oct(store.stat().st_mode & 0o777) == "0o600"
    assert CLIENT[1] not in store.read_text()


def test_a_sigkill_between_refresh_and_use_loses_nothing(rotating: RotatingServer, tmp_path: Path) -> None:
    store = tmp_path / "qbo.json"
    rotating.hold.set()
    child = subprocess.Popen(
        [sys.executable, "-c", RUN, json.dumps(spec(rotating, store))],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        # The refresh has happened and its access token is on its way to the API.
        assert rotating.holding.wait(30), "the run never reached the API"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        if child.poll() is None:
            child.kill()
        child.communicate(timeout=10)
    assert child.returncode == -signal.SIGKILL
    assert rotating.refreshes == ["rt-0"]
    # The vendor revoked rt-0 when it issued rt-1; rt-1 was on disk before it was used.
    assert json.loads(store.read_text())["refresh_token"] == "rt-1"
    rotating.hold.clear()
    rotating.release.set()
    until_the_access_token_expires(store)
    again = run(rotating, store)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "2"
    assert rotating.refreshes == ["rt-0", "rt-1"]


def test_a_revoked_refresh_token_is_an_auth_error_that_says_what_to_do(
    rotating: RotatingServer, tmp_path: Path
) -> None:
    rotating.valid = "rt-7"  # rt-0 was used elsewhere and revoked
    source = tl.sources.rest(spec(rotating, tmp_path / "t.json"))
    with pytest.raises(tl.AuthError) as err:
        list(source["items"].open())
    text = str(err.value)
    assert "invalid_grant" in text and "authorize the app again" in text
    assert "rt-0" not in text and CLIENT[1] not in text


def test_a_new_configured_token_takes_over_from_the_stored_one(
    rotating: RotatingServer, tmp_path: Path
) -> None:
    store = tmp_path / "t.json"
    assert run(rotating, store).returncode == 0
    until_the_access_token_expires(store)
    # The user authorizes the app again and configures the fresh token.
    rotating.valid = "rt-40"
    s = spec(rotating, store)
    s["auth"]["refresh_token"] = "rt-40"
    done = subprocess.run(
        [sys.executable, "-c", RUN, json.dumps(s)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert rotating.refreshes[-1] == "rt-40"
    assert json.loads(store.read_text())["refresh_token"] == "rt-41"


def test_credentials_stay_out_of_reprs(rotating: RotatingServer, tmp_path: Path) -> None:
    source = tl.sources.rest(spec(rotating, tmp_path / "t.json"))
    shown = repr(source["items"])
    assert CLIENT[1] not in shown and "rt-0" not in shown
