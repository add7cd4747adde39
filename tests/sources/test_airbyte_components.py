"""Manifest components one by one, against a small API on loopback whose
answers each test controls: cursor pagination from the body and from the
Link header (RequestPath), offset paging, a list partition router, API keys
in a header and in the query, Bearer tokens, retries after 5xx with the
manifest's backoff, and responses the manifest's filter ignores."""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

import tillflow as tl
from tillflow.exceptions import HttpError

ITEMS = [
    {"id": i, "kind": "even" if i % 2 == 0 else "odd", "region": "eu" if i % 3 else "us"}
    for i in range(1, 24)
]


class Api:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, list[str]], dict[str, str]]] = []
        self.failures_left = 0
        # OAuth: a refresh token works once; each refresh hands out the next.
        self.refresh_token = "rt-0"
        self.access_token: str | None = None
        self.refreshes = 0


@pytest.fixture
def api() -> Iterator[tuple[str, Api]]:
    state = Api()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = urllib.parse.parse_qs(self.rfile.read(length).decode())
            if self.path != "/oauth/token" or form.get("refresh_token") != [state.refresh_token]:
                return self.reply(400, {"error": "invalid_grant"})
            state.refreshes += 1
            state.refresh_token = f"rt-{state.refreshes}"
            state.access_token = f"at-{state.refreshes}"
            body = {
                "access_token": state.access_token,
                "refresh_token": state.refresh_token,
                "expires_in": 3600,
            }
            return self.reply(200, body)

        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            q = urllib.parse.parse_qs(url.query)
            state.requests.append((url.path, q, {k.lower(): v for k, v in self.headers.items()}))
            if state.failures_left > 0:
                state.failures_left -= 1
                return self.reply(503, {"error": "busy"})
            if self.headers.get("X-Api-Key") not in (None, "k-123") or q.get("api_key", ["k-123"]) != [
                "k-123"
            ]:
                return self.reply(401, {"error": "bad key"})
            if url.path == "/cursor":  # {"data": [...], "meta": {"next": "..."}}
                after = int(q.get("after", ["0"])[0])
                page = [i for i in ITEMS if i["id"] > after][:5]
                nxt = str(page[-1]["id"]) if page and page[-1]["id"] < ITEMS[-1]["id"] else None
                return self.reply(200, {"data": page, "meta": {"next": nxt}})
            if url.path == "/linked":  # a Link header with the next page's full URL
                page_no = int(q.get("page", ["1"])[0])
                page = ITEMS[(page_no - 1) * 10 : page_no * 10]
                host = self.headers["Host"]
                links = (
                    {"Link": f'<http://{host}/linked?page={page_no + 1}>; rel="next"'} if page_no < 3 else {}
                )
                return self.reply(200, page, links)
            if url.path == "/offset":
                offset, limit = int(q.get("offset", ["0"])[0]), int(q.get("limit", ["10"])[0])
                return self.reply(200, {"items": ITEMS[offset : offset + limit]})
            if url.path.startswith("/secure/"):
                if self.headers.get("Authorization") != f"Bearer {state.access_token}":
                    return self.reply(401, {"error": "invalid_token"})
                if url.path == "/secure/regions":
                    return self.reply(200, [{"name": "eu"}, {"name": "us"}])
                region = url.path.rsplit("/", 1)[1]
                return self.reply(200, [i for i in ITEMS if i["region"] == region])
            if url.path.startswith("/regions/"):
                region = url.path.rsplit("/", 1)[1]
                if region == "mars":
                    return self.reply(404, {"error": "no such region"})
                return self.reply(200, [i for i in ITEMS if i["region"] == region])
            return self.reply(404, {"error": "no route"})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()


def manifest(
    stream: dict[str, Any], *, auth: dict[str, Any] | None = None, **requester: Any
) -> dict[str, Any]:
    req = {
        "type": "HttpRequester",
        "url_base": "https://api.example.com",
        "http_method": "GET",
        "authenticator": auth
        or {
            "type": "ApiKeyAuthenticator",
            "api_token": "{{ config.key }}",
            "inject_into": {"type": "RequestOption", "inject_into": "header", "field_name": "X-Api-Key"},
        },
        "error_handler": {
            "type": "DefaultErrorHandler",
            "max_retries": 3,
            "backoff_strategies": [{"type": "ConstantBackoffStrategy", "backoff_time_in_seconds": 0.01}],
        },
        **requester,
    }
    retriever = stream.pop("retriever")
    retriever.setdefault("type", "SimpleRetriever")
    retriever["requester"] = {**req, **retriever.get("requester", {})}
    return {
        "version": "6.0.0",
        "type": "DeclarativeSource",
        "streams": [{"type": "DeclarativeStream", "primary_key": "id", "retriever": retriever, **stream}],
    }


def load(url: str, m: dict[str, Any], warehouse: Any, **config: Any) -> dict[str, int]:
    src = tl.sources.airbyte_manifest(m, config={"key": "k-123", **config}, base_url_override=url)
    return tl.pipeline("t", src, warehouse).run().row_counts


def test_cursor_pagination_from_the_body(api, warehouse) -> None:
    url, state = api
    m = manifest(
        {
            "name": "items",
            "retriever": {
                "requester": {"path": "/cursor"},
                "record_selector": {
                    "type": "RecordSelector",
                    "extractor": {"type": "DpathExtractor", "field_path": ["data"]},
                },
                "paginator": {
                    "type": "DefaultPaginator",
                    "page_token_option": {
                        "type": "RequestOption",
                        "inject_into": "request_parameter",
                        "field_name": "after",
                    },
                    "pagination_strategy": {
                        "type": "CursorPagination",
                        "cursor_value": "{{ response.meta.next }}",
                        "stop_condition": "{{ response.meta.next is none }}",
                    },
                },
            },
        }
    )
    assert load(url, m, warehouse) == {"items": 23}
    assert [r[1].get("after") for r in state.requests] == [None, ["5"], ["10"], ["15"], ["20"]]
    assert all(r[2].get("x-api-key") == "k-123" for r in state.requests)


def test_request_path_follows_the_link_header(api, warehouse) -> None:
    url, state = api
    m = manifest(
        {
            "name": "items",
            "retriever": {
                "requester": {"path": "/linked"},
                "record_selector": {
                    "type": "RecordSelector",
                    "extractor": {"type": "DpathExtractor", "field_path": []},
                },
                "paginator": {
                    "type": "DefaultPaginator",
                    "page_token_option": {"type": "RequestPath"},
                    "pagination_strategy": {
                        "type": "CursorPagination",
                        "cursor_value": "{{ headers.link.next.url }}",
                        "stop_condition": "{{ 'next' not in headers.link }}",
                    },
                },
            },
        }
    )
    assert load(url, m, warehouse) == {"items": 23}
    assert [r[1].get("page") for r in state.requests] == [None, ["2"], ["3"]]


def test_offset_increment_with_a_page_size_option_and_a_query_api_key(api, warehouse) -> None:
    url, state = api
    auth = {
        "type": "ApiKeyAuthenticator",
        "api_token": "{{ config.key }}",
        "inject_into": {"type": "RequestOption", "inject_into": "request_parameter", "field_name": "api_key"},
    }
    m = manifest(
        {
            "name": "items",
            "retriever": {
                "requester": {"path": "/offset"},
                "record_selector": {
                    "type": "RecordSelector",
                    "extractor": {"type": "DpathExtractor", "field_path": ["items"]},
                    "record_filter": {"type": "RecordFilter", "condition": "{{ record.kind == 'odd' }}"},
                },
                "paginator": {
                    "type": "DefaultPaginator",
                    "page_size_option": {
                        "type": "RequestOption",
                        "inject_into": "request_parameter",
                        "field_name": "limit",
                    },
                    "page_token_option": {
                        "type": "RequestOption",
                        "inject_into": "request_parameter",
                        "field_name": "offset",
                    },
                    "pagination_strategy": {"type": "OffsetIncrement", "page_size": 10},
                },
            },
        },
        auth=auth,
    )
    assert load(url, m, warehouse) == {"items": 12}  # the odd ids of 1..23
    assert [(r[1].get("offset"), r[1]["limit"]) for r in state.requests] == [
        (None, ["10"]),
        (["10"], ["10"]),
        (["20"], ["10"]),
    ]
    assert all(r[1]["api_key"] == ["k-123"] for r in state.requests)


def test_list_partitions_and_ignored_responses(api, warehouse) -> None:
    url, _ = api
    m = manifest(
        {
            "name": "items",
            "retriever": {
                "requester": {
                    "path": "/regions/{{ stream_partition.region }}",
                    "error_handler": {
                        "type": "DefaultErrorHandler",
                        "response_filters": [
                            {"type": "HttpResponseFilter", "action": "IGNORE", "http_codes": [404]}
                        ],
                    },
                },
                "record_selector": {
                    "type": "RecordSelector",
                    "extractor": {"type": "DpathExtractor", "field_path": []},
                },
                "partition_router": {
                    "type": "ListPartitionRouter",
                    "cursor_field": "region",
                    "values": "{{ config.regions }}",
                },
            },
            "transformations": [
                {
                    "type": "AddFields",
                    "fields": [
                        {
                            "type": "AddedFieldDefinition",
                            "path": ["from_region"],
                            "value": "{{ stream_partition.region }}",
                        }
                    ],
                }
            ],
        }
    )
    counts = load(url, m, warehouse, regions=["eu", "us", "mars"])
    assert counts == {"items": 23}
    got = warehouse.query("SELECT from_region, count(*) FROM items GROUP BY 1 ORDER BY 1").rows()
    assert got == [
        ("eu", sum(1 for i in ITEMS if i["region"] == "eu")),
        ("us", sum(1 for i in ITEMS if i["region"] == "us")),
    ]


def test_server_errors_are_retried_with_the_manifests_backoff(api, warehouse) -> None:
    url, state = api
    state.failures_left = 2
    m = manifest(
        {
            "name": "items",
            "retriever": {
                "requester": {"path": "/regions/eu"},
                "record_selector": {
                    "type": "RecordSelector",
                    "extractor": {"type": "DpathExtractor", "field_path": []},
                },
            },
        }
    )
    assert load(url, m, warehouse) == {"items": sum(1 for i in ITEMS if i["region"] == "eu")}
    assert len(state.requests) == 3
    state.failures_left = 10
    with pytest.raises(HttpError, match=r"HTTP 503.*after 4 attempts"):
        load(url, m, warehouse)


def test_bearer_tokens_and_wrong_keys(api, warehouse) -> None:
    url, state = api
    m = manifest(
        {
            "name": "items",
            "retriever": {
                "requester": {"path": "/regions/us"},
                "record_selector": {
                    "type": "RecordSelector",
                    "extractor": {"type": "DpathExtractor", "field_path": []},
                },
            },
        },
        auth={"type": "BearerAuthenticator", "api_token": "{{ config.key }}"},
    )
    load(url, m, warehouse)
    assert state.requests[-1][2]["authorization"] == "Bearer k-123"


def test_a_stream_and_its_parent_share_one_rotating_oauth_token(api, warehouse) -> None:
    url, state = api
    auth = {
        "type": "OAuthAuthenticator",
        "token_refresh_endpoint": "https://auth.example.com/oauth/token",
        "client_id": "app",
        "client_secret": "s3cret-client",
        "refresh_token": "{{ config.credentials.refresh_token }}",
        "refresh_token_updater": {},
    }
    regions = {
        "type": "DeclarativeStream",
        "name": "regions",
        "retriever": {
            "type": "SimpleRetriever",
            "requester": {
                "type": "HttpRequester",
                "url_base": "https://api.example.com",
                "path": "/secure/regions",
                "authenticator": auth,
            },
            "record_selector": {
                "type": "RecordSelector",
                "extractor": {"type": "DpathExtractor", "field_path": []},
            },
        },
    }
    m = manifest(
        {
            "name": "items",
            "retriever": {
                "requester": {"path": "/secure/items/{{ stream_partition.region }}"},
                "record_selector": {
                    "type": "RecordSelector",
                    "extractor": {"type": "DpathExtractor", "field_path": []},
                },
                "partition_router": {
                    "type": "SubstreamPartitionRouter",
                    "parent_stream_configs": [
                        {
                            "type": "ParentStreamConfig",
                            "stream": regions,
                            "parent_key": "name",
                            "partition_field": "region",
                        }
                    ],
                },
            },
        },
        auth=auth,
    )
    updates: list[dict[str, Any]] = []
    config = {"credentials": {"refresh_token": "rt-0"}}
    src = tl.sources.airbyte_manifest(
        m, config=config, base_url_override=url, on_config_update=updates.append
    )
    assert tl.pipeline("t", src, warehouse).run().row_counts == {"items": 23}
    assert state.refreshes == 1
    assert updates[-1]["credentials"]["refresh_token"] == "rt-1"
    # The next run starts from the rotated token the source kept.
    assert tl.pipeline("t", src, warehouse).run().row_counts == {"items": 23}
    assert state.refreshes == 2
