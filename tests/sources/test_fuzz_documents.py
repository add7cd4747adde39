"""Fuzzing the settings files tillflow reads (REST specs, rules, alert
channels) with Hypothesis: arbitrary text and bytes, and near-valid
documents in YAML, TOML and JSON. The only acceptable outcomes are success
or a ``TillflowError`` whose message names the file; never ``KeyError``,
``TypeError``, ``AttributeError``, ``RecursionError`` or the like.

CI runs a few hundred examples per test. A long run by hand:
``TILLFLOW_FUZZ_EXAMPLES=20000 pytest tests/sources/test_fuzz_documents.py -p no:randomly``
(counts are recorded in docs/fuzzing.md)."""

from __future__ import annotations

import itertools
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
import tomli_w
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tillflow as tl
from tillflow.exceptions import TillflowError
from tillflow.monitor import alerter_from_config
from tillflow.rules import RuleSet

EXAMPLES = int(os.environ.get("TILLFLOW_FUZZ_EXAMPLES", "200"))

fuzz = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=EXAMPLES <= 1000,  # CI: the same examples every run
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

SUFFIXES = [".yaml", ".yml", ".toml", ".json"]
_names = itertools.count()
_dir = Path(tempfile.mkdtemp(prefix="tillflow-fuzz-docs-"))


def _load_rest(path: Path) -> Any:
    return tl.sources.rest(path)


def _load_rules(path: Path) -> Any:
    return RuleSet.from_file(path)


def _load_alerts(path: Path) -> Any:
    return alerter_from_config(path)


LOADERS = {"rest": _load_rest, "rules": _load_rules, "alerts": _load_alerts}


def _write(suffix: str, content: str | bytes) -> Path:
    path = _dir / f"doc{next(_names)}{suffix}"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", errors="surrogatepass")
    return path


def check(kind: str, path: Path) -> None:
    """``path`` loads, or fails with a TillflowError that names it."""
    try:
        LOADERS[kind](path)
    except TillflowError as exc:
        assert str(path) in str(exc), f"{type(exc).__name__} does not name the file: {exc}"
    finally:
        path.unlink(missing_ok=True)


# ---------------------------------------------------------------- values

KEYS = {
    "rest": """name base_url path params headers paginator auth records primary_key cursor_field
        incremental windows concurrency retry timeout_secs batch_size normalize resources defaults
        type token rel limit write_mode schema_contract rules lookback start count""".split(),
    "rules": """rules key sample_size not_null unique between matches is_in min max column columns
        pattern values severity tolerance name row_count freshness max_age schema expression sql
        relationships to compare where""".split(),
    "alerts": """channels dedup_window retries backoff max_wait type webhook_url webhook_url_env
        min_severity host port sender to username password_env starttls url routing_key slack email
        webhook pagerduty headers timeout""".split(),
}

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(
        [
            "",
            "0",
            "1h",
            "30m",
            "-1",
            "1e400",
            "${NOPE}",
            "https://x.example",
            "warning",
            "critical",
            "link_header",
            "bearer",
            "slack",
            "email",
            "append",
            "merge",
            "2024-01-01",
            "\x00",
            "é",
            "a.b",
        ]
    ),
)


def documents(kind: str) -> st.SearchStrategy[Any]:
    keys = st.one_of(st.sampled_from(KEYS[kind]), st.text(max_size=8))
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.dictionaries(keys, inner, max_size=5),
        ),
        max_leaves=25,
    )


def _tomlable(v: Any) -> Any:
    """TOML has no null and wants string keys and a table at the top."""
    if isinstance(v, dict):
        return {str(k): _tomlable(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [_tomlable(x) for x in v if x is not None]
    return v


def dump(suffix: str, data: Any) -> str:
    if suffix == ".toml":
        data = _tomlable(data)
        if not isinstance(data, dict):
            data = {"value": data}
        try:
            return tomli_w.dumps(data)
        except (TypeError, ValueError):  # a mixed array TOML 1.0 cannot write
            return tomli_w.dumps({"value": str(data)})
    if suffix == ".json":
        return json.dumps(data)
    return yaml.safe_dump(data, allow_unicode=True)


VALID = {
    "rest": {
        "name": "shop",
        "defaults": {"base_url": "https://shop.example/api", "auth": {"type": "bearer", "token": "t0ken"}},
        "resources": [
            {
                "name": "orders",
                "path": "orders.json",
                "primary_key": "id",
                "paginator": {"type": "link_header"},
                "records": "orders",
            },
        ],
    },
    "rules": {
        "key": ["id"],
        "rules": [
            {"not_null": ["id", "email"], "tolerance": 0.01},
            {"between": "total", "min": 0, "max": 10000, "severity": "warn"},
            {"matches": "email", "pattern": "^[^@]+@[^@]+$"},
            {"freshness": "created_at", "max_age": "2d"},
        ],
    },
    "alerts": {
        "dedup_window": "1h",
        "retries": 2,
        "channels": [{"type": "webhook", "url": "http://127.0.0.1:9/hook", "min_severity": "warning"}],
    },
}


def mutate(doc: Any, path: list[Any], value: Any) -> Any:
    """``doc`` with the node at ``path`` (as far as it leads) replaced."""
    if not path:
        return value
    head, *rest = path
    if isinstance(doc, dict) and doc:
        key = list(doc)[head % len(doc)]
        return {**doc, key: mutate(doc[key], rest, value)}
    if isinstance(doc, list) and doc:
        i = head % len(doc)
        return [*doc[:i], mutate(doc[i], rest, value), *doc[i + 1 :]]
    return value


# ---------------------------------------------------------------- tests

KINDS = sorted(LOADERS)


@fuzz
@given(kind=st.sampled_from(KINDS), suffix=st.sampled_from(SUFFIXES), text=st.text(max_size=300))
def test_any_text(kind, suffix, text):
    check(kind, _write(suffix, text))


@fuzz
@given(kind=st.sampled_from(KINDS), suffix=st.sampled_from(SUFFIXES), data=st.binary(max_size=300))
def test_any_bytes(kind, suffix, data):
    check(kind, _write(suffix, data))


DOCUMENTS = {kind: documents(kind) for kind in KINDS}


@fuzz
@given(
    kind_doc=st.sampled_from(KINDS).flatmap(lambda k: st.tuples(st.just(k), DOCUMENTS[k])),
    suffix=st.sampled_from(SUFFIXES),
)
def test_structured_documents(kind_doc, suffix):
    kind, doc = kind_doc
    check(kind, _write(suffix, dump(suffix, doc)))


@fuzz
@given(
    kind=st.sampled_from(KINDS),
    suffix=st.sampled_from(SUFFIXES),
    path=st.lists(st.integers(min_value=0, max_value=7), max_size=5),
    value=st.one_of(
        scalars, st.lists(scalars, max_size=3), st.dictionaries(st.text(max_size=6), scalars, max_size=3)
    ),
)
def test_near_valid_documents(kind, suffix, path, value):
    check(kind, _write(suffix, dump(suffix, mutate(VALID[kind], path, value))))


SYNTAX = ["", "\n", "\t", ":", "- ", "[", "]", "{", "}", '"', "'", "=", "#", "&a", "*a", "\x00", "\ufeff"]
SYNTAX += ["\r\n", "!!python/object:os.system"]


@fuzz
@given(
    kind=st.sampled_from(KINDS),
    suffix=st.sampled_from(SUFFIXES),
    cut=st.integers(min_value=0, max_value=400),
    insert=st.sampled_from(SYNTAX),
)
def test_valid_documents_cut_and_spliced(kind, suffix, cut, insert):
    text = dump(suffix, VALID[kind])
    cut = min(cut, len(text))
    check(kind, _write(suffix, text[:cut] + insert + text[cut:]))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_deep_nesting(kind, suffix):
    deep = "[" * 5000 + "]" * 5000 if suffix == ".json" else "- " * 3000 + "x"
    check(kind, _write(suffix, deep))
    check(kind, _write(suffix, json.dumps({"resources": [{"a": json.loads("[" * 400 + "]" * 400)}]})))


def test_valid_documents_load():
    for kind in KINDS:
        for suffix in SUFFIXES:
            path = _write(suffix, dump(suffix, VALID[kind]))
            LOADERS[kind](path)
            path.unlink()


def teardown_module() -> None:
    for p in _dir.iterdir():
        p.unlink()
    _dir.rmdir()


# Each was found by these tests and fixed; kept as plain examples.
FOUND = [
    ("rest", ".toml", ""),  # no name: the error did not name the file
    ("rest", ".yaml", "name: shop\ndefaults:\nresources:\n  - {name: a, base_url: 'https://e.com'}\n"),
    ("rest", ".yaml", "name: a\nbase_url: https://e.com\nrules: [null]\n"),
    ("rest", ".yaml", 'name: a\nbase_url: https://e.com\nrules: "\\0"\n'),  # a rules path with NUL
    ("rules", ".yaml", "key: true\nrules: []\n"),
    ("rules", ".yaml", "rules:\n  - compare: ''\n"),
    ("rules", ".yaml", "rules:\n  - compare:\n"),
    ("rules", ".yaml", "rules:\n  - unique: 5\n"),
    (
        "alerts",
        ".yaml",
        "dedup_window: 86400000000000\nchannels: [{type: webhook, url: 'http://127.0.0.1:9/'}]\n",
    ),
    (
        "alerts",
        ".json",
        '{"dedup_window": 1e999, "channels": [{"type": "webhook", "url": "http://127.0.0.1:9/"}]}',
    ),
    ("alerts", ".yaml", "retries:\nchannels: [{type: webhook, url: 'http://127.0.0.1:9/'}]\n"),
    ("alerts", ".yaml", "1: x\nchannels: [{type: webhook, url: 'http://127.0.0.1:9/', 2: y}]\n"),
    ("alerts", ".yaml", "channels: [{type: webhook, url: 'ftp://x'}]\n"),
]


@pytest.mark.parametrize(("kind", "suffix", "text"), FOUND)
def test_found_by_fuzzing(kind, suffix, text):
    path = _write(suffix, text)
    with pytest.raises(TillflowError) as caught:
        LOADERS[kind](path)
    assert str(path) in str(caught.value)
