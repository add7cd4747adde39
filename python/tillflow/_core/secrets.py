"""Secrets: values that never show in a repr, a log line or an error.

[Secret][tillflow.Secret] wraps a credential so it prints as ``***``;
[register_secret][tillflow.register_secret] adds a value (in each form it may take in a URL,
a header or a form body) to what [redact][tillflow.redact] masks; [redact][tillflow.redact] also
masks, registered or not, the password in a URL's userinfo and the value of
``token=``/``key=``-style query parameters; `mask_password` shows a
connection URL with only its password hidden.
"""

from __future__ import annotations

import base64
import html
import json
import re
import threading
import urllib.parse
from typing import Any

from tillflow import _native
from tillflow._core.errors import config_error

MASK = "***"
# Forms at least this long are masked wherever they appear; shorter ones only
# where they stand as a credential (``Bearer wrong``, ``token=wrong``), so a
# password like ``wrong`` never turns "went wrong" into "went ***". The same
# rule as the native redactor's.
_MIN_ANYWHERE = 8

_lock = threading.Lock()
_registered: set[tuple[str, str | None]] = set()
_anywhere: set[str] = set()
_positional: set[str] = set()
_secret_pattern: re.Pattern[str] | None = None
_positional_forms: tuple[str, ...] = ()

# scheme://user:password@host -> scheme://***@host
_USERINFO = re.compile(r"(?<=://)[^/\s?#@'\"]+@")
# ?token=abc, &api_key=abc, &routing_key=abc, &password=abc, &sig=abc -> ***
_QUERY_SECRET = re.compile(
    r"(?i)([?&;][\w.\-]*(?:token|key|secret|password|passwd|pwd|sig|signature|auth)=)[^&;#\s'\"]+"
)
# Words that make the value after them a credential (``Bearer wrong``,
# ``X-Api-Key: wrong``, ``"password": "wrong"``), as the native redactor has them.
_CREDENTIAL_WORDS = (
    "auth", "token", "key", "secret", "password", "passwd", "pwd", "cookie", "session", "signature",
    "credential", "bearer", "basic",
)  # fmt: skip
_SEPARATORS = re.compile(r"[\s\"':=\\]+$")
_LAST_WORD = re.compile(r"[\w.\-]+$")
# How far back from a short form its credential marker is looked for.
_MARKER_REACH = 80


def _is_token_char(char: str) -> bool:
    """A character that continues a token: a short secret next to one is part of a longer word."""
    return bool(char) and (char.isalnum() or char in "_-.~+/=%")


def _follows_credential_marker(before: str) -> bool:
    separators = _SEPARATORS.search(before)
    if separators is None:  # nothing separates the value from what precedes it
        return False
    word = _LAST_WORD.search(before[: separators.start()])
    if word is None:
        return False
    name = word.group(0).lower()
    return name == "sig" or any(w in name for w in _CREDENTIAL_WORDS)


def _mask_positional(text: str, form: str) -> str:
    """``text`` with the occurrences of ``form`` that stand as a whole token
    right after a credential marker masked; the others left as they are."""
    out: list[str] = []
    kept = search = 0
    while (at := text.find(form, search)) != -1:
        end = at + len(form)
        # Separators right before it (checked with the marker) and no token character right after.
        whole = not _is_token_char(text[end : end + 1])
        if whole and _follows_credential_marker(text[max(0, at - _MARKER_REACH) : at]):
            out += [text[kept:at], MASK]
            kept = search = end
        else:
            search = at + 1
    out.append(text[kept:])
    return "".join(out)


def secret_forms(value: str, username: str | None = None) -> list[str]:
    """Every form ``value`` takes on the wire and in text: as is,
    percent-encoded (form and path styles, upper- and lower-case hex),
    JSON-escaped (with and without ``\\/``), HTML-escaped and, with a
    ``username``, the base64 ``username:value`` of HTTP Basic in both
    alphabets, with and without padding. The native engine's list when it
    has one, so logs and errors mask the same forms."""
    native = getattr(_native, "secret_forms", None)
    if native is not None:
        return list(native(value, username))
    return _python_forms(value, username)


def _python_forms(value: str, username: str | None) -> list[str]:
    quoted = [
        urllib.parse.quote_plus(value, safe=""),
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote(value, safe="/"),
        urllib.parse.quote(value, safe="!*'()"),
    ]
    as_json = json.dumps(value, ensure_ascii=False)[1:-1]
    candidates = [
        value,
        _form_urlencoded(value),
        *(form for q in quoted for form in (_lower_hex(q), q)),
        as_json.replace("/", "\\/"),
        as_json,
        json.dumps(value)[1:-1],
        html.escape(value, quote=True),
    ]
    if username is not None:
        pair = f"{username}:{value}".encode()
        for encoded in (base64.b64encode(pair), base64.urlsafe_b64encode(pair)):
            text = encoded.decode()
            candidates += [text, text.rstrip("=")]
    return list(dict.fromkeys(f for f in candidates if f))


def _form_urlencoded(value: str) -> str:
    """``application/x-www-form-urlencoded``: only ``*-._`` and ASCII alphanumerics stay."""
    out = []
    for byte in value.encode():
        char = chr(byte)
        kept = char.isascii() and (char.isalnum() or char in "*-._")
        out.append(char if kept else "+" if char == " " else f"%{byte:02X}")
    return "".join(out)


def _lower_hex(encoded: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), encoded)


def register_secret(value: str | Secret | None, *, username: str | None = None) -> None:
    """Mask ``value`` wherever it would appear in a log line from now on (in the
    message, its arguments, ``extra=`` fields and tracebacks), in every form
    it takes on the wire (see `secret_forms`); with ``username``, also
    as the base64 HTTP Basic credentials ``username:value``. Forms shorter
    than eight characters are masked only where they stand as a credential.
    Empty values are ignored.

    Parameters
    ----------
    value
        The secret, as text or a [Secret][tillflow.Secret].
    username
        The user the secret is the password of, for HTTP Basic's form.
    """
    global _secret_pattern, _positional_forms
    if isinstance(value, Secret):
        value = value.reveal()
    if not value:
        return
    key = (value, username)
    if key in _registered:
        return
    forms = secret_forms(value, username)
    with _lock:
        _registered.add(key)
        for form in forms:
            (_anywhere if len(form) >= _MIN_ANYWHERE else _positional).add(form)
        # Longest first, so a secret that contains another is masked whole.
        if _anywhere:
            ordered = sorted(_anywhere, key=len, reverse=True)
            _secret_pattern = re.compile("|".join(re.escape(s) for s in ordered))
        _positional_forms = tuple(sorted(_positional, key=len, reverse=True))


def redact(text: str) -> str:
    """``text`` with every registered secret (in each of its forms), URL
    password and secret-looking query value replaced by ``***``.

    Parameters
    ----------
    text
        Any text (a message, a URL).

    Returns
    -------
    str
        The text, masked.
    """
    pattern = _secret_pattern
    if pattern is not None:
        text = pattern.sub(MASK, text)
    for form in _positional_forms:
        if form in text:
            text = _mask_positional(text, form)
    text = _USERINFO.sub(MASK + "@", text)
    return _QUERY_SECRET.sub(r"\1" + MASK, text)


class Secret:
    """A credential (API token, webhook URL, routing key, password) that shows
    as ``***`` in ``repr``/``str``, in pydantic's and so Prefect's
    serialization of parameters and results, and is registered with the log
    redactor (unless ``register=False``: a value whose secret parts are
    registered one by one); ``username`` registers HTTP Basic's base64 form
    too. ``reveal()`` gives the value to the code that must send it. It never
    pickles; copies share the one value.

    Parameters
    ----------
    value
        The credential.
    register
        Whether to register it with the log redactor.
    username
        The user it is the password of, to register HTTP Basic's form too.

    Raises
    ------
    ConfigError
        If ``value`` is not a string.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str, *, register: bool = True, username: str | None = None) -> None:
        if not isinstance(value, str):
            raise config_error(f"a secret must be a string, got {type(value).__name__}")
        self._value = value
        if register:
            register_secret(value, username=username)

    def reveal(self) -> str:
        """The credential itself, for the code that must send it.

        Returns
        -------
        str
            The value.
        """
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{MASK}')"

    def __str__(self) -> str:
        return MASK

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __reduce__(self) -> Any:
        # Pickling would write the value out in clear; channels are rebuilt from settings instead.
        raise TypeError("a Secret cannot be pickled")

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        """Validates a ``Secret`` (or wraps a string in one) and serializes as
        ``***`` in both Python and JSON mode: what Prefect stores of a flow
        run's parameters and a task's inputs shows no credential."""
        from pydantic_core import core_schema

        return core_schema.no_info_plain_validator_function(
            lambda value: value if isinstance(value, Secret) else cls(value),
            serialization=core_schema.plain_serializer_function_ser_schema(lambda _: MASK),
        )


def mask_password(url: str) -> str:
    """``url`` with the password of its userinfo shown as ``***`` and the user
    kept (``postgresql://app:***@db:5432/shop``), for messages that name a database."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    user, _, host = parts.netloc.rpartition("@")
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user.split(':', 1)[0]}:{MASK}@{host}"))
