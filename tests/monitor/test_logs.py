"""JSON log lines and secret redaction."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from tillflow._core.logs import RedactingFilter
from tillflow.exceptions import ConfigError
from tillflow.monitor import Secret, configure_logging, redact, register_secret


@pytest.fixture(autouse=True)
def restore_tillflow_logger() -> Iterator[None]:
    log = logging.getLogger("tillflow")
    handlers, level = list(log.handlers), log.level
    yield
    for handler in [h for h in log.handlers if h not in handlers]:
        log.removeHandler(handler)
    log.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_one_json_object_per_line_with_extra_fields() -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    log = logging.getLogger("tillflow.pipeline")
    before = dt.datetime.now(dt.timezone.utc)
    log.info("loaded %d rows into %s", 480, "orders", extra={"pipeline": "shop", "rows": 480})
    log.debug("below the level, not written")
    log.warning("slow page", extra={"page": {"number": 3, "seconds": 2.5}})

    first, second = lines(stream)
    assert set(first) == {"timestamp", "level", "logger", "message", "pipeline", "rows"}
    assert first["level"] == "INFO"
    assert first["logger"] == "tillflow.pipeline"
    assert first["message"] == "loaded 480 rows into orders"
    assert (first["pipeline"], first["rows"]) == ("shop", 480)
    stamp = dt.datetime.fromisoformat(first["timestamp"])
    assert stamp.utcoffset() == dt.timedelta(0)
    assert before - dt.timedelta(seconds=1) <= stamp <= dt.datetime.now(dt.timezone.utc)
    assert second == {
        "timestamp": second["timestamp"],
        "level": "WARNING",
        "logger": "tillflow.pipeline",
        "message": "slow page",
        "page": {"number": 3, "seconds": 2.5},
    }


def test_exceptions_are_one_line_too() -> None:
    stream = io.StringIO()
    configure_logging(stream=stream)
    try:
        raise ValueError("bad page")
    except ValueError:
        logging.getLogger("tillflow").exception("page failed")
    [line] = lines(stream)
    assert line["message"] == "page failed"
    assert line["level"] == "ERROR"
    assert line["exc_info"].startswith("Traceback (most recent call last):")
    assert line["exc_info"].endswith("ValueError: bad page")


def test_configuring_twice_keeps_one_handler() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging("INFO", stream=first)
    handler = configure_logging("WARNING", stream=second)
    log = logging.getLogger("tillflow")
    ours = [h for h in log.handlers if type(h).__name__ == "_TillflowHandler"]
    assert ours == [handler]
    assert log.level == logging.WARNING
    logging.getLogger("tillflow.x").warning("once")
    assert first.getvalue() == ""
    assert [line["message"] for line in lines(second)] == ["once"]


def test_plain_text_when_json_is_off() -> None:
    stream = io.StringIO()
    configure_logging(logging.DEBUG, json=False, stream=stream)
    logging.getLogger("tillflow.x").debug("hello %s", "there")
    text = stream.getvalue()
    assert text.endswith(" DEBUG tillflow.x: hello there\n")
    dt.datetime.strptime(text[:23], "%Y-%m-%d %H:%M:%S,%f")


@pytest.mark.parametrize("level", ["LOUD", "", True, 2.5])
def test_a_bad_level_is_a_config_error(level: Any) -> None:
    with pytest.raises(ConfigError, match=r"^invalid config: level must be a logging level name"):
        configure_logging(level)


def test_registered_secrets_are_masked_in_message_args_extras_and_tracebacks() -> None:
    secret = "reg1steredSECRET"
    register_secret(secret)
    stream = io.StringIO()
    configure_logging("DEBUG", stream=stream)
    log = logging.getLogger("tillflow.sources")
    log.info("token is " + secret)
    log.info("calling %s with %r", f"https://api.example/{secret}", {"key": secret})
    log.info("extras", extra={"auth": secret, "nested": {"list": [1, f"x{secret}y"]}, "count": 3})
    try:
        raise RuntimeError(f"refused {secret}")
    except RuntimeError:
        log.exception("failed")

    out = stream.getvalue()
    assert secret not in out
    first, second, third, fourth = lines(stream)
    assert first["message"] == "token is ***"
    assert second["message"] == "calling https://api.example/*** with {'key': '***'}"
    assert (third["auth"], third["nested"], third["count"]) == ("***", {"list": [1, "x***y"]}, 3)
    assert fourth["exc_info"].endswith("RuntimeError: refused ***")


def test_records_from_tillflow_alerts_reach_other_handlers_masked(caplog: pytest.LogCaptureFixture) -> None:
    import tillflow.monitor.alerts._alerter  # noqa: F401  (attaches the filter to its logger)

    secret = "capl0gSECRETvalue"
    register_secret(secret)
    caplog.set_level(logging.INFO, logger="tillflow.alerts")
    logging.getLogger("tillflow.alerts").info("sending to %s", secret, extra={"target": secret})
    assert caplog.records[-1].getMessage() == "sending to ***"
    assert caplog.records[-1].target == "***"  # type: ignore[attr-defined]
    assert secret not in caplog.text


def test_urls_lose_their_userinfo_and_secret_query_values() -> None:
    assert redact("GET https://user:pa55word@shop.example/a?token=abc123&page=2&api_key=k9&sig=zz") == (
        "GET https://***@shop.example/a?token=***&page=2&api_key=***&sig=***"
    )
    assert redact("postgresql://app:hunter22@db:5432/shop") == "postgresql://***@db:5432/shop"
    assert redact("no secrets here: key points, 3 rows") == "no secrets here: key points, 3 rows"


def test_percent_encoded_secrets_are_masked() -> None:
    register_secret("p@ss/word with space")
    assert redact("u=p%40ss%2Fword%20with%20space&v=p%40ss%2Fword+with+space") == "u=***&v=***"


def test_longer_secret_is_masked_whole_even_if_it_contains_a_shorter_one() -> None:
    register_secret("innerSECRET")
    register_secret("outer-innerSECRET-tail")
    assert redact("[outer-innerSECRET-tail] [innerSECRET]") == "[***] [***]"


def test_very_short_values_are_not_registered() -> None:
    register_secret("abc")
    register_secret("")
    register_secret(None)
    assert redact("abc") == "abc"


def test_secret_hides_its_value() -> None:
    secret = Secret("wrapp3dSECRETvalue")
    assert repr(secret) == "Secret('***')"
    assert str(secret) == "***"
    assert f"{secret}" == "***"
    assert secret.reveal() == "wrapp3dSECRETvalue"
    assert secret == Secret("wrapp3dSECRETvalue")
    assert redact("x wrapp3dSECRETvalue y") == "x *** y"
    with pytest.raises(TypeError, match="cannot be pickled"):
        import pickle

        pickle.dumps(secret)
    with pytest.raises(ConfigError, match="a secret must be a string, got int"):
        Secret(123)  # type: ignore[arg-type]


def test_the_filter_keeps_records_and_leaves_clean_ones_untouched() -> None:
    record = logging.LogRecord("tillflow", logging.INFO, __file__, 1, "rows: %d", (12,), None)
    assert RedactingFilter().filter(record) is True
    assert (record.msg, record.args) == ("rows: %d", (12,))
